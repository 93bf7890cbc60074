"""sparseae: sparse autoencoders with exact, hand-derived gradients.

The public names are imported on first use (PEP 562), so ``import sparseae``
costs little more than NumPy: scikit-learn and SciPy load with the first
estimator, not before.
"""

from importlib import import_module

# Each public name and the module that defines it.
_SOURCES = {
    "PENALTIES": ".core.penalties",
    "Checkpointer": ".io.checkpoints",
    "GradientCheck": ".core.gradcheck",
    "LossTerms": ".core.objective",
    "Params": ".core.params",
    "Progress": ".training.progress",
    "SoftmaxClassifier": ".models.softmax",
    "SparseAutoencoder": ".models.autoencoder",
    "StackedAutoencoder": ".models.stacked",
    "ZCAWhitening": ".models.preprocessing",
    "__version__": "._version",
    "check_gradient": ".core.gradcheck",
    "evaluate": ".core.objective",
    "loss_and_grad": ".core.objective",
    # Through sparseae.models, whose import registers the file formats.
    "load": ".models",
    "loss_terms": ".core.objective",
    "relative_difference": ".core.gradcheck",
    "save": ".models",
}

__all__ = list(_SOURCES)


def __getattr__(name: str):
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_SOURCES[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
