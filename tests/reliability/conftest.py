"""Shared data for the reliability tests: tiny, so that thousands of cases run fast."""

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _one_blas_thread(one_blas_thread):
    """Every reliability test runs its BLAS on one thread (see tests/conftest.py)."""


@pytest.fixture(scope="session")
def X():
    """20 samples of 5 features in [0, 1]."""
    return np.random.default_rng(0).uniform(size=(20, 5))
