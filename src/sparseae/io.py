"""Saving and loading models: safetensors for arrays, JSON for the rest, no pickle.

One file holds everything.  The arrays (the four weight blocks, and for a model
trained by minibatches the optimiser's state, the running ρ̂ and the epoch's
order) are safetensors tensors; the configuration, library version, dtype,
format version, training history and the rest of the training state are a
JSON document in the safetensors header's metadata, under the key
``"sparseae"``.  Nothing is ever unpickled, so loading a file from elsewhere
runs no code.

The file is written to a temporary name in the same folder, flushed to disk
and renamed over the destination, so a crash or Ctrl-C mid-save leaves the
previous file intact.
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
from sklearn.utils.validation import check_is_fitted

from ._atomic import write_bytes_atomically
from .estimator import SparseAutoencoder
from .minibatch_training import MinibatchState
from .params import Params

__all__ = ["FORMAT", "FORMAT_VERSION", "ModelFileError", "load", "read_info", "save"]

FORMAT = "sparseae.SparseAutoencoder"
FORMAT_VERSION = 1
WEIGHTS = {"W1": "components_", "b1": "intercept_hidden_"}
WEIGHTS |= {"W2": "decoder_weights_", "b2": "intercept_visible_"}


class ModelFileError(ValueError):
    """A file that is not a readable sparseae model: says which and why."""


def _library_version() -> str:
    from . import __version__

    return __version__


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(arrays[name]).data)
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
    ({'image_shape': [3, 3]}, 'float64', 1)
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
    config["checksum"] = _checksum(arrays)
    try:
        metadata = {"sparseae": json.dumps(config)}
    except TypeError as error:
        raise TypeError(
            f"extra must hold only JSON-serialisable values, got {extra!r}: {error}"
        ) from None
    write_bytes_atomically(path, save_tensors(arrays, metadata=metadata))
    return Path(path)


def _read(path) -> tuple[dict, dict[str, np.ndarray]]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {str(path)!r}")
    data = path.read_bytes()
    if len(data) < 8:
        raise ModelFileError(
            f"{path} is empty or truncated ({len(data)} bytes): not a safetensors "
            "model file"
        )
    (header_size,) = struct.unpack("<Q", data[:8])
    if header_size > len(data) - 8:
        raise ModelFileError(
            f"{path} is truncated or not a safetensors file: its header claims "
            f"{header_size} bytes, the file has {len(data) - 8} after the length"
        )
    try:
        header = json.loads(data[8 : 8 + header_size])
        config = json.loads(header["__metadata__"]["sparseae"])
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(
            f"{path} is not a safetensors file (its header is not JSON: {error})"
        ) from None
    except (KeyError, TypeError):
        raise ModelFileError(
            f"{path} is a safetensors file but not a sparseae model: no 'sparseae' "
            "entry in its metadata"
        ) from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(
            f"{path} holds format {config.get('format')!r}, expected {FORMAT!r}"
        )
    if config.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} is in format version {config.get('format_version')!r}, written "
            f"by sparseae {config.get('library_version')}; sparseae "
            f"{_library_version()} reads version {FORMAT_VERSION}"
        )
    try:
        arrays = load_tensors(data)
    except SafetensorError as error:
        raise ModelFileError(f"{path} is truncated or damaged: {error}") from None
    if _checksum(arrays) != config.get("checksum"):
        raise ModelFileError(
            f"{path} is damaged: its arrays do not match the checksum saved with them"
        )
    return config, arrays


def read_info(path) -> dict:
    """The JSON part of a model file: configuration, versions, history, extra.

    Takes ``path`` as :func:`load` does, and raises the same errors, but builds
    no model.

    Returns
    -------
    dict
        With keys ``"format_version"``, ``"library_version"``, ``"dtype"``,
        ``"params"``, ``"n_features_in"``, ``"n_iter"``, ``"history"``,
        ``"extra"`` and ``"training"`` (None unless trained by minibatches).
    """
    return _read(path)[0]


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
    ModelFileError
        If the file is truncated, damaged, not a sparseae model, of an unknown
        format version, or its arrays do not match its configuration.
    """
    config, arrays = _read(path)
    params = dict(config["params"])
    params["dtype"] = getattr(np, config["dtype"])
    model = SparseAutoencoder(**params)
    n, h = config["n_features_in"], params["n_components"]
    expected = Params.zeros(n, h)
    for name, block in expected.items():
        got = arrays.get(name)
        if got is None or got.shape != block.shape or got.dtype.name != config["dtype"]:
            raise ModelFileError(
                f"{path} does not match its configuration: {name} should be "
                f"{config['dtype']} of shape {block.shape} for n_features_in={n}, "
                f"n_components={h}, got "
                + ("nothing" if got is None else f"{got.dtype} of shape {got.shape}")
            )
    theta = np.concatenate([arrays[name].ravel() for name in WEIGHTS])
    model._store(Params.from_vector(theta, n, h))
    model.n_features_in_ = n
    if config["feature_names_in"] is not None:
        model.feature_names_in_ = np.asarray(config["feature_names_in"], dtype=object)
    model.n_iter_ = config["n_iter"]
    model.history_ = config["history"]
    model.loss_curve_ = list(config["history"]["loss"])
    model._training_state = None
    if config["training"] is not None:
        training = {
            name.removeprefix("training."): value
            for name, value in arrays.items()
            if name.startswith("training.")
        }
        model._training_state = MinibatchState.from_saved(training, config["training"])
    return model
