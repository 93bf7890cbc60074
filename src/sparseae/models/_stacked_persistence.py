"""A StackedAutoencoder in a model file: its fields, arrays and their checks.

The same file format as a :class:`SparseAutoencoder`'s
(:mod:`sparseae.io.model_file`: safetensors, a JSON document, a SHA-256
digest), under the name ``"sparseae.StackedAutoencoder"``.  The document
holds the configuration, the class labels, the fitting times and, for each
pretrained autoencoder, the fields its own format writes (without a training
state: a stack is not resumed); the arrays are the fine-tuned weights and
intercepts of every layer, the softmax layer's weights before fine-tuning, and
each autoencoder's four blocks under ``autoencoders.{i}.``.  Everything is
checked on reading, as for the autoencoder, and the layers' shapes against
each other.  Importing :mod:`sparseae.models` registers the format.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..io.model_file import ModelFileError, check_fields, register
from . import _persistence as autoencoder_file
from .stacked import StackedAutoencoder

__all__ = ["FORMAT"]

FORMAT = "sparseae.StackedAutoencoder"
# The document's fields after the common head, in the order written, and
# their types; every one must be there, and no other.
FIELDS = {
    "dtype": str,
    "params": dict,
    "n_features_in": int,
    "feature_names_in": (list, type(None)),
    "classes": list,
    "n_iter": int,
    "fit_times": dict,
    "autoencoders": list,
    "extra": dict,
}
# An autoencoder's own fields, as its format writes them (less "extra").
AUTOENCODER_FIELDS = {k: v for k, v in autoencoder_file.FIELDS.items() if k != "extra"}
LABEL_TYPES = (str, int, float)


def dump(
    model: StackedAutoencoder, *, training_state: bool = True
) -> tuple[dict, dict[str, np.ndarray]]:
    """The JSON fields and the arrays of a fitted ``model``.

    A stack keeps no solver state to continue from, whatever ``training_state``.
    """
    check_is_fitted(model)
    fitted = [a.n_components for a in model.autoencoders_]
    if model._check_layer_sizes() != fitted:
        raise ValueError(
            f"cannot save: hidden_layer_sizes={model.hidden_layer_sizes!r} was set "
            f"after the fit, whose layers have {tuple(fitted)} units; set "
            f"hidden_layer_sizes={tuple(fitted)} again, or fit before saving"
        )
    params = autoencoder_file.json_params(model)
    params["hidden_layer_sizes"] = [int(s) for s in params["hidden_layer_sizes"]]
    arrays = {}
    for name in ("weights", "intercepts"):
        for layer, array in enumerate(getattr(model, f"{name}_")):
            arrays[f"{name}.{layer}"] = array
    arrays["pretrained_softmax.weights"] = model.pretrained_weights_[-1]
    arrays["pretrained_softmax.intercepts"] = model.pretrained_intercepts_[-1]
    autoencoders = []
    for i, autoencoder in enumerate(model.autoencoders_):
        fields, blocks = autoencoder_file.dump(autoencoder, training_state=False)
        autoencoders.append(fields)
        arrays |= {
            f"autoencoders.{i}.{name}": blocks[name]
            for name in autoencoder_file.WEIGHTS
        }
    names = getattr(model, "feature_names_in_", None)
    fields = {
        "dtype": model.weights_[0].dtype.name,
        "params": params,
        "n_features_in": int(model.n_features_in_),
        "feature_names_in": None if names is None else [str(n) for n in names],
        "classes": model.classes_.tolist(),
        "n_iter": int(model.n_iter_),
        "fit_times": {k: float(v) for k, v in model.fit_times_.items()},
        "autoencoders": autoencoders,
    }
    return fields, arrays


def _unfitted(document: dict) -> tuple[StackedAutoencoder, list[int]]:
    params = dict(document["params"])
    check_fields("params", params, StackedAutoencoder().get_params())
    if isinstance(params["hidden_layer_sizes"], list):
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    model = StackedAutoencoder(**params)
    try:
        model._validate_params()
        sizes = model._check_layer_sizes()
    except (TypeError, ValueError) as error:  # scikit-learn's InvalidParameterError
        raise ModelFileError(f"has invalid params: {error}") from None
    if document["dtype"] not in ("float32", "float64"):
        raise ModelFileError(
            f"has dtype={document['dtype']!r}; float32 or float64 only"
        )
    return model.set_params(dtype=getattr(np, document["dtype"])), sizes


def _check_document(document: dict, sizes: list[int]) -> None:
    n = document["n_features_in"]
    if n < 1 or not autoencoder_file._is_count(document["n_iter"]):
        raise ModelFileError(f"has n_features_in={n}, n_iter={document['n_iter']}")
    names = document["feature_names_in"]
    if names is not None and (
        len(names) != n or not all(isinstance(name, str) for name in names)
    ):
        raise ModelFileError(f"has feature_names_in that are not {n} strings")
    classes = document["classes"]
    if (
        len(classes) < 2
        # Booleans are labels of their own type (y of True and False), never
        # numbers: one type for all, so [0, True] is refused.
        or not all(isinstance(c, LABEL_TYPES) for c in classes)
        or len({type(c) for c in classes}) != 1
        or sorted(classes) != classes
        or len(set(classes)) != len(classes)
    ):
        raise ModelFileError(
            "has classes that are not 2 or more distinct, sorted labels of one type"
        )
    times = document["fit_times"]
    if not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in times.values()
    ):
        raise ModelFileError("has fit_times that are not numbers of seconds")
    if len(document["autoencoders"]) != len(sizes):
        raise ModelFileError(
            f"has {len(document['autoencoders'])} autoencoders for "
            f"hidden_layer_sizes={sizes}"
        )


def _autoencoders(document: dict, arrays: dict, sizes: list[int]) -> list:
    """The pretrained autoencoders, each checked as its own format checks it."""
    found, inputs = [], document["n_features_in"]
    for i, (fields, size) in enumerate(
        zip(document["autoencoders"], sizes, strict=True)
    ):
        where = f"autoencoder {i}"
        if not isinstance(fields, dict):
            raise ModelFileError(f"has a damaged {where}: not a JSON object")
        check_fields(where, fields, AUTOENCODER_FIELDS)
        for name, kind in AUTOENCODER_FIELDS.items():
            value = fields[name]
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ModelFileError(f"has {where} {name}={value!r}, of the wrong type")
        if fields["training"] is not None:
            raise ModelFileError(f"has a training state in {where}")
        prefix = f"autoencoders.{i}."
        blocks = {
            name.removeprefix(prefix): value
            for name, value in arrays.items()
            if name.startswith(prefix)
        }
        try:
            autoencoder = autoencoder_file.restore(fields, blocks)
        except ModelFileError as error:
            raise ModelFileError(f"has a damaged {where}: {error}") from None
        if (
            autoencoder.n_features_in_ != inputs
            or autoencoder.n_components != size
            or autoencoder.components_.dtype.name != document["dtype"]
        ):
            raise ModelFileError(
                f"has {where} of {autoencoder.n_features_in_} -> "
                f"{autoencoder.n_components} units in "
                f"{autoencoder.components_.dtype}, expected {inputs} -> {size} in "
                f"{document['dtype']}"
            )
        found.append(autoencoder)
        inputs = size
    return found


def _layers(document: dict, arrays: dict, sizes: list[int]) -> dict[str, list]:
    """The fine-tuned layers and the pretrained softmax, checked; no unknown array."""
    units = [document["n_features_in"], *sizes, len(document["classes"])]
    dtype = np.dtype(document["dtype"])
    expected = {}
    for layer in range(len(sizes) + 1):
        expected[f"weights.{layer}"] = (units[layer + 1], units[layer])
        expected[f"intercepts.{layer}"] = (units[layer + 1],)
    expected["pretrained_softmax.weights"] = expected[f"weights.{len(sizes)}"]
    expected["pretrained_softmax.intercepts"] = expected[f"intercepts.{len(sizes)}"]
    blocks = {
        f"autoencoders.{i}.{block}"
        for i in range(len(sizes))
        for block in autoencoder_file.WEIGHTS
    }
    unknown = set(arrays) - set(expected) - blocks
    if unknown:
        raise ModelFileError(f"has unknown arrays {sorted(unknown)}")
    for name, shape in expected.items():
        got = arrays.get(name)
        if got is None or got.shape != shape or got.dtype != dtype:
            raise ModelFileError(
                f"does not match its configuration: {name} should be {dtype} of "
                f"shape {shape}, got "
                + ("nothing" if got is None else f"{got.dtype} of shape {got.shape}")
            )
        if not np.isfinite(got).all():
            raise ModelFileError(f"has NaN or infinite values in {name}")
    count = len(sizes) + 1
    return {
        name: [arrays[f"{name}.{layer}"] for layer in range(count)]
        for name in ("weights", "intercepts")
    }


def restore(document: dict, arrays: dict[str, np.ndarray]) -> StackedAutoencoder:
    """The fitted estimator a checked document and its arrays describe."""
    model, sizes = _unfitted(document)
    _check_document(document, sizes)
    layers = _layers(document, arrays, sizes)
    model.autoencoders_ = _autoencoders(document, arrays, sizes)
    model.weights_, model.intercepts_ = layers["weights"], layers["intercepts"]
    model.pretrained_weights_ = [a.components_ for a in model.autoencoders_]
    model.pretrained_weights_.append(arrays["pretrained_softmax.weights"])
    model.pretrained_intercepts_ = [a.intercept_hidden_ for a in model.autoencoders_]
    model.pretrained_intercepts_.append(arrays["pretrained_softmax.intercepts"])
    model.classes_ = np.asarray(document["classes"])
    model.n_features_in_ = document["n_features_in"]
    if document["feature_names_in"] is not None:
        model.feature_names_in_ = np.asarray(document["feature_names_in"], dtype=object)
    model.n_iter_ = document["n_iter"]
    model.fit_times_ = dict(document["fit_times"])
    return model


register(FORMAT, StackedAutoencoder, fields=FIELDS, dump=dump, restore=restore)
