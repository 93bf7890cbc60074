"""The command line: bad options and unreadable inputs give exit status 2 and one
clear line on stderr, never a traceback."""

import contextlib
import io
import random
import subprocess
import sys
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image
from sklearn.exceptions import ConvergenceWarning

from sparseae import SparseAutoencoder, save
from sparseae.cli import main

from ..conftest import examples
from .test_files import MUTATIONS, corrupt, overwrite


def run(argv):
    """Exit status and stderr of the command, run in this process."""
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        status = main([str(a) for a in argv])
    return status, err.getvalue()


def assert_one_clear_line(status, err, *patterns):
    assert status == 2, err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    for pattern in patterns:
        assert pattern in err, err


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    X = np.random.default_rng(0).uniform(size=(30, 16))
    model = SparseAutoencoder(4, max_iter=20, tol=1e-3, random_state=0).fit(X)
    return save(model, tmp_path_factory.mktemp("model") / "model.safetensors")


TRAIN = ["train", "digits", "-o", "OUT", "--quiet", "--max-iter", "1"]

BAD_OPTIONS = [
    (
        ["--bogus"],
        "sparseae train: error: unrecognized arguments: --bogus "
        "(see 'sparseae train --help')",
    ),
    (["--n-components", "abc"], "argument --n-components: invalid int value: 'abc'"),
    (["--n-components", "0"], "--n-components must be an int in the range [1, inf)"),
    (["--sparsity-target", "1.5"], "--sparsity-target must be a float in"),
    (["--sparsity-weight", "-1"], "--sparsity-weight must be a float"),
    (["--weight-decay", "nan"], "--weight-decay must be a float"),
    (["--batch-size", "0"], "--batch-size must be an int"),
    (["--batch-size", "x"], "argument --batch-size: must be an integer or 'auto'"),
    (["--learning-rate", "fast"], "argument --learning-rate: must be a number or"),
    (["--learning-rate", "0"], "--learning-rate must be a float"),
    (["--checkpoint-every", "0"], "argument --checkpoint-every: must be a number > 0"),
    (
        ["--seed", "-1"],
        "argument --seed: must be an integer >= 0 and <= 4294967295, got -1",
    ),
    (["--patches", "0"], "argument --patches: must be an integer >= 1, got 0"),
    (["--image-shape", "0", "4"], "argument --image-shape: must be an integer >= 1"),
    (["--solver", "newton"], "--solver must be a str among"),
    (["--dtype", "float16"], "--dtype must be"),
    (["--resume"], "--resume: no checkpoint.safetensors or model.safetensors in"),
]


@pytest.mark.parametrize(("extra", "pattern"), BAD_OPTIONS)
def test_bad_train_options(tmp_path, extra, pattern):
    argv = [str(tmp_path / "run") if a == "OUT" else a for a in TRAIN] + extra
    assert_one_clear_line(*run(argv), "error: ", pattern)


@pytest.mark.parametrize(
    ("argv", "pattern"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["trian"], "invalid choice: 'trian'"),
        (["train", "digits"], "the following arguments are required: -o/--output"),
        (["encode", "m.safetensors"], "required: INPUT, -o/--output"),
        (["show", "m.safetensors", "--channels", "2"], "invalid choice: 2"),
        (["gradcheck", "--samples", "0"], "--samples must be >= 1, got 0"),
    ],
)
def test_bad_commands(argv, pattern):
    assert_one_clear_line(*run(argv), pattern)


def test_an_output_folder_that_is_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    argv = ["train", "digits", "-o", blocker, "--quiet", "--max-iter", "1"]
    assert_one_clear_line(*run(argv), "File exists")


def write_npy(path, array):
    np.save(path, array, allow_pickle=False)
    return path


def bad_inputs(folder):
    """(file or folder, what the error line must say)."""
    X = np.random.default_rng(0).uniform(size=(10, 16))
    nan = X.copy()
    nan[3, 4] = np.nan
    (folder / "empty.npy").write_bytes(b"")
    (folder / "noise.npy").write_bytes(random.Random(0).randbytes(300))
    (folder / "notzip.npz").write_bytes(b"PK\x03\x04 not really a zip")
    (folder / "text.csv").write_text("a,b,c\n1,2,x\n")
    (folder / "binary.csv").write_bytes(bytes(range(256)))
    (folder / "ragged.csv").write_text("0.1,0.2\n0.3\n")
    (folder / "header.csv").write_text("a,b\n")
    (folder / "data.txt").write_text("0.1")
    np.savez(folder / "two.npz", a=X, b=X)
    images = folder / "images"
    images.mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(images / "a.png")
    (images / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (folder / "no-images").mkdir()
    return [
        (folder / "absent.npy", "is neither 'patches', 'digits', nor an existing"),
        (folder / "empty.npy", "cannot read"),
        (folder / "noise.npy", "cannot read"),
        (folder / "notzip.npz", "as a .npz archive: BadZipFile"),
        (folder / "text.csv", "text.csv line 2, column 3: 'x' is not a number"),
        (folder / "binary.csv", "binary.csv line 5, column 1: "),
        (folder / "ragged.csv", "ragged.csv line 2 has 1 values but line 1 has 2"),
        (folder / "header.csv", "must hold a non-empty 2-D array"),
        (folder / "data.txt", "has suffix '.txt'"),
        (folder / "two.npz", "holds arrays ['a', 'b']; name the data 'X'"),
        (images, "b.png as an image"),
        (folder / "no-images", "has no images"),
        (write_npy(folder / "text.npy", np.array([["a"]])), "values of type <U1"),
        (write_npy(folder / "complex.npy", X + 1j), "values of type complex128"),
        (write_npy(folder / "flat.npy", X[0]), "non-empty 2-D array"),
        (write_npy(folder / "none.npy", X[:0]), "non-empty 2-D array"),
        (write_npy(folder / "nan.npy", nan), "X contains 1 non-finite values"),
    ]


@pytest.mark.parametrize("command", ["train", "encode"])
def test_unreadable_or_unsuitable_inputs(tmp_path, model_file, command):
    for source, pattern in bad_inputs(tmp_path):
        if command == "train":
            argv = ["train", source, "-o", tmp_path / "run", "--quiet"]
        else:
            argv = ["encode", model_file, source, "-o", tmp_path / "codes.npy"]
        assert_one_clear_line(*run(argv), f"sparseae {command}: error: ", pattern)
        if pattern.startswith("cannot read") or " as " in pattern:
            assert str(source) in run(argv)[1]


@pytest.mark.parametrize("command", ["train", "encode"])
def test_data_outside_0_1_trains_with_one_warning_line(tmp_path, model_file, command):
    wide = write_npy(
        tmp_path / "wide.npy", 2 * np.random.default_rng(0).random((10, 16))
    )
    if command == "train":
        argv = ["train", wide, "-o", tmp_path / "run", "--quiet", "--max-iter", "3"]
    else:
        argv = ["encode", model_file, wide, "-o", tmp_path / "codes.npy"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        status, err = run(argv)
    assert status == 0, err
    ranges = [line for line in err.splitlines() if "X has values in" in line]
    if command == "encode":
        assert not ranges  # encoding takes any finite values
    else:
        assert len(ranges) == 1 and "MinMaxScaler" in ranges[0], err


@pytest.mark.parametrize("command", ["show", "encode"])
def test_damaged_model_files(tmp_path, model_file, command):
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(model_file.read_bytes()[:-10])
    argv = [command, damaged] + (
        ["digits", "-o", tmp_path / "c.npy"] if command == "encode" else []
    )
    assert_one_clear_line(*run(argv), f"{damaged} is truncated or damaged")


def test_the_installed_command_prints_no_traceback(tmp_path):
    """Through ``python -m``, as a shell would run it."""
    bad = write_npy(tmp_path / "bad.npy", np.full((3, 4), np.nan))
    result = subprocess.run(
        [sys.executable, "-m", "sparseae.cli", "train", bad, "-o", tmp_path / "r"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_one_clear_line(result.returncode, result.stderr, "non-finite values")


# ------------------------------------------------------------------- fuzz ---


@pytest.fixture(scope="module")
def valid_inputs(tmp_path_factory):
    """The bytes of a valid file of each kind, 6 samples of 16 features."""
    folder = tmp_path_factory.mktemp("valid")
    X = np.random.default_rng(1).uniform(size=(6, 16))
    np.savez(folder / "x.npz", X=X)
    np.savetxt(folder / "x.csv", X, delimiter=",")
    buffer = io.BytesIO()
    Image.fromarray((X[0].reshape(4, 4) * 255).astype(np.uint8)).save(buffer, "PNG")
    return {
        "npy": write_npy(folder / "x.npy", X).read_bytes(),
        "npz": (folder / "x.npz").read_bytes(),
        "csv": (folder / "x.csv").read_bytes(),
        "png": buffer.getvalue(),
    }


@settings(
    max_examples=examples(600),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    kind=st.sampled_from(["npy", "npz", "csv", "png"]),
    mutation=st.sampled_from(MUTATIONS),
    position=st.integers(0, 2**20),
    length=st.integers(1, 16),
    seed=st.integers(0, 2**32 - 1),
)
def test_fuzzed_input_files_give_codes_or_one_clear_line(
    tmp_path, model_file, valid_inputs, kind, mutation, position, length, seed
):
    damaged = corrupt(valid_inputs[kind], mutation, position, length, seed)
    if kind == "png":
        source = tmp_path / "images"
        source.mkdir(exist_ok=True)
        overwrite(source / "0.png", damaged)
    else:
        source = overwrite(tmp_path / f"fuzzed.{kind}", damaged)
    codes = tmp_path / "codes.npy"
    # The examples share tmp_path: each may replace the codes of the last.
    status, err = run(["encode", model_file, source, "-o", codes, "--overwrite"])
    event(f"{kind}: {'encoded' if status == 0 else 'refused'}")
    if status == 0:
        assert np.isfinite(np.load(codes)).all()
    else:
        assert_one_clear_line(status, err, "sparseae encode: error: ")


def test_zip_bomb_like_npz_is_refused_cleanly(tmp_path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("X.npy", b"\x93NUMPY" + bytes(50))
    assert_one_clear_line(*run(["train", path, "-o", tmp_path / "r"]), "cannot read")
