"""``encode`` and ``show``: the files they write, and their errors."""

import numpy as np
import pytest
from PIL import Image

from sparseae import load
from sparseae.cli import main
from sparseae.cli.inputs import load_input


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    argv = ["train", "digits", "-o", str(out), "--n-components", "4", "--max-iter"]
    assert main([*argv, "2", "--quiet"]) == 0
    return out / "model.safetensors"


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".csv"])
def test_encode_writes_npy_npz_and_csv_that_read_back_exactly(
    tmp_path, model_path, suffix
):
    out = tmp_path / f"codes{suffix}"
    assert main(["encode", str(model_path), "digits", "-o", str(out)]) == 0
    expected = load(model_path).transform(load_input("digits")[0])
    codes, _ = load_input(str(out))
    np.testing.assert_array_equal(codes, expected)
    if suffix == ".csv":
        header = out.read_text().splitlines()[0]
        assert header == ",".join(f"sparseautoencoder{i}" for i in range(4))


def test_encode_into_a_missing_folder_names_the_folder(tmp_path, model_path, capsys):
    out = tmp_path / "nodir" / "out.npy"
    assert main(["encode", str(model_path), "digits", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"the folder {tmp_path / 'nodir'} does not exist" in err
    assert ".tmp" not in err and len(err.splitlines()) == 1


def test_encode_refuses_other_suffixes_with_the_valid_ones(
    tmp_path, model_path, capsys
):
    out = tmp_path / "codes.txt"
    assert main(["encode", str(model_path), "digits", "-o", str(out)]) == 2
    assert "-o must name a .npy, .npz or .csv file" in capsys.readouterr().err


@pytest.mark.parametrize(("suffix", "kind"), [(".jpg", "JPEG"), (".png", "PNG")])
def test_show_writes_the_format_the_suffix_names(tmp_path, model_path, suffix, kind):
    picture = tmp_path / f"f{suffix}"
    assert main(["show", str(model_path), "--filters", str(picture)]) == 0
    with Image.open(picture) as image:
        assert image.format == kind


def test_show_refuses_an_unknown_picture_suffix(tmp_path, model_path, capsys):
    picture = tmp_path / "f.svg"
    assert main(["show", str(model_path), "--filters", str(picture)]) == 2
    err = capsys.readouterr().err
    assert "has suffix '.svg'" in err and ".png, .jpg" in err
    assert not picture.exists()


def test_show_says_the_features_are_not_divisible_by_the_channels(
    tmp_path, model_path, capsys
):
    argv = ["show", str(model_path), "--channels", "3", "--filters"]
    assert main([*argv, str(tmp_path / "f.png")]) == 2
    err = capsys.readouterr().err
    assert "64 features are not divisible by 3" in err
    assert "square" not in err


def test_encode_removes_what_a_killed_encode_left_beside_its_output(
    tmp_path, model_path, capsys
):
    out = tmp_path / "codes.npy"
    # What write_bytes_atomically leaves when SIGKILL cuts a write short.
    stale = tmp_path / ".codes.npy.0a1b2c3d.tmp"
    stale.write_bytes(b"half a file")
    mine = [tmp_path / ".codes.npy.notes.tmp", tmp_path / ".other.npy.0a1b2c3d.tmp"]
    for path in mine:
        path.write_text("not a leftover of this output")
    assert main(["encode", str(model_path), "digits", "-o", str(out)]) == 0
    assert not stale.exists() and all(path.exists() for path in mine)
    err = capsys.readouterr().err
    assert "note: removed what killed writes of" in err
    assert ".codes.npy.0a1b2c3d.tmp" in err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == [
        ".codes.npy.notes.tmp",
        ".other.npy.0a1b2c3d.tmp",
    ]
