"""sparseae: sparse autoencoders with exact, hand-derived gradients."""

from importlib.metadata import PackageNotFoundError, version

from .callbacks import Checkpointer, Progress
from .estimator import SparseAutoencoder
from .gradcheck import GradientCheck, check_gradient, relative_difference
from .io import load, save
from .objective import LossTerms, evaluate, loss_and_grad, loss_terms
from .params import Params
from .penalties import PENALTIES
from .preprocessing import ZCAWhitening
from .softmax import SoftmaxClassifier
from .stacked import StackedAutoencoder

try:
    __version__ = version("sparseae")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "PENALTIES",
    "Checkpointer",
    "GradientCheck",
    "LossTerms",
    "Params",
    "Progress",
    "SoftmaxClassifier",
    "SparseAutoencoder",
    "StackedAutoencoder",
    "ZCAWhitening",
    "__version__",
    "check_gradient",
    "evaluate",
    "loss_and_grad",
    "load",
    "loss_terms",
    "relative_difference",
    "save",
]
