"""Shared data for the reliability tests: tiny, so that thousands of cases run fast."""

import numpy as np
import pytest

from ..single_blas_thread import one_blas_thread  # noqa: F401


@pytest.fixture(scope="session")
def X():
    """20 samples of 5 features in [0, 1]."""
    return np.random.default_rng(0).uniform(size=(20, 5))
