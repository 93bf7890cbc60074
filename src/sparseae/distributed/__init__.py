"""Training on a Dask cluster: ``pip install sparseae[distributed]``.

:class:`DaskSparseAutoencoder` fits on a dask array where it lies, with the
same partial sums as in memory (:mod:`sparseae.core.partial_sums`) mapped over
its row chunks and added by the same fixed tree, so the model is the in-memory
one to the last bit (``docs/distributed.md``).  :func:`from_npy` and
:func:`from_zarr` give dask arrays whose chunks the workers read themselves,
and :func:`local_cluster` a LocalCluster whose workers sum as fast as threads.
Importing this package imports Dask; ``import sparseae`` does not.
"""

from ._evaluate import ClusterData
from .cluster import local_cluster
from .estimator import DaskSparseAutoencoder
from .sources import from_npy, from_zarr, open_data

__all__ = [
    "ClusterData",
    "DaskSparseAutoencoder",
    "from_npy",
    "from_zarr",
    "local_cluster",
    "open_data",
]
