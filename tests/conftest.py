"""Shared fixtures: tiny float64 problems for gradient checks, one BLAS thread.

Also the Hypothesis profiles.  "ci", loaded unless ``--hypothesis-profile``
or the ``HYPOTHESIS_PROFILE`` variable names another, is derandomized and
keeps no example database, so the suite draws the same examples on every run
and machine: a test that fails, fails every time.  "explore" draws new random
examples on every run, ten times as many, and keeps the failures it finds in
``.hypothesis/`` to replay them first next time (``docs/reliability.md``).
"""

import os

import numpy as np
import pytest
from hypothesis import settings
from threadpoolctl import threadpool_limits

from sparseae import Params
from sparseae.cli.gradcheck import combinations

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile(
    "explore", derandomize=False, max_examples=10 * settings.default.max_examples
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def examples(n: int) -> int:
    """``n`` examples under the "ci" profile, as many more under "explore".

    For ``@settings(max_examples=examples(400))``: an explicit count would
    otherwise override the profile's.  Decorators run when pytest collects the
    module, after ``--hypothesis-profile`` has loaded its profile.
    """
    return n * settings.default.max_examples // settings.get_profile("ci").max_examples


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
