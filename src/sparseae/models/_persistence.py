"""A SparseAutoencoder in a model file: its fields, arrays and their checks.

:mod:`sparseae.io.model_file` writes and reads the file (digest, envelope,
atomic write); this module says what a :class:`SparseAutoencoder` puts in it
(the four weight blocks, and for a model trained by minibatches the
optimiser's state, the running ρ̂, the samples since each unit fired and the
epoch's order, for one trained by L-BFGS its iterate, gradient and correction
pairs, as arrays; the configuration, dtype, history and the rest of the
training state as JSON) and checks what comes back.  Files written before a
parameter or history entry was added load with the value that behaves as
their models did.  It registers the format when imported, which importing
:mod:`sparseae.models` does.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..core.params import BLOCK_NAMES, Params
from ..io.model_file import ModelFileError, check_fields, register
from ..training.history import HISTORY_KEYS
from ..training.state import LbfgsRun, MinibatchState
from .autoencoder import SparseAutoencoder

__all__ = ["FORMAT"]

FORMAT = "sparseae.SparseAutoencoder"
WEIGHTS = {"W1": "components_", "b1": "intercept_hidden_"}
WEIGHTS |= {"W2": "decoder_weights_", "b2": "intercept_visible_"}
# Estimator parameters that older files lack, with the values those files'
# models had.
ADDED_PARAMS = {"hidden_activation": "sigmoid", "k": None, "unit_norm_decoder": False}
ADDED_PARAMS |= {"aux_k": None, "aux_weight": 1 / 32, "dead_after": None}
ADDED_PARAMS |= {"tied_weights": False}
# History entries that older files lack: the auxiliary loss, 0 without aux_k.
ADDED_HISTORY = ("auxiliary",)
# The document's fields after the common head, in the order written, and
# their types; every one must be there, and no other.
FIELDS = {
    "dtype": str,
    "params": dict,
    "n_features_in": int,
    "feature_names_in": (list, type(None)),
    "n_iter": int,
    "history": dict,
    "extra": dict,
    "training": (dict, type(None)),
}


def json_params(model) -> dict:
    """``model``'s parameters as JSON holds them, NumPy scalars as Python numbers.

    A random_state that is a ``RandomState`` or ``Generator`` is saved as None,
    with a ``UserWarning``: its state belongs to the run, not the
    configuration (a training state keeps what a resumed run needs), but a
    model refitted from the file will not draw the fit's numbers.
    """
    params = {
        name: value.item() if isinstance(value, np.generic) else value
        for name, value in model.get_params(deep=False).items()
    }
    params["dtype"] = np.dtype(params["dtype"]).name
    random_state = params["random_state"]
    if not isinstance(random_state, int | None) or isinstance(random_state, bool):
        warnings.warn(
            f"random_state={random_state!r} cannot be saved in a model file, only "
            "an int or None can: it is saved as None, so refitting the loaded "
            "model will not reproduce the fit's seed; pass random_state=<int> to "
            "keep it",
            UserWarning,
            stacklevel=4,
        )
        params["random_state"] = None
    return params


def dump(
    model: SparseAutoencoder, *, training_state: bool = True
) -> tuple[dict, dict[str, np.ndarray]]:
    """The JSON fields and the arrays of a fitted or checkpointed ``model``.

    ``training_state=False`` leaves out the solver's state (``training``: null).
    """
    check_is_fitted(model)
    _check_loadable(model)
    arrays = {name: getattr(model, attribute) for name, attribute in WEIGHTS.items()}
    names = getattr(model, "feature_names_in_", None)
    fields = {
        "dtype": model.components_.dtype.name,
        "params": json_params(model),
        "n_features_in": int(model.n_features_in_),
        "feature_names_in": None if names is None else [str(n) for n in names],
        "n_iter": int(model.n_iter_),
        "history": model.history_,
        "training": None,
    }
    state = getattr(model, "_training_state", None) if training_state else None
    if state is not None:
        state_arrays, fields["training"] = state.to_saved()
        arrays |= {f"training.{name}": value for name, value in state_arrays.items()}
    return fields, arrays


def _check_loadable(model: SparseAutoencoder) -> None:
    """Refuse to write a file :func:`restore` would refuse to read.

    Parameters set after the fit (``set_params``) can disagree with the fitted
    weights or training state; the file would hold the new parameters with
    the old arrays.  The shape and L-BFGS memory are checked here, as
    :func:`restore` would; a minibatch state's checks are left to reading
    (they sort the epoch's order, too costly for every checkpoint).
    """
    h = model.components_.shape[0]
    if model.n_components != h:
        raise ValueError(
            f"cannot save: n_components={model.n_components} was set after the "
            f"fit, whose weights have {h} hidden units; set n_components={h} "
            "again, or fit before saving"
        )
    state = getattr(model, "_training_state", None)
    if isinstance(state, LbfgsRun) and len(state.solver.s) > model.lbfgs_memory:
        raise ValueError(
            f"cannot save: lbfgs_memory={model.lbfgs_memory} was set after the fit, "
            f"whose L-BFGS state holds {len(state.solver.s)} correction pairs; set "
            f"lbfgs_memory={len(state.solver.s)} or more, or fit before saving"
        )


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_document(document: dict) -> None:
    """Check the ranges of the document's fields, whose types are checked."""
    if document["dtype"] not in ("float32", "float64"):
        raise ModelFileError(
            f"has dtype={document['dtype']!r}; float32 or float64 only"
        )
    n = document["n_features_in"]
    if n < 1 or not _is_count(document["n_iter"]):
        raise ModelFileError(f"has n_features_in={n}, n_iter={document['n_iter']}")
    names = document["feature_names_in"]
    if names is not None and (
        len(names) != n or not all(isinstance(name, str) for name in names)
    ):
        raise ModelFileError(f"has feature_names_in that are not {n} strings")
    history = document["history"] = _upgraded_history(document["history"])
    check_fields("history", history, HISTORY_KEYS)
    lengths = {len(v) if isinstance(v, list) else -1 for v in history.values()}
    numbers = all(
        isinstance(x, int | float) and not isinstance(x, bool)
        for values in history.values()
        if isinstance(values, list)
        for x in values
    )
    if len(lengths) != 1 or -1 in lengths or not numbers:
        raise ModelFileError("has a damaged history: lists of numbers of one length")


def _upgraded_history(history: dict) -> dict:
    """``history`` with the entries added since older files, in their places."""
    missing = [key for key in ADDED_HISTORY if key not in history]
    if not missing or not isinstance(history.get("loss"), list):
        return history
    zeros = [0.0] * len(history["loss"])
    known = {
        key: history[key] if key in history else list(zeros)
        for key in HISTORY_KEYS
        if key in history or key in missing
    }
    return known | history


def _unfitted(document: dict) -> SparseAutoencoder:
    """An unfitted estimator with the document's checked parameters."""
    # Parameters added since files were first written take the value that
    # behaves as those files' models did.
    params = ADDED_PARAMS | document["params"]
    check_fields("params", params, SparseAutoencoder().get_params())
    model = SparseAutoencoder(**params)
    try:
        model._validate_params()
    except (TypeError, ValueError) as error:  # scikit-learn's InvalidParameterError
        raise ModelFileError(f"has invalid params: {error}") from None
    return model.set_params(dtype=getattr(np, document["dtype"]))


def _check_arrays(document: dict, arrays: dict[str, np.ndarray]) -> None:
    """Check the weights against the document; no array may be unknown."""
    n, h = document["n_features_in"], document["params"]["n_components"]
    dtype = np.dtype(document["dtype"])
    training = {k for k in arrays if k.startswith("training.")}
    unknown = set(arrays) - set(WEIGHTS) - (training if document["training"] else set())
    if unknown:
        raise ModelFileError(f"has unknown arrays {sorted(unknown)}")
    for name, shape in zip(BLOCK_NAMES, Params.block_shapes(n, h), strict=True):
        got = arrays.get(name)
        if got is None or got.shape != shape or got.dtype != dtype:
            raise ModelFileError(
                f"does not match its configuration: {name} should be {dtype} of "
                f"shape {shape} for n_features_in={n}, n_components={h}, got "
                + ("nothing" if got is None else f"{got.dtype} of shape {got.shape}"),
            )
        if not np.isfinite(got).all():
            raise ModelFileError(f"has NaN or infinite values in {name}")


def _training_state(document: dict, arrays: dict) -> MinibatchState | LbfgsRun | None:
    if document["training"] is None:
        return None
    n, h = document["n_features_in"], document["params"]["n_components"]
    saved = {
        name.removeprefix("training."): value
        for name, value in arrays.items()
        if name.startswith("training.")
    }
    if document["training"].get("solver") == "lbfgs":
        # An L-BFGS run (files from before it was resumable have none).
        try:
            run = LbfgsRun.from_saved(saved, document["training"])
            run.check(Params.vector_size(n, h), document["params"]["lbfgs_memory"])
        except ValueError as error:
            raise ModelFileError(f"has a damaged training state: {error}") from None
        return run
    try:
        for name in ("optimizer", "rng", "sums"):
            _refuse_booleans(name, document["training"].get(name))
        state = MinibatchState.from_saved(saved, document["training"])
        state.check(
            Params.vector_size(n, h),
            h,
            np.dtype(document["dtype"]),
            document["params"]["batch_size"],
        )
    except ValueError as error:
        raise ModelFileError(f"has a damaged training state: {error}") from None
    return state


def _refuse_booleans(where: str, value) -> None:
    """Raise ``ValueError`` at a JSON true or false among numbers.

    Python takes ``False`` for 0 and ``True`` for 1, so a hand-edited
    ``"momentum": false`` would otherwise load and train as 0.
    """
    if isinstance(value, bool):
        raise ValueError(f"{where} is {str(value).lower()}, where a number belongs")
    items = value.items() if isinstance(value, dict) else ()
    items = enumerate(value) if isinstance(value, list) else items
    for key, item in items:
        _refuse_booleans(f"{where}.{key}", item)


def restore(document: dict, arrays: dict[str, np.ndarray]) -> SparseAutoencoder:
    """The fitted estimator a checked document and its arrays describe."""
    _check_document(document)
    model = _unfitted(document)
    _check_arrays(document, arrays)
    n, h = document["n_features_in"], model.n_components
    theta = np.concatenate([arrays[name].ravel() for name in WEIGHTS])
    model._store(Params.from_vector(theta, n, h))
    model.n_features_in_ = n
    if document["feature_names_in"] is not None:
        model.feature_names_in_ = np.asarray(document["feature_names_in"], dtype=object)
    model.n_iter_ = document["n_iter"]
    model.history_ = document["history"]
    model.loss_curve_ = list(document["history"]["loss"])
    model._training_state = _training_state(document, arrays)
    model._image_shape = _image_shape(document.get("extra") or {}, n)
    return model


def _image_shape(extra: dict, n_features: int) -> tuple[int, int] | None:
    """The image shape a run saved in ``extra`` (``sparseae train``), if it fits.

    Only for drawing (a notebook's filters): a shape that does not describe
    ``n_features`` pixels is ignored, as are notes of other kinds.
    """
    shape = extra.get("image_shape")
    if (
        isinstance(shape, list)
        and len(shape) == 2
        and all(isinstance(side, int) and not isinstance(side, bool) for side in shape)
        and shape[0] >= 1
        and shape[1] >= 1
        and shape[0] * shape[1] == n_features
    ):
        return (shape[0], shape[1])
    return None


register(FORMAT, SparseAutoencoder, fields=FIELDS, dump=dump, restore=restore)
