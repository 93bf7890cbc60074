import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import save as save_tensors
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from sparseae import SparseAutoencoder, load, save
from sparseae.io import ModelFileError, model_file, read_info, register


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).uniform(size=(60, 9))


@pytest.fixture(scope="module")
def model(X):
    return SparseAutoencoder(4, tol=1e-3, random_state=0).fit(X)


@pytest.fixture(scope="module")
def adam32(X):
    with pytest.warns(ConvergenceWarning):
        return SparseAutoencoder(
            3, solver="adam", max_iter=2, batch_size=16, dtype=np.float32
        ).fit(X)


@pytest.mark.parametrize("name", ["model", "adam32"])
def test_loading_then_transforming_is_bit_identical(request, X, tmp_path, name):
    model = request.getfixturevalue(name)
    again = load(save(model, tmp_path / "m.safetensors"))
    assert again.components_.dtype == model.components_.dtype
    np.testing.assert_array_equal(again.transform(X), model.transform(X))
    codes = model.transform(X)
    np.testing.assert_array_equal(
        again.inverse_transform(codes), model.inverse_transform(codes)
    )
    assert again.get_params() == {
        **model.get_params(),
        "dtype": np.dtype(model.dtype).type,
    }
    assert again.history_ == model.history_
    assert again.n_iter_ == model.n_iter_


def test_file_holds_json_configuration_and_named_arrays(model, tmp_path):
    data = save(model, tmp_path / "m.safetensors", extra={"note": "x"}).read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    # The weights, and the L-BFGS state that lets resume_fit run longer.
    lbfgs = {f"training.lbfgs.{name}" for name in ("theta", "grad", "s", "y")}
    assert set(header) - {"__metadata__"} == {"W1", "b1", "W2", "b2"} | lbfgs
    info = json.loads(header["__metadata__"]["sparseae"])
    assert info["format_version"] == 2 and info["dtype"] == "float64"
    assert info["params"]["n_components"] == 4
    assert info["extra"] == {"note": "x"}
    assert len(info["history"]["loss"]) == model.n_iter_


def test_loaded_minibatch_model_keeps_training(adam32, X, tmp_path):
    again = load(save(adam32, tmp_path / "m.safetensors"))
    again.partial_fit(X)
    assert again.n_iter_ == adam32.n_iter_ + 1
    assert again.components_.dtype == np.float32


def test_feature_names_survive(X, tmp_path):
    model = SparseAutoencoder(2, tol=1e-2).fit(X)
    # What fitting on a data frame with these column names would have set.
    model.feature_names_in_ = np.array([f"f{i}" for i in range(9)], dtype=object)
    again = load(save(model, tmp_path / "m.safetensors"))
    np.testing.assert_array_equal(again.feature_names_in_, model.feature_names_in_)


def test_a_crash_mid_save_leaves_the_previous_file_intact(
    model, adam32, tmp_path, monkeypatch
):
    path = save(model, tmp_path / "m.safetensors")
    before = path.read_bytes()
    real_fdopen = os.fdopen

    class HalfWriter:
        def __init__(self, file):
            self.file = file

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

        def write(self, data):
            self.file.write(data[: len(data) // 2])
            raise OSError("disk full (simulated)")

    monkeypatch.setattr(
        os, "fdopen", lambda fd, mode: HalfWriter(real_fdopen(fd, mode))
    )
    with pytest.raises(OSError, match="simulated"):
        save(adam32, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]
    np.testing.assert_array_equal(load(path).components_, model.components_)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model file at"):
        load(tmp_path / "absent.safetensors")


@pytest.mark.parametrize("keep", [0, 5, 100, -10])
def test_truncated_file(model, tmp_path, keep):
    path = save(model, tmp_path / "m.safetensors")
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(ModelFileError, match="truncated"):
        load(path)


def test_damaged_array_bytes_fail_the_checksum(model, tmp_path):
    path = save(model, tmp_path / "m.safetensors")
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="damaged"):
        load(path)


def test_foreign_files(tmp_path):
    other = tmp_path / "other.safetensors"
    other.write_bytes(save_tensors({"weight": np.zeros(3)}))
    with pytest.raises(ModelFileError, match="not a sparseae model"):
        load(other)
    text = tmp_path / "notes.txt"
    text.write_text("x" * 100)
    with pytest.raises(ModelFileError, match="truncated or not a safetensors"):
        load(text)


def rewrite(path, change):
    """Rewrite a model file with ``change(config, arrays)`` applied."""
    from safetensors.numpy import load as load_tensors

    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    config = json.loads(json.loads(data[8 : 8 + size])["__metadata__"]["sparseae"])
    arrays = load_tensors(data)
    change(config, arrays)
    from sparseae.io.model_file import _checksum

    text = json.dumps(config)
    metadata = {"sparseae": text, "sparseae.sha256": _checksum(text, arrays)}
    path.write_bytes(save_tensors(arrays, metadata=metadata))


def test_newer_format_version_is_refused(model, tmp_path):
    path = save(model, tmp_path / "m.safetensors")
    rewrite(path, lambda config, arrays: config.update(format_version=99))
    with pytest.raises(ModelFileError, match="format version 99"):
        read_info(path)


def test_arrays_that_do_not_match_the_configuration(model, tmp_path):
    path = save(model, tmp_path / "m.safetensors")
    rewrite(path, lambda config, arrays: arrays.update(W1=np.zeros((5, 9))))
    with pytest.raises(ModelFileError, match=r"W1 should be float64 of shape \(4, 9\)"):
        load(path)


def test_unfitted_model_cannot_be_saved(tmp_path):
    with pytest.raises(NotFittedError):
        save(SparseAutoencoder(), tmp_path / "m.safetensors")


def test_extra_must_be_json(model, tmp_path):
    with pytest.raises(TypeError, match="JSON-serialisable"):
        model.save(tmp_path / "m.safetensors", extra={"a": object()})
    assert not list(tmp_path.iterdir())


class Toy:
    """A stand-in estimator of another format."""


def dump_toy(toy):
    return {"size": toy.size}, {"w": toy.w}


def restore_toy(document, arrays):
    if document["size"] != arrays["w"].size:
        raise ModelFileError(f"has size={document['size']} but w of {arrays['w'].size}")
    toy = Toy()
    toy.size, toy.w = document["size"], arrays["w"]
    return toy


@pytest.fixture
def toy_format(monkeypatch):
    monkeypatch.setattr(model_file, "_FORMATS", dict(model_file._FORMATS))
    fields = {"size": int, "extra": dict}
    return register("tests.Toy", Toy, fields=fields, dump=dump_toy, restore=restore_toy)


def test_a_registered_format_is_written_and_read_by_name(toy_format, tmp_path):
    toy = Toy()
    toy.size, toy.w = 3, np.arange(3.0)
    path = save(toy, tmp_path / "toy.safetensors", extra={"note": 1})
    again = load(path)
    assert isinstance(again, Toy) and again.size == 3
    np.testing.assert_array_equal(again.w, toy.w)
    info = read_info(path)
    assert list(info) == [
        "format",
        "format_version",
        "library_version",
        "size",
        "extra",
    ]
    assert info["format"] == "tests.Toy" and info["extra"] == {"note": 1}


def test_a_format_checks_its_fields_and_values(toy_format, tmp_path):
    toy = Toy()
    toy.size, toy.w = 3, np.arange(3.0)
    path = save(toy, tmp_path / "toy.safetensors")
    rewrite(path, lambda config, arrays: config.update(size="3"))
    with pytest.raises(ModelFileError, match=f"^{path} has size='3', of the wrong"):
        load(path)
    rewrite(path, lambda config, arrays: config.update(size=4))
    with pytest.raises(ModelFileError, match=f"^{path} has size=4 but w of 3$"):
        read_info(path)
    rewrite(path, lambda config, arrays: config.update(format="tests.Other"))
    with pytest.raises(ModelFileError, match="holds format 'tests.Other', expected"):
        load(path)


def test_a_class_without_a_format_cannot_be_saved(tmp_path):
    with pytest.raises(TypeError, match="no model-file format for Toy"):
        save(Toy(), tmp_path / "toy.safetensors")


def test_a_format_must_say_where_extra_goes():
    with pytest.raises(ValueError, match="fields must hold 'extra'"):
        register("tests.Toy", Toy, fields={"size": int}, dump=None, restore=None)


# ----------------------------------------------------------- user audit ---


@pytest.mark.parametrize("extra", [[1, 2], "note", 3, {1: "a"}, {"a": {1, 2}}])
def test_extra_that_load_would_refuse_is_refused_at_save(model, tmp_path, extra):
    with pytest.raises(TypeError, match=r"^extra must be a dict with str keys"):
        save(model, tmp_path / "m.safetensors", extra=extra)
    assert not list(tmp_path.iterdir())


def test_a_folder_is_named_as_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="it is a folder"):
        load(tmp_path)


def test_bytes_paths_save_and_load(model, tmp_path):
    path = os.fsencode(tmp_path / "m.safetensors")
    save(model, path, extra={"note": 1})
    assert read_info(path)["extra"] == {"note": 1}
    np.testing.assert_array_equal(load(path).components_, model.components_)


def test_a_path_of_another_type_says_what_is_valid(model):
    with pytest.raises(TypeError, match="path must be a str, bytes or path-like"):
        load(3)


@pytest.mark.parametrize("bits", [0o600, 0o640])
@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_saving_over_a_private_model_keeps_it_private(model, tmp_path, bits):
    path = save(model, tmp_path / "m.safetensors")
    path.chmod(bits)
    save(model, path)
    assert path.stat().st_mode & 0o777 == bits


def test_io_load_finds_the_format_in_a_fresh_interpreter(model, tmp_path):
    path = save(model, tmp_path / "m.safetensors")
    code = f"""
import sys
import sparseae.io as io
assert "sparseae.models" not in sys.modules
assert io.read_info({str(path)!r})["format"] == "sparseae.SparseAutoencoder"
assert io.load({str(path)!r}).n_components == 4
"""
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
