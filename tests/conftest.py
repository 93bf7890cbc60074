"""Shared fixtures: tiny float64 problems for gradient checks, one BLAS thread."""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

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


@pytest.fixture
def one_blas_thread():
    """Run a test's BLAS on one thread.

    On a shared two-core machine, OpenBLAS threads that spin waiting for a core
    another process holds make small products ten times slower or worse
    (measured: 136 s against 14 s for the stacked-autoencoder tests).  A module
    applies it to all its tests with
    ``pytestmark = pytest.mark.usefixtures("one_blas_thread")``.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        yield
