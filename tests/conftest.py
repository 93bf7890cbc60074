"""Shared fixtures: tiny float64 problems for gradient checks."""

import numpy as np
import pytest

from sparseae import Params
from sparseae.cli.gradcheck import combinations

COMBINATIONS = combinations()


def tiny_problem(seed=0, m=10, n=8, h=5):
    """Binary data and parameters with small random biases, in float64."""
    rng = np.random.default_rng(seed)
    X = (rng.random((m, n)) < 0.3).astype(np.float64)
    params = Params.initialize(n, h, rng=rng)
    params.b1[...] = 0.1 * rng.standard_normal(h)
    params.b2[...] = 0.1 * rng.standard_normal(n)
    return X, params


@pytest.fixture
def problem():
    return tiny_problem()
