import gzip
import os

import numpy as np
import pytest

from sparseae.datasets import DEBIAN_FASHION_MNIST, load_mnist, read_idx, write_idx

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["a-idx", "a-idx.gz"])
def test_round_trip(tmp_path, dtype, name):
    rng = np.random.default_rng(0)
    array = (rng.normal(size=(3, 4, 5)) * 50).astype(dtype)
    path = write_idx(tmp_path / name, array)
    back = read_idx(path)
    np.testing.assert_array_equal(back, array)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    assert back.flags.writeable
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")


def test_header_and_big_endian_payload(tmp_path):
    write_idx(tmp_path / "b", np.array([1.0, -2.0], dtype=np.float32))
    assert (tmp_path / "b").read_bytes() == (
        b"\x00\x00\x0d\x01" + b"\x00\x00\x00\x02" + b"\x3f\x80\x00\x00\xc0\x00\x00\x00"
    )
    write_idx(tmp_path / "c", np.zeros((2, 3), dtype=np.uint8))
    assert (tmp_path / "c").read_bytes()[:12] == bytes.fromhex(
        "00000802 00000002 00000003"
    )


def test_gzip_detected_by_content_not_name(tmp_path):
    array = np.arange(10, dtype=np.int16)
    write_idx(tmp_path / "zipped-but-no-suffix", array, compress=True)
    write_idx(tmp_path / "plain.gz", array, compress=False)
    np.testing.assert_array_equal(read_idx(tmp_path / "zipped-but-no-suffix"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "plain.gz"), array)


def test_write_is_reproducible_and_leaves_no_temp_files(tmp_path):
    array = np.arange(100, dtype=np.uint8)
    first = write_idx(tmp_path / "x.gz", array).read_bytes()
    assert write_idx(tmp_path / "x.gz", array).read_bytes() == first
    assert os.listdir(tmp_path) == ["x.gz"]


def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    path = write_idx(tmp_path / "x", np.arange(3, dtype=np.uint8))
    old = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_idx(path, np.arange(5, dtype=np.uint8))
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["x"]


def good_bytes():
    return bytes.fromhex("00000801 00000003") + b"\x01\x02\x03"


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "file is empty"),
        (b"\x00\x00\x08", "3 bytes is too short for an IDX header"),
        (b"\x50\x4b\x03\x04" + b"\x00" * 8, "bad magic number 50 4b 03 04"),
        (bytes.fromhex("00000701 00000001 00"), "unsupported IDX dtype code 0x07"),
        (bytes.fromhex("00000800"), "dimension count 0"),
        (bytes.fromhex("00000809") + b"\x00" * 36, "dimension count 9"),
        (bytes.fromhex("00000803 00000001"), "declares 3 dimensions but .* 8 bytes"),
        (
            good_bytes()[:-1],
            r"truncated: .*\(3,\) of uint8 \(3 bytes of data\) but the file has 2",
        ),
        (
            good_bytes() + b"\x00",
            r"trailing bytes: .*\(3 bytes of data\) but the file has 4",
        ),
        (gzip.compress(good_bytes())[:-5], "corrupt or truncated gzip"),
        (gzip.compress(b"\x00\x00\x0c\x01\x00\x00\x00\x02" + b"\x00" * 7), "truncated"),
    ],
)
def test_malformed_files_name_the_file(tmp_path, content, match):
    path = tmp_path / "bad-file-idx"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_missing_file_passes_through(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        read_idx(tmp_path / "nope")
    assert info.value.filename == str(tmp_path / "nope")


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.arange(3, dtype=np.int64), "dtype int64 has no IDX code.*astype"),
        (np.array([True]), "dtype bool has no IDX code"),
        (np.uint8(3), r"1 to 8 dimensions, got shape \(\)"),
        (np.zeros((1,) * 9, np.uint8), "1 to 8 dimensions"),
    ],
)
def test_write_errors(tmp_path, array, match):
    with pytest.raises(ValueError, match=match):
        write_idx(tmp_path / "x", array)
    assert not list(tmp_path.iterdir())


def make_mnist_folder(folder, kind, n, *, gz_images=True, gz_labels=False):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    write_idx(folder / f"{kind}-images-idx3-ubyte{'.gz' * gz_images}", images)
    write_idx(folder / f"{kind}-labels-idx1-ubyte{'.gz' * gz_labels}", labels)
    return images, labels


@pytest.mark.parametrize("kind", ["train", "t10k"])
def test_load_mnist(tmp_path, kind):
    images, labels = make_mnist_folder(tmp_path, kind, 5)
    X, y = load_mnist(tmp_path, kind)
    assert X.shape == (5, 784) and X.dtype == np.float64
    assert X.min() == 0 and X.max() == 1
    np.testing.assert_allclose(X * 255, images.reshape(5, -1))
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, labels)
    assert load_mnist(tmp_path, kind, dtype=np.float32)[0].dtype == np.float32


def test_load_mnist_missing_files_lists_candidates(tmp_path):
    make_mnist_folder(tmp_path, "train", 2)
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(tmp_path, "t10k")
    message = str(info.value)
    assert "t10k-images-idx3-ubyte" in message
    assert "t10k-images-idx3-ubyte.gz" in message
    assert str(tmp_path) in message


def test_load_mnist_inconsistent_files(tmp_path):
    make_mnist_folder(tmp_path, "train", 3)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(2, np.uint8))
    with pytest.raises(ValueError, match=r"\(3, 28, 28\) and \(2,\)"):
        load_mnist(tmp_path)
    with pytest.raises(ValueError, match="kind must be 'train' or 't10k', got 'test'"):
        load_mnist(tmp_path, "test")


@pytest.mark.skipif(
    not (DEBIAN_FASHION_MNIST / "t10k-images-idx3-ubyte.gz").exists(),
    reason="Debian package dataset-fashion-mnist not installed",
)
def test_debian_fashion_mnist():
    X, y = load_mnist(DEBIAN_FASHION_MNIST, "t10k")
    assert X.shape == (10000, 784) and X.max() == 1
    np.testing.assert_array_equal(np.bincount(y), [1000] * 10)


@pytest.mark.parametrize(
    ("images", "labels", "match"),
    [
        (
            np.full((2, 2, 2), 300.0, np.float32),
            np.array([1, 2], np.uint8),
            r"train-images-idx3-ubyte: images must be uint8 .* got float32",
        ),
        (
            np.zeros((2, 2, 2), np.uint8),
            np.array([0.5, 2.7]),
            r"train-labels-idx1-ubyte: labels must be integers .* got float64",
        ),
    ],
    ids=["float images", "float labels"],
)
def test_load_mnist_refuses_types_it_would_misread(tmp_path, images, labels, match):
    # Pixels of 300.0 came out as 1.18 in "[0, 1]"; labels 0.5 and 2.7 as 0 and 2.
    write_idx(tmp_path / "train-images-idx3-ubyte", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels)
    with pytest.raises(ValueError, match=match):
        load_mnist(tmp_path)
