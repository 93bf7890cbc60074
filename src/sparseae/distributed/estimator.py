"""``DaskSparseAutoencoder``: the estimator on data that live on a Dask cluster."""

from __future__ import annotations

import functools
import inspect

import dask
import dask.array as da
import numpy as np
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from ..core.partial_sums import finish_sums, resolve_block_rows
from ..models._feedback import reports_progress, warn_caller
from ..models._validation import check_finite, check_real, check_target_range
from ..models.autoencoder import SparseAutoencoder
from ..training.state import LbfgsRun, MinibatchState
from ._evaluate import ClusterData, align, default_client

__all__ = ["DaskSparseAutoencoder"]

# A minibatch step on the cluster costs a round trip whatever the batch: θ to
# the workers, one task per chunk holding batch rows, the tree of additions
# and the sums back: 0.05-0.1 s on a LocalCluster of the 2-core machine of
# docs/distributed.md (its fixed cost per evaluation).
# A batch pays for it once its arithmetic takes several times as long:
# 16,000 rows at 784 -> 196, about 30 GFLOP, some 0.3 s on two cores.
MIN_BATCH_WORK = 16_000 * 784 * 196


def _is_dask(X) -> bool:
    return type(X).__module__.startswith("dask")


def _reports_progress_of_dask(method):
    """``reports_progress`` (``verbose``, the callback's check) for a dask ``X``.

    A NumPy ``X`` goes to :class:`SparseAutoencoder`'s method, which reports
    on its own: wrapping it again would print every line twice.
    """
    reporting = reports_progress(method)

    @functools.wraps(method)
    def wrapper(self, X, *args, **kwargs):
        if _is_dask(X):
            return reporting(self, X, *args, **kwargs)
        return method(self, X, *args, **kwargs)

    return wrapper


class _Rows:
    """Stands in for the data in the minibatch loop: indexing gives row indices."""

    def __init__(self, data: ClusterData):
        self.data, self.shape, self.dtype = data, data.shape, data.dtype

    def __getitem__(self, indices):
        return _Batch(np.asarray(indices))


class _Batch:
    def __init__(self, indices):
        self.indices = indices
        self.shape = (len(indices),)


class DaskSparseAutoencoder(SparseAutoencoder):
    """:class:`~sparseae.SparseAutoencoder` trained on a dask array, where it lies.

    Full-batch L-BFGS runs on the client, as in memory, with an objective that
    each evaluation computes on the cluster: θ is sent once per evaluation,
    by ``client.scatter`` to one worker, from which the chunks' tasks on the
    other workers fetch it (no ``broadcast=True``); every row chunk is summed
    by a task on the worker that holds it (or reads it), and the chunks' sums
    are added by a fixed tree of tasks ordered by chunk index
    (``docs/distributed.md``, which also says why θ is not broadcast).  For
    the same data, ``block_rows`` and ``random_state``, the fitted parameters
    are bit-identical to those of :meth:`SparseAutoencoder.fit` in memory or
    on a ``.npy`` file, on any number of workers, and whatever happens to
    workers during the fit.

    SGD and Adam are data-parallel: each step's global batch is drawn as in
    memory and every chunk sums its own rows of it; the sums give the batch's
    gradient and ρ̂ as in memory (to rounding: the rows are added chunk by
    chunk).  A step costs a round trip of 0.05-0.1 s whatever its
    size, so a batch should carry about 16,000 rows at MNIST's width
    (784 -> 196, about 30 GFLOP per step); smaller batches warn.

    Parameters
    ----------
    n_components : int, default=100
        Number of hidden units.
    client : distributed.Client or None, default=None
        Where to compute: by default the current ``distributed`` client, or
        dask's local scheduler when there is none.
    **params
        Every other parameter of :class:`~sparseae.SparseAutoencoder`.

    Attributes
    ----------
    components_, intercept_hidden_, decoder_weights_, intercept_visible_, \
n_iter_, loss_curve_, history_, n_features_in_
        As for :class:`~sparseae.SparseAutoencoder`.

    See Also
    --------
    sparseae.distributed.from_npy : A dask array of the rows of a ``.npy`` file.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from sparseae import SparseAutoencoder
    >>> X = np.random.default_rng(0).uniform(size=(300, 16))
    >>> hyper = dict(n_components=4, tol=1e-4, block_rows=32, random_state=0)
    >>> dask_model = DaskSparseAutoencoder(**hyper).fit(da.from_array(X, chunks=100))
    >>> local = SparseAutoencoder(**hyper).fit(X)
    >>> bool((dask_model.components_ == local.components_).all())
    True
    >>> dask_model.transform(da.from_array(X, chunks=100)).chunks
    ((100, 100, 100), (4,))
    """

    _parameter_constraints: dict = {
        **SparseAutoencoder._parameter_constraints,
        "client": "no_validation",
    }

    def __init__(self, n_components=100, *, client=None, **params):
        super().__init__(n_components, **params)
        self.client = client

    def _client(self):
        """``client`` checked, or the current one (None: dask's local scheduler)."""
        if self.client is None:
            return default_client()
        from distributed import Client

        if not isinstance(self.client, Client):
            hint = ""
            if isinstance(self.client, str):
                hint = f"; connect first with distributed.Client({self.client!r})"
            raise TypeError(
                "client must be a distributed.Client or None (the current client, "
                f"or dask's local scheduler), got {self.client!r} of type "
                f"{type(self.client).__name__}{hint}"
            )
        if self.client.status in ("closing", "closed"):
            raise ValueError(
                f"client is {self.client.status}: {self.client!r}; pass an open "
                "distributed.Client, or None for the current one"
            )
        return self.client

    def _compute(self, *collections):
        """Compute dask collections with the estimator's client."""
        client = self._client()
        if client is None:
            return dask.compute(*collections)
        return client.compute(list(collections), sync=True)

    def _prepare(self, X, *, reset: bool) -> ClusterData:
        """Align, place and check a dask array once for a whole fit."""
        if X.ndim != 2:
            raise ValueError(f"X must be 2-dimensional, got shape {X.shape}")
        check_real(X)
        if X.dtype.kind not in "biuf":
            raise ValueError(
                f"X must hold real numbers (bool, int, uint or float), got dtype "
                f"{X.dtype}"
            )
        if X.shape[1] < 1:
            raise ValueError(
                f"X must have at least one feature (column), got shape {X.shape}"
            )
        dtype = self._working_dtype()
        if X.dtype != dtype:
            X = X.astype(dtype)
        if reset:
            self.n_features_in_ = X.shape[1]
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        elif X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is "
                f"expecting {self.n_features_in_} features as input"
            )
        if X.shape[0] < 1:
            raise ValueError(f"X must have at least one row, got shape {X.shape}")
        block_rows = resolve_block_rows(
            self.block_rows, X.shape[0], X.shape[1], self.n_components
        )
        data = ClusterData(
            align(X, block_rows), block_rows, self.n_components, self._client()
        )
        low, high, n_bad, digests = data.compute(
            data.X.min(),
            data.X.max(),
            (~da.isfinite(data.X)).sum(),
            data.block_digests(),
        )
        # One pass for the checks and the digest that resume_fit compares.
        data.content = data.fingerprint(digests)
        if n_bad:
            # A second pass, only for the message: where, and of which kind.
            bad = ~da.isfinite(data.X)
            n_nan, first = data.compute(
                da.isnan(data.X).sum(), da.argmax(bad.any(axis=1))
            )
            (row,) = data.compute(data.X[int(first)])
            column = int(np.flatnonzero(~np.isfinite(row))[0])
            raise ValueError(
                f"X contains {int(n_bad)} non-finite values ({int(n_nan)} NaN, "
                f"{int(n_bad - n_nan)} inf), the first at row {int(first)}, column "
                f"{column}; the autoencoder needs finite numbers: impute or drop them"
            )
        check_target_range(
            np.array([[low, high]]),
            output=self.output_activation,
            loss=self.loss,
        )
        return data

    @staticmethod
    def _fingerprint(data: ClusterData) -> str:
        # The rows' content, block by block: the same data chunked otherwise,
        # or read from another source, are the same data.
        return data.content

    @staticmethod
    def _same_data(fingerprint: str, data: ClusterData) -> bool:
        if fingerprint.startswith("dask:"):
            # Checkpoints of earlier versions named the dask array's graph.
            return fingerprint == f"dask:{data.X.name}:{data.shape}:{data.dtype.str}"
        return fingerprint == data.content

    def _base_evaluator(self):
        """The objective on the cluster (the data are the ones of ``fit``)."""
        if getattr(self, "_data", None) is None:
            # fit, partial_fit or fit_file of data in memory or in a file.
            return super()._base_evaluator()

        def evaluate(params, X, settings, **options):
            grad = options.pop("compute_grad", True)
            # A copy: tied or unit-norm weights are separate arrays.
            theta = params.to_vector()
            if isinstance(X, _Batch):
                total = self._data.batch(theta, X.indices, settings, grad)
            else:
                total = self._data.sums(theta, settings, grad)
            return finish_sums(total, params, settings, **options)

        return evaluate

    @_reports_progress_of_dask
    def fit(self, X, y=None, *, callback=None):
        """Learn the weights from a dask array ``X`` (a NumPy array: as in memory).

        Parameters
        ----------
        X : dask.array.Array of shape (n_samples, n_features)
            Training data, one sample per row.
        y : Ignored
            Not used, present for API consistency.
        callback : callable, optional
            As for :meth:`SparseAutoencoder.fit`.

        Returns
        -------
        self : DaskSparseAutoencoder
            The fitted estimator.
        """
        if not _is_dask(X):
            return super().fit(X, y, callback=callback)
        self._validate_params()
        self._data = data = self._prepare(X, reset=True)
        try:
            settings = self._settings()
            rng = self._initialize(data)
            if self.solver == "lbfgs":
                self._training_state = None
                self._fit_lbfgs(data, settings, callback, self._fingerprint(data))
                return self
            self._warn_small_batch(data)
            self._training_state = MinibatchState(
                rng,
                self._make_optimizer(),
                fitting=True,
                fingerprint=self._fingerprint(data),
            )
            self._train_minibatch(_Rows(data), settings, callback, fitting=True)
            return self
        finally:
            self._data = None

    @_reports_progress_of_dask
    def resume_fit(self, X, *, callback=None):
        """Continue a fit that a callback stopped, to the same bits as one run.

        A fit that ended at ``max_iter`` goes on to a larger ``max_iter``
        (``set_params``) exactly as one run of that many iterations would
        have, as :meth:`SparseAutoencoder.resume_fit` does.

        Parameters
        ----------
        X : dask.array.Array of shape (n_samples, n_features)
            The same data as the interrupted fit.
        callback : callable, optional
            As in :meth:`fit`.

        Returns
        -------
        self : DaskSparseAutoencoder
            The fitted estimator.
        """
        if not _is_dask(X):
            return super().resume_fit(X, callback=callback)
        check_is_fitted(self)
        state = getattr(self, "_training_state", None)
        if not isinstance(state, LbfgsRun | MinibatchState):
            raise ValueError(
                "resume_fit needs a model saved with its training state (a "
                "checkpoint, or a model fitted by this version); this one has none"
            )
        self._check_goes_on("resume_fit")
        if (self.solver == "lbfgs") != isinstance(state, LbfgsRun):
            kind = "lbfgs" if isinstance(state, LbfgsRun) else "sgd' or 'adam"
            raise ValueError(
                f"the training state is of solver='{kind}', got "
                f"solver={self.solver!r}; resume with the solver of the fit"
            )
        # As in memory: X is checked even when there is nothing left to do.
        self._check_width(X, self.n_features_in_, "n_features_in_")
        # As in memory: a fit that ended at max_iter goes on to a larger one.
        if not (state.fitting or self._can_extend(state)):
            return self
        self._data = data = self._prepare(X, reset=False)
        try:
            if not self._same_data(state.fingerprint or "", data):
                raise ValueError(
                    f"X of shape {X.shape} is not the data the interrupted fit was "
                    "using (its rows' digest differs); resume with the same rows in "
                    f"the same order and the same block_rows={data.block_rows}"
                )
            settings = self._settings()
            if isinstance(state, LbfgsRun):
                self._fit_lbfgs(data, settings, callback, state.fingerprint)
            else:
                state.fitting = True
                self._train_minibatch(_Rows(data), settings, callback, fitting=True)
            return self
        finally:
            self._data = None

    @_reports_progress_of_dask
    def partial_fit(self, X, y=None, *, callback=None):
        """One data-parallel epoch of SGD or Adam on ``X``; see :meth:`fit`.

        Parameters
        ----------
        X : dask.array.Array of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency.
        callback : callable, optional
            As in :meth:`fit`.

        Returns
        -------
        self : DaskSparseAutoencoder
            The updated estimator.
        """
        if not _is_dask(X):
            return super().partial_fit(X, y, callback=callback)
        self._validate_params()
        if self.solver not in ("sgd", "adam"):
            raise AttributeError(
                f"partial_fit needs solver='sgd' or 'adam', got solver={self.solver!r}"
            )
        first = not hasattr(self, "components_")
        if not first:
            self._check_goes_on("partial_fit")
        self._data = data = self._prepare(X, reset=first)
        try:
            settings = self._settings()
            rng = self._initialize(data) if first else self._generator()
            if not isinstance(getattr(self, "_training_state", None), MinibatchState):
                self._training_state = MinibatchState(rng, self._make_optimizer())
            self._warn_small_batch(data)
            self._training_state.permutation = None
            self._training_state.fitting = False
            self._train_minibatch(_Rows(data), settings, callback, fitting=False)
            return self
        finally:
            self._data = None

    def _warn_small_batch(self, data):
        batch = data.shape[0] if self.batch_size == "auto" else self.batch_size
        batch = min(batch if self.batch_size != "auto" else 256, data.shape[0])
        rows = -(-MIN_BATCH_WORK // (data.shape[1] * self.n_components))
        if batch < rows and batch < data.shape[0]:
            warn_caller(
                f"batch_size={batch} is too small for a cluster: each step costs a "
                f"round trip of about 0.05-0.1 s, which a batch pays for from "
                f"about {rows} rows at {data.shape[1]} -> {self.n_components} "
                "(docs/distributed.md); use a larger batch_size, or "
                "SparseAutoencoder in memory",
                UserWarning,
            )

    def transform(self, X):
        """Hidden activations; lazily, chunk by chunk, for a dask array.

        Parameters
        ----------
        X : dask.array.Array or array-like of shape (n_samples, n_features)
            Data.

        Returns
        -------
        dask.array.Array or ndarray of shape (n_samples, n_components)
            For a dask array, a dask array with chunks ``(X.chunks[0],
            (n_components,))``, computed when asked.
        """
        if not _is_dask(X):
            return super().transform(X)
        check_is_fitted(self)
        # The fitted units, whatever set_params has made n_components since.
        units = self.components_.shape[0]
        width = (self.n_features_in_, "n_features_in_")
        return self._map_rows(X, "transform", width, units)

    def inverse_transform(self, X):
        """Decode hidden activations; lazily, chunk by chunk, for a dask array.

        Parameters
        ----------
        X : dask.array.Array or array-like of shape (n_samples, n_components)
            Hidden activations, as from :meth:`transform`.

        Returns
        -------
        dask.array.Array or ndarray of shape (n_samples, n_features_in_)
            For a dask array, a dask array with chunks ``(X.chunks[0],
            (n_features_in_,))``, computed when asked.
        """
        if not _is_dask(X):
            return super().inverse_transform(X)
        check_is_fitted(self)
        width = (self.components_.shape[0], "hidden units")
        return self._map_rows(X, "inverse_transform", width, self.n_features_in_)

    def _map_rows(self, X, method: str, width: tuple[int, str], out_width: int):
        """The local model's ``method`` of each row chunk of ``X``, lazily.

        ``width`` is the number of columns ``X`` must have, and its name.
        """
        self._check_width(X, *width)
        return X.rechunk({1: -1}).map_blocks(
            _in_chunk,
            getattr(self.to_local(), method),
            chunks=(X.chunks[0], (out_width,)),
            dtype=self.components_.dtype,
        )

    def score(self, X, y=None):
        """Negative mean squared reconstruction error per sample, on the cluster.

        Parameters
        ----------
        X : dask.array.Array or array-like of shape (n_samples, n_features)
            Data to reconstruct.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        float
            As :meth:`SparseAutoencoder.score`; for a dask array each chunk's
            error is summed where it lies and only the sums come back.
        """
        if not _is_dask(X):
            return super().score(X, y)
        local = self.to_local()
        self._check_width(X, self.n_features_in_, "n_features_in_")
        if X.shape[0] < 1:
            raise ValueError(f"X must have at least one row, got shape {X.shape}")
        rows = X.rechunk({1: -1})
        errors = rows.map_blocks(
            _chunk_error,
            local,
            chunks=((1,) * rows.numblocks[0], (1,)),
            dtype=np.float64,
        )
        (total,) = self._compute(errors.sum())
        return -float(total) / X.shape[0]

    @staticmethod
    def _check_width(X, width, name):
        if X.ndim != 2 or X.shape[1] != width:
            raise ValueError(
                f"X must have shape (n_samples, {name}={width}), got {X.shape}"
            )

    def to_local(self) -> SparseAutoencoder:
        """The same model as a plain :class:`~sparseae.SparseAutoencoder`.

        Returns
        -------
        SparseAutoencoder
            With this model's parameters and fitted attributes (not its
            training state, which belongs to the cluster's data).
        """
        check_is_fitted(self)
        params = {k: v for k, v in self.get_params().items() if k != "client"}
        local = SparseAutoencoder(**params)
        for name, value in vars(self).items():
            if name.endswith("_") and not name.startswith("_"):
                setattr(local, name, value)
        return local

    @classmethod
    def from_local(cls, model: SparseAutoencoder, client=None):
        """A Dask estimator holding ``model``'s parameters and training state.

        Parameters
        ----------
        model : SparseAutoencoder
            For instance a checkpoint of a Dask fit, read by
            :func:`sparseae.load`, to go on with :meth:`resume_fit`.
        client : distributed.Client or None, default=None
            As for the constructor.

        Returns
        -------
        DaskSparseAutoencoder
        """
        dask_model = cls(**model.get_params(), client=client)
        for name, value in vars(model).items():
            if name.endswith("_") or name == "_training_state":
                setattr(dask_model, name, value)
        return dask_model

    def save(self, path, *, extra=None, training_state=True):
        """Write the model in :class:`~sparseae.SparseAutoencoder`'s format.

        :func:`sparseae.load` reads it back as a ``SparseAutoencoder``
        (:meth:`from_local` makes it a Dask estimator again).

        Parameters
        ----------
        path : str or path-like
            Destination, written atomically.
        extra : dict, optional
            JSON-serialisable notes stored alongside.
        training_state : bool, default=True
            Keep the solver's state for :meth:`resume_fit` (see
            :func:`sparseae.save`).

        Returns
        -------
        pathlib.Path
            ``path``.
        """
        local = self.to_local()
        state = getattr(self, "_training_state", None)
        if state is not None:
            local._training_state = state
        return local.save(path, extra=extra, training_state=training_state)

    def __sklearn_clone__(self):
        # A client is a connection, which deepcopy (clone's way with other
        # parameters) cannot copy: the clone shares it.
        params = self.get_params(deep=False)
        client = params.pop("client")
        return type(self)(
            **{name: clone(value, safe=False) for name, value in params.items()},
            client=client,
        )

    def __getstate__(self):
        # A client cannot be pickled; the unpickled model computes with the
        # client current where it is used (client=None), as xgboost.dask does.
        # A copy: BaseEstimator.__getstate__ may return __dict__ itself.
        state = dict(super().__getstate__())
        state.pop("_data", None)
        state["client"] = None
        return state


def _in_chunk(X, method, block_info=None):
    """``method(X)`` of one row chunk, its non-finite values named by row in X."""
    if block_info is not None and np.asarray(X).dtype.kind in "biuf":
        # The model's own check would give the row within the chunk.
        start, stop = block_info[0]["array-location"][0]
        check_finite(np.asarray(X), f"X (rows {start}:{stop})", offset=(start, 0))
    return method(X)


def _chunk_error(X, model, block_info=None) -> np.ndarray:
    """Σ ½‖x̂ − x‖² over the rows of one chunk, as a (1, 1) array."""
    return np.array([[-_in_chunk(X, model.score, block_info) * X.shape[0]]])


def _with_client_parameter():
    """The parent's signature and ``client``, for scikit-learn's get_params."""
    parent = inspect.signature(SparseAutoencoder.__init__)
    client = inspect.Parameter("client", inspect.Parameter.KEYWORD_ONLY, default=None)
    return parent.replace(parameters=[*parent.parameters.values(), client])


DaskSparseAutoencoder.__init__.__signature__ = _with_client_parameter()
