"""Saving and loading models: safetensors for arrays, JSON for the rest, no pickle.

One file holds everything.  The arrays (the four weight blocks, and for a model
trained by minibatches the optimiser's state, the running ρ̂ and the epoch's
order) are safetensors tensors; the configuration, library version, dtype,
format version, training history and the rest of the training state are a
JSON document in the safetensors header's metadata, under the key
``"sparseae"``.  Nothing is ever unpickled, so loading a file from elsewhere
runs no code.

A SHA-256 digest of that JSON text and of every array's name, type, shape and
bytes is stored beside it (``"sparseae.sha256"``), so any damage to the file,
even one flipped bit, is refused rather than loaded as a subtly different
model.  A file that passes the digest is still checked field by field: every
field present and no other, each of its type and range, the arrays of the
shapes and type the configuration says, the weights finite.

The file is written to a temporary name in the same folder, flushed to disk
and renamed over the destination, so a crash or SIGKILL mid-save leaves the
previous file intact (:mod:`sparseae.io.atomic`).
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as load_tensors
from safetensors.numpy import save as save_tensors
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import check_is_fitted

from .._version import __version__
from ..core.params import BLOCK_NAMES, Params
from ..models.autoencoder import SparseAutoencoder
from ..training.minibatch import HISTORY_KEYS
from ..training.state import MinibatchState
from .atomic import write_bytes_atomically

__all__ = ["FORMAT", "FORMAT_VERSION", "ModelFileError", "load", "read_info", "save"]

FORMAT = "sparseae.SparseAutoencoder"
# 2: the digest covers the JSON and the arrays' types and shapes (1: the
# arrays' bytes only, and training states had no start_loss).
FORMAT_VERSION = 2
CONFIG_KEY, DIGEST_KEY = "sparseae", "sparseae.sha256"
WEIGHTS = {"W1": "components_", "b1": "intercept_hidden_"}
WEIGHTS |= {"W2": "decoder_weights_", "b2": "intercept_visible_"}
# The JSON document's fields and their types; every one must be there, and no
# other.
FIELDS = {
    "format": str,
    "format_version": int,
    "library_version": str,
    "dtype": str,
    "params": dict,
    "n_features_in": int,
    "feature_names_in": (list, type(None)),
    "n_iter": int,
    "history": dict,
    "extra": dict,
    "training": (dict, type(None)),
}


class ModelFileError(ValueError):
    """A file that is not a readable sparseae model: says which and why."""


def _library_version() -> str:
    return __version__


def _checksum(text: str, arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256(text.encode())
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"\0{name}\0{array.dtype.str}\0{array.shape}\0".encode())
        digest.update(array.data)
    return digest.hexdigest()


def _json_params(model) -> dict:
    params = model.get_params(deep=False)
    params["dtype"] = np.dtype(params["dtype"]).name
    if not isinstance(params["random_state"], int | None):
        # A generator's state belongs to the run, not the configuration; the
        # training state keeps what a resumed run needs.
        params["random_state"] = None
    return params


def save(model, path, *, extra=None) -> Path:
    """Write a fitted :class:`~sparseae.SparseAutoencoder` to ``path``.

    Parameters
    ----------
    model : SparseAutoencoder
        Fitted, or stopped mid-fit (then the file is a checkpoint that
        ``resume_fit`` continues).
    path : str or path-like
        Destination, conventionally ``*.safetensors``; its folder must exist.
        Replaced atomically.
    extra : dict, optional
        JSON-serialisable notes kept with the model, returned by
        :func:`read_info` (e.g. the shape of the images it was trained on).

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import os, tempfile, warnings
    >>> import numpy as np
    >>> from sparseae import SparseAutoencoder, load
    >>> X = np.random.default_rng(0).uniform(size=(50, 9))
    >>> model = SparseAutoencoder(3, max_iter=5, random_state=0)
    >>> with warnings.catch_warnings(action="ignore"):
    ...     _ = model.fit(X)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save(model, os.path.join(folder, "model.safetensors"),
    ...                 extra={"image_shape": [3, 3]})
    ...     again = load(path)
    ...     info = read_info(path)
    >>> bool((again.transform(X) == model.transform(X)).all())
    True
    >>> info["extra"], info["dtype"], info["format_version"]
    ({'image_shape': [3, 3]}, 'float64', 2)
    """
    check_is_fitted(model)
    arrays = {name: getattr(model, attribute) for name, attribute in WEIGHTS.items()}
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": _library_version(),
        "dtype": model.components_.dtype.name,
        "params": _json_params(model),
        "n_features_in": int(model.n_features_in_),
        "feature_names_in": getattr(model, "feature_names_in_", None),
        "n_iter": int(model.n_iter_),
        "history": model.history_,
        "extra": {} if extra is None else extra,
        "training": None,
    }
    if config["feature_names_in"] is not None:
        config["feature_names_in"] = [str(n) for n in config["feature_names_in"]]
    state = getattr(model, "_training_state", None)
    if state is not None:
        state_arrays, config["training"] = state.to_saved()
        arrays |= {f"training.{name}": value for name, value in state_arrays.items()}
    arrays = {name: np.ascontiguousarray(value) for name, value in arrays.items()}
    try:
        text = json.dumps(config)
    except TypeError as error:
        raise TypeError(
            f"extra must hold only JSON-serialisable values, got {extra!r}: {error}"
        ) from None
    metadata = {CONFIG_KEY: text, DIGEST_KEY: _checksum(text, arrays)}
    return write_bytes_atomically(path, save_tensors(arrays, metadata=metadata))


def _fail(path, reason: str) -> ModelFileError:
    return ModelFileError(f"{path} {reason}")


def _read(path) -> tuple[dict, dict[str, np.ndarray], SparseAutoencoder]:
    """The checked JSON document and arrays of a model file, and its estimator."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {str(path)!r}")
    data = path.read_bytes()
    if len(data) < 8:
        raise _fail(path, f"is empty or truncated ({len(data)} bytes): not a model")
    (header_size,) = struct.unpack("<Q", data[:8])
    if header_size > len(data) - 8:
        raise _fail(
            path,
            f"is truncated or not a safetensors file: its header claims "
            f"{header_size} bytes, the file has {len(data) - 8} after the length",
        )
    text, digest = _metadata(path, data[8 : 8 + header_size])
    config = _json(path, text, "is damaged: its sparseae metadata is not JSON")
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        found = config.get("format") if isinstance(config, dict) else config
        raise _fail(path, f"holds format {found!r}, expected {FORMAT!r}")
    if config.get("format_version") != FORMAT_VERSION:
        raise _fail(
            path,
            f"is in format version {config.get('format_version')!r}, written by "
            f"sparseae {config.get('library_version')}; sparseae "
            f"{_library_version()} reads version {FORMAT_VERSION}",
        )
    try:
        arrays = load_tensors(data)
    except (SafetensorError, KeyError, ValueError, TypeError) as error:
        raise _fail(path, f"is truncated or damaged: {error}") from None
    if digest != _checksum(text, arrays):
        raise _fail(path, "is damaged: its content does not match its SHA-256 digest")
    _check_config(path, config)
    model = _model(path, config)
    _check_arrays(path, config, arrays)
    return config, arrays, model


def _json(path, text, fault: str):
    # Nesting deep enough to exhaust the recursion limit is damage like any other.
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:
        raise _fail(path, f"{fault} ({error})") from None


def _metadata(path, header_bytes) -> tuple[str, str | None]:
    """The sparseae JSON text and digest in a safetensors header."""
    header = _json(
        path, header_bytes, "is not a safetensors file: its header is not JSON"
    )
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    text = metadata.get(CONFIG_KEY) if isinstance(metadata, dict) else None
    if not isinstance(text, str):
        raise _fail(
            path,
            "is a safetensors file but not a sparseae model: no 'sparseae' entry in "
            "its metadata",
        )
    return text, metadata.get(DIGEST_KEY)


def _check_fields(path, where: str, found: dict, expected) -> None:
    missing, unknown = set(expected) - set(found), set(found) - set(expected)
    if missing or unknown:
        raise _fail(
            path,
            f"has a damaged {where}: missing fields {sorted(missing)}, unknown "
            f"fields {sorted(unknown)}",
        )


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_config(path, config: dict) -> None:
    """Check the JSON document's fields, types and ranges."""
    _check_fields(path, "configuration", config, FIELDS)
    for name, kind in FIELDS.items():
        value = config[name]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise _fail(path, f"has {name}={value!r}, of the wrong type")
    if config["dtype"] not in ("float32", "float64"):
        raise _fail(path, f"has dtype={config['dtype']!r}; float32 or float64 only")
    n = config["n_features_in"]
    if n < 1 or not _is_count(config["n_iter"]):
        raise _fail(path, f"has n_features_in={n}, n_iter={config['n_iter']}")
    names = config["feature_names_in"]
    if names is not None and (
        len(names) != n or not all(isinstance(name, str) for name in names)
    ):
        raise _fail(path, f"has feature_names_in that are not {n} strings")
    history = config["history"]
    _check_fields(path, "history", history, HISTORY_KEYS)
    lengths = {len(v) if isinstance(v, list) else -1 for v in history.values()}
    numbers = all(
        isinstance(x, int | float) and not isinstance(x, bool)
        for values in history.values()
        if isinstance(values, list)
        for x in values
    )
    if len(lengths) != 1 or -1 in lengths or not numbers:
        raise _fail(path, "has a damaged history: lists of numbers of one length")


def _model(path, config: dict) -> SparseAutoencoder:
    """An unfitted estimator with the file's checked parameters."""
    params = config["params"]
    _check_fields(path, "params", params, SparseAutoencoder().get_params())
    model = SparseAutoencoder(**params)
    try:
        model._validate_params()
    except InvalidParameterError as error:
        raise _fail(path, f"has invalid params: {error}") from None
    return model.set_params(dtype=getattr(np, config["dtype"]))


def _check_arrays(path, config: dict, arrays: dict[str, np.ndarray]) -> None:
    """Check the weights against the configuration; no array may be unknown."""
    n, h = config["n_features_in"], config["params"]["n_components"]
    dtype = np.dtype(config["dtype"])
    training = {k for k in arrays if k.startswith("training.")}
    unknown = set(arrays) - set(WEIGHTS) - (training if config["training"] else set())
    if unknown:
        raise _fail(path, f"has unknown arrays {sorted(unknown)}")
    for name, shape in zip(BLOCK_NAMES, Params.block_shapes(n, h), strict=True):
        got = arrays.get(name)
        if got is None or got.shape != shape or got.dtype != dtype:
            raise _fail(
                path,
                f"does not match its configuration: {name} should be {dtype} of "
                f"shape {shape} for n_features_in={n}, n_components={h}, got "
                + ("nothing" if got is None else f"{got.dtype} of shape {got.shape}"),
            )
        if not np.isfinite(got).all():
            raise _fail(path, f"has NaN or infinite values in {name}")


def _training_state(path, config: dict, arrays: dict) -> MinibatchState | None:
    if config["training"] is None:
        return None
    n, h = config["n_features_in"], config["params"]["n_components"]
    saved = {
        name.removeprefix("training."): value
        for name, value in arrays.items()
        if name.startswith("training.")
    }
    try:
        state = MinibatchState.from_saved(saved, config["training"])
        state.check(
            Params.vector_size(n, h),
            h,
            np.dtype(config["dtype"]),
            config["params"]["batch_size"],
        )
    except ValueError as error:
        raise _fail(path, f"has a damaged training state: {error}") from None
    return state


def read_info(path) -> dict:
    """The JSON part of a model file: configuration, versions, history, extra.

    Takes ``path`` as :func:`load` does, checks the file as fully, and raises
    the same errors, but builds no model.

    Returns
    -------
    dict
        With keys ``"format_version"``, ``"library_version"``, ``"dtype"``,
        ``"params"``, ``"n_features_in"``, ``"n_iter"``, ``"history"``,
        ``"extra"`` and ``"training"`` (None unless trained by minibatches).
    """
    config, arrays, _ = _read(path)
    _training_state(path, config, arrays)
    return config


def load(path) -> SparseAutoencoder:
    """Read a model written by :func:`save` (or a checkpoint).

    Transforming with the loaded model gives results bit-identical to the
    saved one's.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.

    Returns
    -------
    SparseAutoencoder
        Fitted; with its training state when it was trained by minibatches, so
        ``partial_fit`` and ``resume_fit`` go on exactly.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    OSError
        If the file cannot be read.
    ModelFileError
        A ``ValueError`` naming the file and the fault, if it is truncated,
        damaged in any byte, not a sparseae model, of another format version,
        or holds fields, parameters or arrays that are missing, unknown, of the
        wrong type, shape or range.
    """
    config, arrays, model = _read(path)
    n, h = config["n_features_in"], model.n_components
    theta = np.concatenate([arrays[name].ravel() for name in WEIGHTS])
    model._store(Params.from_vector(theta, n, h))
    model.n_features_in_ = n
    if config["feature_names_in"] is not None:
        model.feature_names_in_ = np.asarray(config["feature_names_in"], dtype=object)
    model.n_iter_ = config["n_iter"]
    model.history_ = config["history"]
    model.loss_curve_ = list(config["history"]["loss"])
    model._training_state = _training_state(path, config, arrays)
    return model
