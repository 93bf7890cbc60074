"""Optimisers that consume a ``loss_and_grad`` callable on flat parameter vectors."""

from .lbfgs import SolverResult, minimize_lbfgs

__all__ = ["SolverResult", "minimize_lbfgs"]
