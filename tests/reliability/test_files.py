"""Damaged, foreign and hand-edited model files: refused, never half-loaded.

Byte-level fuzzing (flips, overwrites, truncations, insertions, deletions) of two
small model files must give a ``ModelFileError`` naming the file, or, where the
damage is only JSON whitespace, the very same model.  Structural edits written
with a valid digest (a buggy writer, a hand edit) must be refused field by field
or load into a model that is valid and usable.
"""

import json
import math
import random
import struct
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from safetensors.numpy import load as load_tensors
from safetensors.numpy import save as save_tensors
from sklearn.exceptions import ConvergenceWarning

from sparseae import SparseAutoencoder, load, save
from sparseae.io.model_file import ModelFileError, _checksum, read_info
from sparseae.solvers import NonFiniteLossError

from ..conftest import examples

DATA = np.random.default_rng(0).uniform(size=(24, 4))


def stop_after(n_steps):
    calls = []
    return lambda model, progress: calls.append(1) or len(calls) == n_steps


@pytest.fixture(scope="module")
def models():
    """An L-BFGS float64 model, and an Adam float32 checkpoint mid-epoch."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        lbfgs = SparseAutoencoder(3, max_iter=5, random_state=0).fit(DATA)
    adam = SparseAutoencoder(
        3,
        solver="adam",
        batch_size=5,
        rho_estimate="running",
        dtype=np.float32,
        random_state=0,
    ).fit(DATA, callback=stop_after(7))
    return {"lbfgs": lbfgs, "adam": adam}


@pytest.fixture(scope="module")
def originals(models, tmp_path_factory):
    folder = tmp_path_factory.mktemp("originals")
    return {
        name: save(model, folder / f"{name}.safetensors").read_bytes()
        for name, model in models.items()
    }


def parts(data: bytes) -> tuple[dict, dict]:
    (size,) = struct.unpack("<Q", data[:8])
    config = json.loads(json.loads(data[8 : 8 + size])["__metadata__"]["sparseae"])
    return config, dict(load_tensors(data))


def overwrite(path, data: bytes):
    """Replace the content of ``path`` in place.

    Many times faster than ``write_bytes`` where truncating a file on open
    makes the file system flush it (ext4 does), which thousands of examples
    would pay for.
    """
    with open(path, "r+b" if path.exists() else "wb") as file:
        file.write(data)
        file.truncate()
    return path


def write(path, config, arrays):
    """Write a file as a (buggy) writer would: any content, a valid digest."""
    text = json.dumps(config)
    metadata = {"sparseae": text, "sparseae.sha256": _checksum(text, arrays)}
    return overwrite(path, save_tensors(arrays, metadata=metadata))


def assert_same_model(got, expected):
    for a, b in zip(got._params(), expected._params(), strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    assert got.get_params() == expected.get_params()
    assert got.history_ == expected.history_ and got.n_iter_ == expected.n_iter_
    states = [m._training_state for m in (got, expected)]
    assert (states[0] is None) == (states[1] is None)
    if states[0] is not None:
        (arrays_a, numbers_a), (arrays_b, numbers_b) = (s.to_saved() for s in states)
        assert numbers_a == numbers_b and arrays_a.keys() == arrays_b.keys()
        for name in arrays_a:
            np.testing.assert_array_equal(arrays_a[name], arrays_b[name])


def assert_usable(model):
    """What a loaded model must be able to do, whatever file it came from.

    Training on may diverge: a file may hold any finite positive learning rate,
    and one of 1e30 is as valid a setting (and as useless) as it would be in
    the constructor, where it is not refused either.  What must not happen is
    a NaN left in the model or an error other than the
    ``NonFiniteLossError`` that names the learning rate.
    """
    model._validate_params()
    assert all(np.isfinite(block).all() for block in model._params())
    codes = model.transform(DATA[:, : model.n_features_in_])
    assert np.isfinite(codes).all() and ((codes >= 0) & (codes <= 1)).all()
    if model.solver != "lbfgs":
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.partial_fit(DATA[:, : model.n_features_in_])
        except NonFiniteLossError as error:
            assert "Lower learning_rate" in str(error), error
            event("diverged with a clean error")
        assert all(np.isfinite(block).all() for block in model._params())


# ------------------------------------------------------------ known faults ---


@pytest.mark.parametrize("name", ["lbfgs", "adam"])
def test_truncated_anywhere(originals, tmp_path, name):
    data = originals[name]
    path = tmp_path / "m.safetensors"
    for keep in np.linspace(0, len(data) - 1, 40).astype(int):
        path.write_bytes(data[:keep])
        with pytest.raises(ModelFileError, match=f"^{path} .*(truncated|damaged)"):
            load(path)


def test_random_bytes(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "noise.safetensors"
    for size in [0, 1, 7, 8, 9, 100, 4096]:
        path.write_bytes(rng.bytes(size))
        with pytest.raises(ModelFileError, match=f"^{path} "):
            load(path)
    # A plausible length prefix in front of noise.
    path.write_bytes(struct.pack("<Q", 50) + rng.bytes(200))
    with pytest.raises(ModelFileError, match="not a safetensors file"):
        load(path)


def test_one_flipped_digit_in_the_json_is_caught_by_the_digest(originals, tmp_path):
    data = originals["lbfgs"]
    # The JSON document is a string inside the header's JSON: its quotes escaped.
    field = b'sparsity_target\\": 0.0'
    position = data.index(field + b"5") + len(field)
    damaged = bytearray(data)
    damaged[position] = ord("6")
    path = tmp_path / "m.safetensors"
    path.write_bytes(bytes(damaged))
    with pytest.raises(ModelFileError, match="does not match its SHA-256 digest"):
        load(path)
    with pytest.raises(ModelFileError, match="does not match its SHA-256 digest"):
        read_info(path)


def edit(originals, tmp_path, name, change):
    config, arrays = parts(originals[name])
    change(config, arrays)
    return write(tmp_path / "edited.safetensors", config, arrays)


EDITS = {
    "W1-shape": (
        lambda c, a: a.update(W1=np.zeros((4, 3))),
        r"W1 should be float64 of shape \(3, 4\) .* got float64 of shape \(4, 3\)",
    ),
    "b2-dtype": (
        lambda c, a: a.update(b2=a["b2"].astype(np.float32)),
        r"b2 should be float64 of shape \(4,\) .* got float32",
    ),
    "W2-missing": (lambda c, a: a.pop("W2"), "W2 should be .* got nothing"),
    "extra-array": (lambda c, a: a.update(W3=np.zeros(2)), r"unknown arrays \['W3'\]"),
    "nan-weight": (
        lambda c, a: a["W1"].__setitem__((0, 0), np.nan),
        "has NaN or infinite values in W1",
    ),
    "missing-field": (
        lambda c, a: c.pop("n_iter"),
        r"damaged configuration: missing fields \['n_iter'\], unknown fields \[\]",
    ),
    "extra-field": (
        lambda c, a: c.update(colour="blue"),
        r"missing fields \[\], unknown fields \['colour'\]",
    ),
    "wrong-type": (
        lambda c, a: c.update(n_features_in="4"),
        "has n_features_in='4', of the wrong type",
    ),
    "bool-for-int": (lambda c, a: c.update(n_iter=True), "n_iter=True"),
    "bool-param": (
        lambda c, a: c["params"].update(weight_decay=False),
        r"has invalid params: The 'weight_decay' parameter .* \[0.0, inf\)\. Got False",
    ),
    "missing-param": (
        lambda c, a: c["params"].pop("sparsity_target"),
        r"damaged params: missing fields \['sparsity_target'\]",
    ),
    "invalid-param": (
        lambda c, a: c["params"].update(sparsity_target=1.5),
        "has invalid params: The 'sparsity_target' parameter .* Got 1.5",
    ),
    "dtype": (
        lambda c, a: c.update(dtype="float16"),
        "has dtype='float16'; float32 or float64 only",
    ),
    "history": (
        lambda c, a: c["history"]["loss"].append("x"),
        "has a damaged history",
    ),
    "feature-names": (
        lambda c, a: c.update(feature_names_in=["a", "b"]),
        "feature_names_in that are not 4 strings",
    ),
    "newer-version": (
        lambda c, a: c.update(format_version=3),
        r"is in format version 3, written by sparseae .* reads version 2",
    ),
    "older-version": (
        lambda c, a: c.update(format_version=1),
        "is in format version 1",
    ),
    "other-format": (
        lambda c, a: c.update(format="other.Model"),
        "holds format 'other.Model', expected 'sparseae.SparseAutoencoder'",
    ),
}


@pytest.mark.parametrize("fault", sorted(EDITS))
def test_hand_edited_files_are_refused_field_by_field(originals, tmp_path, fault):
    change, pattern = EDITS[fault]
    path = edit(originals, tmp_path, "lbfgs", change)
    with pytest.raises(ModelFileError, match=f"^{path} .*{pattern}"):
        load(path)


TRAINING_EDITS = {
    "missing": (lambda t, a: t.pop("position"), "fields must be"),
    "optimizer": (
        lambda t, a: a.update({"training.optimizer.m": np.zeros(3, np.float32)}),
        r"m must be float32 of shape \(\d+,\), got float32 of shape \(3,\)",
    ),
    "moments": (
        lambda t, a: a.pop("training.optimizer.v"),
        r"Adam has t=7 but moments \['m'\]",
    ),
    "generator": (
        lambda t, a: t["rng"].update(bit_generator="seed"),
        "unknown bit generator 'seed'",
    ),
    "position": (lambda t, a: t.update(position=99), "position 99 is past the end"),
    "order": (
        lambda t, a: a.update({"training.permutation": np.zeros(24, np.int64)}),
        r"the epoch order \(int64 of shape \(24,\)\) is not a permutation of 0 to 23",
    ),
    "rho-hat": (
        lambda t, a: a.update({"training.rho_hat": np.full(3, np.nan, np.float32)}),
        "rho_hat has NaN or infinite values",
    ),
    "sums": (lambda t, a: t.update(sums=[1, 2]), "sums has an invalid value"),
    "learning-rate": (
        lambda t, a: t["optimizer"].update(learning_rate=-1),
        "learning_rate must be in",
    ),
    "bool-for-number": (
        lambda t, a: t["optimizer"].update(beta1=False),
        "optimizer.beta1 is false, where a number belongs",
    ),
    "infinite-learning-rate": (
        lambda t, a: t["optimizer"].update(learning_rate=float("inf")),
        "learning_rate must be in",
    ),
    "optimizer-name": (
        lambda t, a: t["optimizer"].update(name="rmsprop"),
        "KeyError: 'rmsprop'",
    ),
}


@pytest.mark.parametrize("fault", sorted(TRAINING_EDITS))
def test_damaged_training_states_are_refused(originals, tmp_path, fault):
    change, pattern = TRAINING_EDITS[fault]
    path = edit(originals, tmp_path, "adam", lambda c, a: change(c["training"], a))
    with pytest.raises(ModelFileError, match=f"^{path} has a damaged training state"):
        load(path)
    with pytest.raises(ModelFileError, match=pattern):
        read_info(path)


def test_a_huge_learning_rate_loads_and_diverges_cleanly(originals, tmp_path):
    # Found by the fuzzed edits below: 3.4e38 passes every check of the file
    # (it is finite and positive) and is refused by nothing in the constructor
    # either; the next step overflows.  The model must keep finite parameters.
    path = edit(
        originals,
        tmp_path,
        "adam",
        lambda c, a: c["training"]["optimizer"].update(learning_rate=3.4e38),
    )
    model = load(path)
    with pytest.raises(NonFiniteLossError, match=r"Lower learning_rate \(got 3.4e\+38"):
        model.partial_fit(DATA)
    assert all(np.isfinite(block).all() for block in model._params())


def test_a_folder_or_nothing_is_not_a_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model file at"):
        load(tmp_path)


# ------------------------------------------------------------------- fuzz ---

MUTATIONS = ("flip", "overwrite", "truncate", "insert", "delete", "duplicate", "zero")


def corrupt(data: bytes, kind, position, length, seed) -> bytes:
    """``data`` with one damage at ``position`` (wrapped to its size)."""
    position %= len(data)
    end = position + length
    noise = random.Random(seed).randbytes(length)
    if kind == "flip":
        bits = noise[0] or 1
        return data[:position] + bytes([data[position] ^ bits]) + data[position + 1 :]
    if kind == "overwrite":
        return data[:position] + noise + data[end:]
    if kind == "truncate":
        return data[:position]
    if kind == "insert":
        return data[:position] + noise + data[position:]
    if kind == "delete":
        return data[:position] + data[end:]
    if kind == "duplicate":
        return data[:end] + data[position:end] + data[end:]
    return data[:position] + bytes(length) + data[end:]


@pytest.mark.parametrize("name", ["lbfgs", "adam"])
@settings(
    max_examples=examples(2500),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    kind=st.sampled_from(MUTATIONS),
    position=st.integers(0, 2**20),
    length=st.integers(1, 64),
    seed=st.integers(0, 2**32 - 1),
)
def test_fuzzed_bytes_give_a_clean_error_or_the_same_model(
    models, originals, tmp_path, name, kind, position, length, seed
):
    data = originals[name]
    damaged = corrupt(data, kind, position, length, seed)
    path = overwrite(tmp_path / "fuzzed.safetensors", damaged)
    try:
        model = load(path)
    except ModelFileError as error:
        assert str(error).startswith(f"{path} ")
        assert "\n" not in str(error)
        event(f"{kind}: refused")
        return
    event(f"{kind}: {'unchanged' if damaged == data else 'harmless'}")
    assert_same_model(model, models[name])


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=8,
)


def nested_dicts(config):
    """Every dict in the configuration, with a name for statistics."""
    found = [("config", config)]
    for key, value in config.items():
        if isinstance(value, dict):
            found += [
                (f"{key}.{k}" if k != "config" else key, d)
                for k, d in nested_dicts(value)
            ]
    return found


@st.composite
def structural_edits(draw, config, arrays):
    """Change one field or array, as a buggy writer or a hand edit might."""
    if draw(st.integers(0, 3)) == 0:
        name = draw(st.sampled_from(sorted(arrays) + ["new"]))
        how = draw(st.sampled_from(["drop", "dtype", "shape", "nan", "shorten"]))
        target = arrays.get(name, np.zeros(2))
        if how == "drop":
            arrays.pop(name, None)
        elif how == "dtype":
            kind = draw(st.sampled_from([np.float16, np.float32, np.float64, np.int64]))
            arrays[name] = target.astype(kind)
        elif how == "shape":
            arrays[name] = target.reshape(-1, 1) if target.ndim == 1 else target.T
        elif how == "nan" and target.dtype.kind == "f" and target.size:
            arrays[name] = target.copy()
            arrays[name].flat[draw(st.integers(0, target.size - 1))] = np.nan
        else:
            arrays[name] = target[: target.shape[0] // 2]
        return f"array {how}"
    where, target = draw(st.sampled_from(nested_dicts(config)))
    how = draw(st.sampled_from(["drop", "add", "replace"]))
    key = draw(st.sampled_from(sorted(target))) if target else "new"
    if how == "drop":
        target.pop(key, None)
    elif how == "add":
        target[draw(st.text(min_size=1, max_size=6))] = draw(json_values)
    else:
        target[key] = draw(json_values)
    return f"{where} {how}"


@pytest.mark.parametrize("name", ["lbfgs", "adam"])
@settings(
    max_examples=examples(250),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(change=st.data())
def test_fuzzed_edits_with_a_valid_digest_give_a_clean_error_or_a_usable_model(
    originals, tmp_path, name, change
):
    config, arrays = parts(originals[name])
    what = change.draw(structural_edits(config, arrays))
    path = tmp_path / "edited.safetensors"
    try:
        write(path, config, arrays)
    except (ValueError, OverflowError, TypeError):
        return  # JSON or safetensors cannot write it: no file to read
    try:
        model = load(path)
    except ModelFileError as error:
        assert str(error).startswith(f"{path} ")
        event(f"{what}: refused")
        return
    event(f"{what}: loaded")
    assert_usable(model)
    again = load(save(model, tmp_path / "again.safetensors"))
    assert_same_model(again, model)
    assert math.isfinite(model.score(DATA[:, : model.n_features_in_]))
