"""A LocalCluster for the session: two workers of one thread, in this process."""

import numpy as np
import pytest

pytest.importorskip(
    "dask", reason="dask is not installed: pip install sparseae[distributed]"
)
pytest.importorskip(
    "distributed",
    reason="distributed is not installed: pip install sparseae[distributed]",
)
pytest.importorskip(
    "zarr", reason="zarr is not installed: pip install sparseae[distributed]"
)


@pytest.fixture(scope="session")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        dashboard_address=":0",
        silence_logs=40,
    )
    client = Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()


def data(m=700, n=12, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.05, 0.95, size=(m, n)).astype(dtype)


@pytest.fixture
def zarr_data(tmp_path):
    """Write X to a zarr store in row chunks of 97, and read it back lazily."""
    import itertools

    import dask.array as da

    count = itertools.count()

    def make(X, chunk_rows=97):
        path = str(tmp_path / f"X{next(count)}.zarr")
        da.from_array(X, chunks=(chunk_rows, X.shape[1])).to_zarr(path)
        return da.from_zarr(path)

    return make
