"""An autouse fixture that runs a test module's BLAS on one thread.

On a shared two-core machine, OpenBLAS threads that spin waiting for a core
another process holds make the small products of these tests ten times slower
or worse (measured: 136 s against 14 s for the stacked-autoencoder tests).
Import the fixture into a test module to apply it to every test there.
"""

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True)
def one_blas_thread():
    with threadpool_limits(limits=1, user_api="blas"):
        yield
