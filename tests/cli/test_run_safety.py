"""What the commands write: runs, codes and pictures are never lost by mistake.

``--overwrite`` replaces a run only with a finished one; outputs that exist are
refused unless told; ``-o`` and the options are checked before any work, each
with one line naming the option, the value and what is valid.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sparseae.cli import main
from sparseae.cli.runs import STAGING

from .test_train_encode_show import interrupt_at

LBFGS = ["--n-components", "5", "--tol", "0", "--quiet"]
TINY_STACK = [
    "--pretrain-max-iter",
    "2",
    "--softmax-max-iter",
    "2",
    "--fine-tune-max-iter",
    "2",
]


def snapshot(folder: Path) -> dict:
    """Every entry of ``folder`` (hidden ones too) with its bytes."""
    return {p.name: p.read_bytes() if p.is_file() else None for p in folder.iterdir()}


def one_line(capsys, *patterns) -> str:
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for pattern in patterns:
        assert pattern in err, err
    return err


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.random.default_rng(0).uniform(size=(200, 64)))
    return path


@pytest.fixture
def old_run(tmp_path, capsys):
    """A finished two-iteration run on digits, with its filters.png."""
    out = tmp_path / "ow"
    assert main(["train", "digits", *LBFGS, "--max-iter", "2", "-o", str(out)]) == 0
    capsys.readouterr()
    return out


# ------------------------------------------------- 1. --overwrite is safe ---


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["digits", "--sparsity-target", "1.5"], "--sparsity-target must be a float"),
        (["NAN", "--max-iter", "3"], "non-finite values"),
        (["nofile.npy", "--max-iter", "3"], "'nofile.npy' is neither"),
        (["nofile.npy", "--out-of-core"], "DATA nofile.npy does not exist"),
        (["NAN", "--out-of-core"], "non-finite values"),
        (["nofile.zarr"], "DATA nofile.zarr does not exist"),
        (["digits", "--hidden-activation", "relu"], "needs penalty='l1'"),
    ],
)
def test_a_failed_overwrite_keeps_the_old_run(
    tmp_path, old_run, change, message, capsys
):
    X = np.random.default_rng(0).uniform(size=(50, 64))
    X[3, 4] = np.nan
    np.save(nan := tmp_path / "nan.npy", X)
    change = [str(nan) if a == "NAN" else a for a in change]
    before = snapshot(old_run)
    argv = ["train", *change, *LBFGS, "-o", str(old_run), "--overwrite"]
    assert main(argv) == 2
    one_line(capsys, message)
    assert snapshot(old_run) == before


def test_a_failed_fresh_run_creates_no_folder(tmp_path, capsys):
    out = tmp_path / "new" / "run"
    argv = ["train", "digits", "--sparsity-target", "1.5", "-o", str(out)]
    assert main(argv) == 2
    assert not (tmp_path / "new").exists()


def test_an_overwrite_that_fails_writing_its_results_keeps_the_old_run(
    old_run, monkeypatch, capsys
):
    import sparseae.plotting

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sparseae.plotting, "plot_loss_curve", full_disk)
    before = snapshot(old_run)
    argv = ["train", "digits", *LBFGS, "--max-iter", "3", "-o", str(old_run)]
    assert main([*argv, "--overwrite"]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert snapshot(old_run) == before


def test_an_interrupted_overwrite_keeps_the_old_run(old_run, monkeypatch, capsys):
    before = snapshot(old_run)
    interrupt_at(monkeypatch, 2)
    argv = ["train", "digits", *LBFGS, "--max-iter", "5", "--checkpoint-every"]
    # A checkpoint after every iteration: written, then dropped with the run.
    argv += ["1e-9", "-o", str(old_run), "--overwrite"]
    assert main(argv) == 130
    out = capsys.readouterr().out
    assert "interrupted after 2 iterations" in out
    assert f"{old_run} still holds the earlier run, unchanged" in out
    assert snapshot(old_run) == before


def test_an_overwrite_replaces_the_whole_run_once_finished(
    tmp_path, old_run, data, capsys
):
    (old_run / "checkpoint.safetensors").write_bytes(b"stale")
    (old_run / "notes.txt").write_text("mine")
    # What a replacing run killed mid-way leaves: cleared by the next one.
    (old_run / STAGING).mkdir()
    (old_run / STAGING / "checkpoint.safetensors").write_bytes(b"killed")
    argv = ["train", str(data), *LBFGS, "--max-iter", "3", "-o", str(old_run)]
    assert main([*argv, "--overwrite"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"written to {old_run}:")
    # An array file has no image shape: the old run's filters.png goes too.
    assert set(os.listdir(old_run)) == {
        "model.safetensors",
        "metrics.json",
        "history.csv",
        "loss.png",
        "report.html",
        "notes.txt",
    }
    assert f"sparseae report: {old_run.name}" in (old_run / "report.html").read_text()


def test_a_failed_stack_overwrite_keeps_the_old_run(tmp_path, capsys):
    out = tmp_path / "sk"
    argv = ["stack", "digits", "-o", str(out), "--layers", "10", *TINY_STACK]
    assert main(argv) == 0
    before = snapshot(out)
    capsys.readouterr()
    assert main([*argv, "--overwrite", "--sparsity-target", "2"]) == 2
    one_line(capsys, "--sparsity-target must be a float")
    assert snapshot(out) == before
    assert main([*argv, "--overwrite", "--layers", "6"]) == 0
    assert set(os.listdir(out)) == {"model.safetensors", "metrics.json", "filters.png"}


# ------------------------------------ 2. encode and demo keep their files ---


@pytest.fixture
def model_file(old_run):
    return old_run / "model.safetensors"


def test_encode_refuses_an_existing_output_unless_told(tmp_path, model_file, capsys):
    codes = tmp_path / "codes.npy"
    codes.write_bytes(b"keep me")
    argv = ["encode", str(model_file), "digits", "-o", str(codes)]
    assert main(argv) == 2
    one_line(capsys, f"-o/--output {str(codes)!r} already exists", "--overwrite")
    assert codes.read_bytes() == b"keep me"
    assert main([*argv, "--overwrite"]) == 0
    assert np.load(codes).shape == (1797, 5)
    assert [p.name for p in tmp_path.glob(".*.tmp")] == []


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_encode_never_writes_over_its_input(tmp_path, model_file, overwrite, capsys):
    X = np.random.default_rng(0).uniform(size=(20, 64))
    np.save(data := tmp_path / "xx.npy", X)
    before = data.read_bytes()
    for output in (data, tmp_path / "." / "xx.npy"):
        argv = ["encode", str(model_file), str(data), "-o", str(output)]
        assert main([*argv, *overwrite]) == 2
        one_line(capsys, "-o/--output", "is the input", "itself")
    assert data.read_bytes() == before


def test_demo_refuses_other_suffixes_and_existing_pictures(tmp_path, capsys):
    script = tmp_path / "t1.py"
    script.write_text("print('mine')\n")
    picture = tmp_path / "f.png"
    picture.write_bytes(b"old")
    fast = ["demo", "--patches", "300", "--max-iter", "2", "--output"]
    for path, message in [
        (script, "has suffix '.py'; the filter picture is a PNG"),
        (tmp_path / "demo.txt", "has suffix '.txt'"),
        (picture, f"--output {str(picture)!r} already exists: add --overwrite"),
    ]:
        assert main([*fast, str(path)]) == 2
        one_line(capsys, message)
    assert script.read_text() == "print('mine')\n" and picture.read_bytes() == b"old"
    assert not (tmp_path / "demo.txt").exists()
    assert main([*fast, str(picture), "--overwrite"]) == 0
    assert picture.read_bytes().startswith(b"\x89PNG")


def test_the_demo_run_again_replaces_its_own_default_picture(
    tmp_path, monkeypatch, capsys
):
    # The README's one command, run a second time, must work again.
    monkeypatch.chdir(tmp_path)
    fast = ["demo", "--patches", "300", "--max-iter", "2"]
    assert main(fast) == 0
    first = (tmp_path / "filters.png").read_bytes()
    assert main([*fast, "--seed", "1"]) == 0
    assert (tmp_path / "filters.png").read_bytes() != first
    assert sorted(os.listdir(tmp_path)) == ["filters.png"]


# ------------------------------------------------------ 3. -o is checked ---


def test_an_output_that_is_a_file_is_one_clear_line(tmp_path, capsys):
    (blocker := tmp_path / "t1.py").write_text("")
    for out, message in [
        (blocker, "File exists and is not a folder"),
        (blocker / "run", f"{blocker} is a file, not a folder"),
    ]:
        assert main(["train", "digits", "--max-iter", "1", "-o", str(out)]) == 2
        one_line(capsys, f"-o/--output {str(out)!r}", message, "give a folder")
    assert blocker.read_text() == ""


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_an_output_that_cannot_be_created_is_one_clear_line(capsys):
    assert main(["train", "digits", "--max-iter", "1", "-o", "/proc/r1"]) == 2
    one_line(capsys, "-o/--output '/proc/r1': cannot create a folder in /proc")


# ------------------------------------------------------------- 4. stack ---


def test_stack_gives_its_own_advice_for_an_existing_run(tmp_path, capsys):
    out = tmp_path / "sk"
    argv = ["stack", "digits", "-o", str(out), "--layers", "6", *TINY_STACK]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(argv) == 2
    err = one_line(capsys, "already holds a run", "add --overwrite to replace it")
    assert "--resume" not in err


def test_stack_says_labels_must_be_one_dimensional(tmp_path, data, capsys):
    np.save(labels := tmp_path / "y.npy", np.zeros((200, 64), dtype=int))
    argv = ["stack", str(data), "--labels", str(labels), "--layers", "6"]
    assert main([*argv, "-o", str(tmp_path / "sk")]) == 2
    one_line(capsys, f"--labels {labels}", "shape (200, 64)", "must be 1-D")


def test_stack_names_labels_that_do_not_exist(tmp_path, data, capsys):
    argv = ["stack", str(data), "--labels", str(tmp_path / "nofile.npy")]
    assert main([*argv, "--layers", "6", "-o", str(tmp_path / "sk")]) == 2
    one_line(capsys, "--labels", "nofile.npy", "no such file")


@pytest.mark.parametrize("layers", [["--layers", "-5,3"], ["--layers=-5,3"]])
def test_stack_says_what_is_wrong_with_negative_layer_sizes(tmp_path, layers, capsys):
    assert main(["stack", "digits", "-o", str(tmp_path / "sk"), *layers]) == 2
    one_line(capsys, "argument --layers", "each an integer >= 1", "got '-5,3'")


# ------------------------------------ 5. --resume with nothing left to do ---


@pytest.mark.parametrize("budget", [[], ["--max-iter", "1"]])
def test_resuming_a_finished_run_says_there_is_nothing_to_do(old_run, budget, capsys):
    before = snapshot(old_run)
    argv = ["train", "digits", *LBFGS, "-o", str(old_run), "--resume", *budget]
    assert main(argv) == 0
    out = capsys.readouterr().out
    given = budget[1] if budget else "2"
    assert out == (
        f"nothing to do: the run in {old_run} already has 2 iterations, >= "
        f"--max-iter {given}; give a --max-iter above 2 to continue it\n"
    )
    assert snapshot(old_run) == before


def test_resuming_a_converged_run_says_there_is_nothing_to_do(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "digits", "--n-components", "5", "--quiet", "-o", str(out)]
    assert main([*argv, "--max-iter", "100", "--tol", "1e-2"]) == 0
    before = snapshot(out)
    capsys.readouterr()
    assert main([*argv, "--max-iter", "200", "--resume"]) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"nothing to do: the run in {out} stopped after")
    assert "converged" in said and "--max-iter 200" in said
    assert snapshot(out) == before


# --------------------------------------------------- 6. gradcheck options ---


@pytest.mark.parametrize("tolerance", ["-1", "0", "nan", "inf"])
def test_gradcheck_refuses_a_tolerance_that_is_not_positive(tolerance, capsys):
    assert main(["gradcheck", "--tolerance", tolerance]) == 2
    one_line(capsys, "argument --tolerance: must be a finite number > 0, got")
    assert capsys.readouterr().out == ""


# ----------------------------------------------------- 7. encode --help ---


def test_encode_help_describes_encoding_on_a_cluster(capsys):
    with pytest.raises(SystemExit):
        main(["encode", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    scheduler = text[text.index("--scheduler ADDRESS encode") :]
    assert "encode on a Dask cluster" in scheduler
    assert "INPUT must be" in scheduler and "-o a .zarr store" in scheduler
    assert "train on" not in text and "DATA must" not in text


def test_a_closed_output_pipe_ends_the_command_quietly():
    # `sparseae show MODEL | head -1`: the reader goes away; no error line,
    # and the shell's status for SIGPIPE.
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "sparseae.cli", "gradcheck"],
            stdout=write,
            stderr=subprocess.PIPE,
            timeout=120,
        )
    finally:
        os.close(write)
    assert done.returncode == 141
    assert done.stderr == b""


def test_report_on_a_zarr_store_says_how_to_go_on(tmp_path, capsys):
    store = tmp_path / "X.zarr"
    store.mkdir()  # a zarr store is a folder; report must not take it for images
    model = tmp_path / "m"
    assert main(["train", "digits", *LBFGS, "--max-iter", "2", "-o", str(model)]) == 0
    capsys.readouterr()
    assert (
        main(
            ["report", str(model), "--data", str(store), "-o", str(tmp_path / "r.html")]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "is a zarr store" in err and "save a sample as .npy" in err
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("seed", ["-1", "4294967296", "99999999999999999999"])
def test_a_seed_out_of_range_names_the_option(tmp_path, capsys, seed):
    assert main(["train", "digits", "-o", str(tmp_path / "r"), "--seed", seed]) == 2
    err = capsys.readouterr().err
    assert "argument --seed: must be an integer >= 0 and <= 4294967295" in err
    assert not (tmp_path / "r").exists()
