"""sparseae: sparse autoencoders with exact, hand-derived gradients."""

from ._version import __version__
from .core.gradcheck import GradientCheck, check_gradient, relative_difference
from .core.objective import LossTerms, evaluate, loss_and_grad, loss_terms
from .core.params import Params
from .core.penalties import PENALTIES
from .io.checkpoints import Checkpointer
from .io.model_file import load, save
from .models.autoencoder import SparseAutoencoder
from .models.preprocessing import ZCAWhitening
from .models.softmax import SoftmaxClassifier
from .models.stacked import StackedAutoencoder
from .training.progress import Progress

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
