"""Model files: safetensors for arrays, JSON for the rest, no pickle.

One file holds one estimator.  Its arrays are safetensors tensors; everything
else is a JSON document in the safetensors header's metadata, under the key
``"sparseae"``.  Nothing is ever unpickled, so loading a file from elsewhere
runs no code.

The document opens with the same three fields for every estimator:
``"format"`` (which estimator, e.g. ``"sparseae.SparseAutoencoder"``),
``"format_version"`` and ``"library_version"``; the user's notes are under
``"extra"``.  The other fields and the arrays belong to the format, which the
module defining the estimator registers with :func:`register`: this module
imports no estimator class, and :func:`load` finds the format by the name the
file gives.  Importing :mod:`sparseae.models` registers the library's formats;
:func:`load` and :func:`read_info` import it by name when a file names one of
them, so they work in a fresh interpreter while ``import sparseae.io`` stays
cheap.

A SHA-256 digest of the JSON text and of every array's name, type, shape and
bytes is stored beside it (``"sparseae.sha256"``), so any damage to the file,
even one flipped bit, is refused rather than loaded as a subtly different
model.  A file that passes the digest is still checked field by field: here
every field present, no other, and each of the type its format declares; then
the format checks the values, the arrays and their agreement.

The file is written to a temporary name in the same folder, flushed to disk
and renamed over the destination, so a crash or SIGKILL mid-save leaves the
previous file intact (:mod:`sparseae.io.atomic`).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as load_tensors
from safetensors.numpy import save as save_tensors

from .._version import __version__
from .atomic import as_path, write_bytes_atomically

__all__ = [
    "FORMAT_VERSION",
    "ModelFileError",
    "ModelFormat",
    "check_fields",
    "load",
    "read_info",
    "register",
    "save",
]

# 2: the digest covers the JSON and the arrays' types and shapes (1: the
# arrays' bytes only, and training states had no start_loss).
FORMAT_VERSION = 2
CONFIG_KEY, DIGEST_KEY = "sparseae", "sparseae.sha256"
# The fields every document starts with, before its format's own.
HEAD = {"format": str, "format_version": int, "library_version": str}


class ModelFileError(ValueError):
    """A file that is not a readable sparseae model: says which and why."""


@dataclass(frozen=True)
class ModelFormat:
    """How one estimator class is written to a model file and read back.

    Attributes
    ----------
    name : str
        The document's ``"format"``, e.g. ``"sparseae.SparseAutoencoder"``.
    estimator : type
        The class written in this format (and its subclasses).
    fields : mapping of str to type or tuple of types
        The document's fields after :data:`HEAD`, in the order written, with
        the types their values must have; ``"extra"`` among them, where the
        user's notes go.
    dump : callable
        ``dump(model) -> (fields, arrays)``: the JSON-serialisable values of
        ``fields`` except ``"extra"``, and a dict of named arrays.  A format
        whose models keep a solver's state takes ``training_state`` too
        (``dump(model, *, training_state)``), and leaves that state out when
        it is False.  Raises scikit-learn's ``NotFittedError`` for a model
        with nothing to save.
    restore : callable
        ``restore(document, arrays) -> model``, given a document whose fields
        are all there and of their types.  Raises :class:`ModelFileError`
        saying what is wrong (the file's name is added) for anything else it
        finds invalid.
    """

    name: str
    estimator: type
    fields: Mapping[str, type | tuple[type, ...]]
    dump: Callable
    restore: Callable


_FORMATS: dict[str, ModelFormat] = {}
# The library's own formats and the module whose import registers them,
# imported by name on the first file that needs one: io sits below models in
# the layers (docs/architecture.md), so this is a lookup, not an import.
_REGISTERED_BY = {
    "sparseae.SparseAutoencoder": "sparseae.models",
    "sparseae.StackedAutoencoder": "sparseae.models",
}


def _format_named(name) -> ModelFormat | None:
    """The format registered as ``name``, importing the library's on demand."""
    if not isinstance(name, str):
        return None
    if name not in _FORMATS and name in _REGISTERED_BY:
        importlib.import_module(_REGISTERED_BY[name])
    return _FORMATS.get(name)


def register(name: str, estimator: type, *, fields, dump, restore) -> ModelFormat:
    """Make :func:`save` write ``estimator`` in format ``name``, :func:`load` read it.

    See :class:`ModelFormat` for the arguments.  Registering the same name
    again replaces the format (as reloading its module does).

    Returns
    -------
    ModelFormat
    """
    if "extra" not in fields or set(HEAD) & set(fields):
        raise ValueError(
            f"fields must hold 'extra' and none of {sorted(HEAD)}, got {list(fields)}"
        )
    model_format = ModelFormat(name, estimator, dict(fields), dump, restore)
    _FORMATS[name] = model_format
    return model_format


def _format_of(model) -> ModelFormat:
    for kind in type(model).__mro__:
        for model_format in _FORMATS.values():
            if model_format.estimator is kind:
                return model_format
    raise TypeError(
        f"no model-file format for {type(model).__name__}; the registered ones are "
        f"for {sorted(f.estimator.__name__ for f in _FORMATS.values())}"
    )


def _checksum(text: str, arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256(text.encode())
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"\0{name}\0{array.dtype.str}\0{array.shape}\0".encode())
        digest.update(array.data)
    return digest.hexdigest()


def save(model, path, *, extra=None, training_state=True) -> Path:
    """Write a fitted estimator to ``path`` in its registered format.

    Parameters
    ----------
    model : estimator
        Of a class with a registered format, e.g.
        :class:`~sparseae.SparseAutoencoder`: fitted, or stopped mid-fit (then
        the file is a checkpoint that ``resume_fit`` continues).
    path : str, bytes or path-like
        Destination, conventionally ``*.safetensors``; its folder must exist.
        Replaced atomically, keeping an existing file's permission bits; a
        symbolic link is written through to its target; a read-only file is
        refused (``PermissionError``), not replaced.
    extra : dict, optional
        Notes kept with the model, returned by :func:`read_info` (e.g. the
        shape of the images it was trained on): a dict with str keys whose
        values JSON can hold (str, int, float, bool, None, and lists and dicts
        of them).
    training_state : bool, default=True
        Whether to keep what continuing the fit needs: for L-BFGS the
        correction pairs (20 vectors the size of the weights with the default
        ``lbfgs_memory=10``), for SGD and Adam the optimiser's moments and the
        epoch's order, so that ``resume_fit`` (or a larger ``max_iter``)
        continues to the bits of one run.  False writes the weights,
        parameters and history alone: a file many times smaller, which
        encodes, decodes and scores the same, and starts any further training
        afresh.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    TypeError
        If no format is registered for the model's class, ``extra`` is not
        such a dict, or ``training_state`` is not a bool.
    FileNotFoundError, IsADirectoryError, PermissionError
        If ``path``'s folder is missing, ``path`` is a folder, or a read-only
        file (see :func:`~sparseae.io.atomic.write_bytes_atomically`).

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
    path = as_path(path)
    extra = _checked_extra(extra)
    if not isinstance(training_state, bool):
        raise TypeError(f"training_state must be True or False, got {training_state!r}")
    model_format = _format_of(model)
    options = {}
    if "training_state" in inspect.signature(model_format.dump).parameters:
        options["training_state"] = training_state
    values, arrays = model_format.dump(model, **options)
    values = values | {"extra": extra}
    document = {
        "format": model_format.name,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
    } | {name: values[name] for name in model_format.fields}
    arrays = {name: np.ascontiguousarray(value) for name, value in arrays.items()}
    for name, value in document.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError) as error:
            # The format's own fault, not the user's: say which field.
            raise TypeError(
                f"cannot save {type(model).__name__}: its {name}={value!r} is not "
                f"JSON-serialisable ({error})"
            ) from None
    text = json.dumps(document)
    metadata = {CONFIG_KEY: text, DIGEST_KEY: _checksum(text, arrays)}
    return write_bytes_atomically(path, save_tensors(arrays, metadata=metadata))


def _checked_extra(extra) -> dict:
    """``extra``, or ``{}`` for None, if a file can hold it and give it back."""
    valid = (
        "a dict with str keys and JSON-serialisable values (str, int, float, bool, "
        "None, and lists and dicts of them)"
    )
    if extra is None:
        return {}
    if not isinstance(extra, dict):
        raise TypeError(f"extra must be {valid}, got {type(extra).__name__} {extra!r}")
    keys = [key for key in extra if not isinstance(key, str)]
    if keys:
        raise TypeError(f"extra must be {valid}, got keys {keys!r}")
    try:
        json.dumps(extra)
    except (TypeError, ValueError, RecursionError) as error:
        raise TypeError(f"extra must be {valid}, got {extra!r} ({error})") from None
    return extra


def check_fields(where: str, found: dict, expected) -> None:
    """Raise :class:`ModelFileError` unless ``found`` has exactly the keys expected.

    For formats checking the dicts inside their documents.

    Examples
    --------
    >>> check_fields("params", {"a": 1, "c": 2}, {"a": int, "b": int})
    Traceback (most recent call last):
    ...
    sparseae.io.model_file.ModelFileError: has a damaged params: missing fields \
['b'], unknown fields ['c']
    """
    missing, unknown = set(expected) - set(found), set(found) - set(expected)
    if missing or unknown:
        raise ModelFileError(
            f"has a damaged {where}: missing fields {sorted(missing)}, unknown "
            f"fields {sorted(unknown)}"
        )


def _read(path) -> tuple[dict, dict[str, np.ndarray], ModelFormat]:
    """The document, arrays and format of a model file, checked as far as here."""
    path = as_path(path)
    if path.is_dir():
        raise FileNotFoundError(
            f"no model file at {str(path)!r}: it is a folder; pass the model "
            "file in it (e.g. model.safetensors)"
        )
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {str(path)!r}")
    data = path.read_bytes()
    try:
        return _parse(data)
    except ModelFileError as error:
        raise ModelFileError(f"{path} {error}") from None


def _parse(data: bytes) -> tuple[dict, dict[str, np.ndarray], ModelFormat]:
    if len(data) < 8:
        raise ModelFileError(f"is empty or truncated ({len(data)} bytes): not a model")
    (header_size,) = struct.unpack("<Q", data[:8])
    if header_size > len(data) - 8:
        raise ModelFileError(
            f"is truncated or not a safetensors file: its header claims "
            f"{header_size} bytes, the file has {len(data) - 8} after the length"
        )
    text, digest = _metadata(data[8 : 8 + header_size])
    document = _json(text, "is damaged: its sparseae metadata is not JSON")
    found = document.get("format") if isinstance(document, dict) else document
    model_format = _format_named(found)
    if model_format is None:
        expected = " or ".join(repr(name) for name in sorted(_FORMATS))
        raise ModelFileError(
            f"holds format {found!r}, expected {expected or 'one registered'}"
            + ("" if _FORMATS else " (import sparseae.models to register them)")
        )
    if document.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"is in format version {document.get('format_version')!r}, written by "
            f"sparseae {document.get('library_version')}; sparseae "
            f"{__version__} reads version {FORMAT_VERSION}"
        )
    try:
        arrays = load_tensors(data)
    except (SafetensorError, KeyError, ValueError, TypeError) as error:
        raise ModelFileError(f"is truncated or damaged: {error}") from None
    if digest != _checksum(text, arrays):
        raise ModelFileError(
            "is damaged: its content does not match its SHA-256 digest"
        )
    fields = HEAD | model_format.fields
    check_fields("configuration", document, fields)
    for name, kind in fields.items():
        value = document[name]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ModelFileError(f"has {name}={value!r}, of the wrong type")
    return document, arrays, model_format


def _json(text, fault: str):
    # Nesting deep enough to exhaust the recursion limit is damage like any other.
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:
        raise ModelFileError(f"{fault} ({error})") from None


def _metadata(header_bytes) -> tuple[str, str | None]:
    """The sparseae JSON text and digest in a safetensors header."""
    header = _json(header_bytes, "is not a safetensors file: its header is not JSON")
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    text = metadata.get(CONFIG_KEY) if isinstance(metadata, dict) else None
    if not isinstance(text, str):
        raise ModelFileError(
            "is a safetensors file but not a sparseae model: no 'sparseae' entry in "
            "its metadata"
        )
    return text, metadata.get(DIGEST_KEY)


def _restore(path):
    path = as_path(path)
    document, arrays, model_format = _read(path)
    try:
        return document, model_format.restore(document, arrays)
    except ModelFileError as error:
        raise ModelFileError(f"{path} {error}") from None


def read_info(path) -> dict:
    """The JSON document of a model file: configuration, versions, history, extra.

    Takes ``path`` as :func:`load` does, checks the file as fully, and raises
    the same errors, but returns only the document.

    Returns
    -------
    dict
        With keys ``"format"``, ``"format_version"``, ``"library_version"``
        and ``"extra"``, and its format's: for a
        :class:`~sparseae.SparseAutoencoder`, ``"dtype"``, ``"params"``,
        ``"n_features_in"``, ``"feature_names_in"``, ``"n_iter"``,
        ``"history"`` and ``"training"`` (None unless trained by minibatches).
    """
    document, _ = _restore(path)
    return document


def load(path):
    """Read a model written by :func:`save` (or a checkpoint).

    Transforming with the loaded model gives results bit-identical to the
    saved one's.

    Parameters
    ----------
    path : str, bytes or path-like
        A file written by :func:`save`.

    Returns
    -------
    estimator
        Of the class the file's format names, fitted; a
        :class:`~sparseae.SparseAutoencoder` trained by minibatches comes with
        its training state, so ``partial_fit`` and ``resume_fit`` go on
        exactly.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``, or it is a folder.
    OSError
        If the file cannot be read.
    ModelFileError
        A ``ValueError`` naming the file and the fault, if it is truncated,
        damaged in any byte, not a sparseae model, of another format version,
        or holds fields, parameters or arrays that are missing, unknown, of the
        wrong type, shape or range.
    """
    _, model = _restore(path)
    return model
