"""The data files the commands read: headers, damaged cells, image depths."""

import numpy as np
import pytest
from PIL import Image

from sparseae.cli.inputs import load_input

ROWS = "0.1,0.2,0.3\n0.4,0.5,0.6\n0.7,0.8,0.9\n"


def csv(tmp_path, text, name="X.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return str(path)


def test_a_byte_order_mark_is_no_header(tmp_path):
    X, _ = load_input(csv(tmp_path, "\ufeff" + ROWS))
    np.testing.assert_allclose(X[0], [0.1, 0.2, 0.3])
    assert X.shape == (3, 3)


@pytest.mark.parametrize(
    "header", ["a,b,c\n", '"a","b","c"\n', "\ufeffa,b,c\r\n", b"temp\xe9r,b,c\n"]
)
def test_a_header_of_names_is_skipped(tmp_path, header):
    text = header + ROWS if isinstance(header, str) else header + ROWS.encode()
    X, _ = load_input(csv(tmp_path, text))
    assert X.shape == (3, 3)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("0.1,,0.3\n" + ROWS, r"line 1, column 2: '' is not a number"),
        ("0.1,abc,0.3\n" + ROWS, r"line 1, column 2: 'abc' is not a number"),
        ("a,b,c\n" + ROWS + "0.1,,0.3\n", r"line 5, column 2: ''"),
        (ROWS + "\n0.1,x,0.3\n", r"line 5, column 2: 'x'"),
        ("a,1,c\n" + ROWS, r"line 1, column 1: 'a'"),
    ],
)
def test_a_cell_that_is_not_a_number_is_refused_with_its_line(tmp_path, text, where):
    with pytest.raises(ValueError, match=r"X\.csv " + where):
        load_input(csv(tmp_path, text))


@pytest.mark.parametrize("separator", [";", "\t"])
def test_another_separator_is_refused_at_line_one(tmp_path, separator):
    with pytest.raises(ValueError, match="line 1, column 1.*separated by commas"):
        load_input(csv(tmp_path, ROWS.replace(",", separator)))


def test_a_ragged_row_is_refused_with_its_line(tmp_path):
    with pytest.raises(ValueError, match=r"line 4 has 2 values but line 1 has 3"):
        load_input(csv(tmp_path, ROWS + "0.1,0.2\n"))


def test_an_empty_npz_says_so(tmp_path):
    np.savez(tmp_path / "none.npz")
    with pytest.raises(ValueError, match=r"none\.npz is an empty \.npz archive"):
        load_input(str(tmp_path / "none.npz"))


def test_sixteen_bit_and_float_images_keep_their_levels(tmp_path):
    wide = tmp_path / "wide"
    wide.mkdir()
    levels = np.array([[0, 16384, 32768, 65535]], dtype=np.uint16)
    Image.fromarray(levels).save(wide / "a.png")
    X, shape = load_input(str(wide))
    assert shape == (1, 4)
    np.testing.assert_allclose(X[0], levels[0] / 65535)
    floats = tmp_path / "floats"
    floats.mkdir()
    values = np.array([[0.0, 0.25, 0.5, 1.0]], dtype=np.float32)
    Image.fromarray(values).save(floats / "a.tif")
    np.testing.assert_allclose(load_input(str(floats))[0][0], values[0])


def test_eight_bit_images_are_unchanged(tmp_path):
    Image.fromarray(np.array([[0, 51, 255]], dtype=np.uint8)).save(tmp_path / "a.png")
    np.testing.assert_allclose(load_input(str(tmp_path))[0][0], [0, 0.2, 1])


def test_a_folder_of_folders_says_they_are_not_searched(tmp_path):
    (tmp_path / "sub").mkdir()
    with pytest.raises(ValueError, match=r"subfolders \(sub\) are not searched"):
        load_input(str(tmp_path))
