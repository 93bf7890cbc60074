"""Optimisers that consume a ``loss_and_grad`` callable on flat parameter vectors."""

from .errors import NonFiniteLossError
from .lbfgs import SolverResult, minimize_lbfgs
from .minibatch import SGD, Adam, make_optimizer, run_minibatches

__all__ = [
    "SGD",
    "Adam",
    "NonFiniteLossError",
    "SolverResult",
    "make_optimizer",
    "minimize_lbfgs",
    "run_minibatches",
]
