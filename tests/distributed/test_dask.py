"""Dask training against the in-memory kernel, to the last bit."""

import os
import signal
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sparseae import SparseAutoencoder, load
from sparseae.core.objective import make_settings
from sparseae.core.params import Params
from sparseae.core.partial_sums import block_sums

from .conftest import data

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
from sparseae.distributed import (  # noqa: E402
    ClusterData,
    DaskSparseAutoencoder,
    from_npy,
    local_cluster,
)
from sparseae.distributed._evaluate import align  # noqa: E402

HYPER = dict(sparsity_target=0.1, sparsity_weight=3.0, weight_decay=1e-3)
FIELDS = ("a2_sum", "grad_W2", "grad_b2", "grad_W1", "grad_b1")


def assert_same_sums(got, want):
    assert got.n_rows == want.n_rows
    assert got.reconstruction == want.reconstruction
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))


def assert_same_model(got, want):
    for name in (
        "components_",
        "intercept_hidden_",
        "decoder_weights_",
        "intercept_visible_",
    ):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
    assert got.loss_curve_ == want.loss_curve_


@pytest.mark.parametrize("block_rows", [1, 7, 64])
@pytest.mark.parametrize("chunk_rows", [37, 97, 700])
def test_one_evaluation_equals_the_in_memory_kernel(
    client, zarr_data, block_rows, chunk_rows
):
    X = data()
    settings = make_settings(**HYPER)
    params = Params.initialize(12, 5, rng=np.random.default_rng(1))
    want = block_sums(params, settings, X, block_rows=block_rows)
    for where in (client, None):
        cluster = ClusterData(
            align(zarr_data(X, chunk_rows), block_rows), block_rows, 5, where
        )
        assert_same_sums(cluster.sums(params.vector, settings), want)


def fit_everywhere(X, tmp_path, client, zarr_data, **hyper):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        models = {"memory": SparseAutoencoder(**hyper).fit(X)}
        np.save(tmp_path / "X.npy", X)
        models["file"] = SparseAutoencoder(**hyper).fit_file(tmp_path / "X.npy")
        models["cluster"] = DaskSparseAutoencoder(**hyper, client=client).fit(
            zarr_data(X, 256)
        )
        models["cluster from .npy"] = DaskSparseAutoencoder(**hyper, client=client).fit(
            from_npy(tmp_path / "X.npy", chunk_rows=150)
        )
        models["local scheduler"] = DaskSparseAutoencoder(**hyper).fit(zarr_data(X, 64))
    return models


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_whole_fits_are_bit_identical_everywhere(client, zarr_data, tmp_path, dtype):
    X = data(dtype=dtype)
    hyper = dict(
        HYPER, n_components=5, max_iter=12, block_rows=48, random_state=0, dtype=dtype
    )
    models = fit_everywhere(X, tmp_path, client, zarr_data, **hyper)
    assert models["memory"].n_iter_ == 12
    for name, model in models.items():
        assert model.components_.dtype == dtype, name
        assert_same_model(model, models["memory"])
    # And from run to run.
    again = DaskSparseAutoencoder(**hyper, client=client)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert_same_model(again.fit(zarr_data(X, 256)), models["memory"])


def test_blocks_large_enough_for_a_threaded_blas_stay_bit_identical(client):
    # Blocks of 500 rows × 64 columns: OpenBLAS threads their products, and
    # rounds them differently, unless the limit to one thread holds while the
    # sums of every chunk run.  The cluster here runs its two workers as
    # threads of this process, as dask's local scheduler does.
    X = np.random.default_rng(0).uniform(size=(3001, 64))
    hyper = dict(HYPER, n_components=16, max_iter=10, block_rows=500, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        want = SparseAutoencoder(**hyper).fit(X)
        for where in (client, None):
            got = DaskSparseAutoencoder(**hyper, client=where).fit(
                da.from_array(X, chunks=(1000, 64))
            )
            assert_same_model(got, want)


def tied_decoder(model):
    np.testing.assert_array_equal(model.decoder_weights_, model.components_.T)


def unit_decoder_columns(model):
    norms = np.linalg.norm(model.decoder_weights_, axis=0)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-12)


@pytest.mark.parametrize(
    ("options", "check"),
    [
        (dict(tied_weights=True), tied_decoder),
        (
            dict(hidden_activation="relu", penalty="l1", unit_norm_decoder=True),
            unit_decoder_columns,
        ),
    ],
    ids=["tied", "unit-norm"],
)
def test_reparametrised_fits_are_bit_identical_everywhere(
    client, zarr_data, tmp_path, options, check
):
    hyper = dict(
        HYPER, n_components=5, max_iter=8, block_rows=48, random_state=0, **options
    )
    models = fit_everywhere(data(), tmp_path, client, zarr_data, **hyper)
    for model in models.values():
        assert_same_model(model, models["memory"])
        check(model)


def test_default_partition_is_the_same_everywhere(client, zarr_data, tmp_path):
    X = data(m=3000, n=8)
    hyper = dict(HYPER, n_components=3, max_iter=6, random_state=1)
    models = fit_everywhere(X, tmp_path, client, zarr_data, **hyper)
    for model in models.values():
        assert_same_model(model, models["memory"])


def test_a_stopped_fit_resumes_to_the_same_bits(client, zarr_data):
    X = zarr_data(data())
    hyper = dict(
        HYPER, n_components=5, max_iter=8, block_rows=48, random_state=0, client=client
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        whole = DaskSparseAutoencoder(**hyper).fit(X)
        model = DaskSparseAutoencoder(**hyper)
        model.fit(X, callback=lambda model, progress: progress.iteration == 3)
        assert model.n_iter_ == 3
        model.resume_fit(X)
    assert_same_model(model, whole)


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_a_finished_fit_goes_on_to_a_larger_max_iter(client, zarr_data, solver):
    X = zarr_data(data())
    hyper = dict(
        HYPER, n_components=5, block_rows=48, random_state=0, client=client, tol=0
    )
    hyper |= dict(solver=solver, batch_size=350) if solver == "adam" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", "batch_size=350 is too small", UserWarning)
        whole = DaskSparseAutoencoder(**hyper, max_iter=8).fit(X)
        model = DaskSparseAutoencoder(**hyper, max_iter=4).fit(X)
        model.set_params(max_iter=8).resume_fit(X)
    assert model.n_iter_ == 8
    assert_same_model(model, whole)


def test_resume_knows_the_data_by_their_rows_not_their_chunks(client, zarr_data):
    X = data()
    hyper = dict(
        HYPER, n_components=5, max_iter=8, block_rows=48, random_state=0, client=client
    )
    stop = dict(callback=lambda model, progress: progress.iteration == 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        whole = DaskSparseAutoencoder(**hyper).fit(zarr_data(X, 97))
        model = DaskSparseAutoencoder(**hyper).fit(zarr_data(X, 97), **stop)
        # The same rows from a store chunked otherwise: the same data.
        model.resume_fit(da.from_array(X, chunks=(300, 6)))
        assert_same_model(model, whole)
        model = DaskSparseAutoencoder(**hyper).fit(zarr_data(X, 97), **stop)
        changed = X.copy()
        changed[650, 3] += 0.01
        with pytest.raises(ValueError, match="not the data .* rows' digest differs"):
            model.resume_fit(zarr_data(changed, 97))
        with pytest.raises(ValueError, match="not the data"):
            model.resume_fit(zarr_data(X[::-1].copy(), 97))


def test_minibatch_step_is_data_parallel(client, zarr_data):
    X = data(m=600)
    hyper = dict(
        HYPER, n_components=5, solver="adam", batch_size=600, max_iter=1, random_state=0
    )
    local = SparseAutoencoder(**hyper).partial_fit(X)
    with pytest.warns(UserWarning, match="too small for a cluster"):
        DaskSparseAutoencoder(**dict(hyper, batch_size=100), client=client).partial_fit(
            zarr_data(X)
        )
    # One step on the whole data: the global batch's gradient from every chunk.
    model = DaskSparseAutoencoder(**hyper, client=client)
    model.partial_fit(zarr_data(X))
    np.testing.assert_allclose(model.components_, local.components_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.loss_curve_, local.loss_curve_, rtol=1e-12)


def test_transform_is_lazy_and_chunked_as_the_rows(client, zarr_data, tmp_path):
    X = data()
    hyper = dict(HYPER, n_components=5, max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = DaskSparseAutoencoder(**hyper, client=client).fit(zarr_data(X))
    codes = model.transform(zarr_data(X))
    assert isinstance(codes, da.Array)
    assert codes.chunks == (zarr_data(X).chunks[0], (5,))
    local = model.to_local()
    assert type(local) is SparseAutoencoder
    # Chunk by chunk: the products of other row counts may round differently.
    np.testing.assert_allclose(
        client.compute(codes, sync=True), local.transform(X), rtol=1e-14
    )
    # The same file format; a loaded file is a SparseAutoencoder.
    loaded = load(model.save(tmp_path / "model.safetensors"))
    assert type(loaded) is SparseAutoencoder
    np.testing.assert_array_equal(loaded.components_, model.components_)


def test_decoding_and_scoring_run_where_the_rows_lie(client, zarr_data):
    X = data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = DaskSparseAutoencoder(
            **HYPER, n_components=5, max_iter=5, random_state=0, client=client
        ).fit(zarr_data(X))
    local = model.to_local()
    decoded = model.inverse_transform(model.transform(zarr_data(X)))
    assert isinstance(decoded, da.Array)
    assert decoded.chunks == (zarr_data(X).chunks[0], (12,))
    np.testing.assert_allclose(
        client.compute(decoded, sync=True),
        local.inverse_transform(local.transform(X)),
        rtol=1e-13,
    )
    assert model.score(zarr_data(X)) == pytest.approx(local.score(X), rel=1e-12)
    with pytest.raises(ValueError, match=r"hidden units=5\), got \(700, 12\)"):
        model.inverse_transform(zarr_data(X))


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_set_params_after_a_fit_changes_no_fitted_shape(client, zarr_data, solver):
    X = data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = DaskSparseAutoencoder(
            **HYPER,
            n_components=5,
            max_iter=3,
            solver=solver,
            batch_size=700,  # the whole data: no warning of a small batch
            random_state=0,
            client=client,
        ).fit(zarr_data(X))
    model.set_params(n_components=7, max_iter=6)
    # Encoding and decoding use the fitted units, lazily and computed alike.
    codes = model.transform(zarr_data(X))
    assert codes.chunks[1] == (5,)
    assert client.compute(codes, sync=True).shape == (700, 5)
    decoded = model.inverse_transform(codes)
    assert client.compute(decoded, sync=True).shape == (700, 12)
    # Training on is refused, naming the parameter, as in memory.
    methods = ["resume_fit"] + (["partial_fit"] if solver == "adam" else [])
    for method in methods:
        with pytest.raises(ValueError, match=r"n_components=7 differs from the 5"):
            getattr(model, method)(zarr_data(X))


def test_an_unfitted_model_and_a_bad_client_are_named(client, zarr_data):
    from sklearn.exceptions import NotFittedError

    X = zarr_data(data())
    for method in ("transform", "inverse_transform", "score"):
        with pytest.raises(NotFittedError):
            getattr(DaskSparseAutoencoder(5), method)(X)
    with pytest.raises(NotFittedError):
        DaskSparseAutoencoder(5).to_local()
    with pytest.raises(
        TypeError,
        match=r"client must be a distributed\.Client .*"
        r"got 'tcp://nowhere:1'.*Client\('tcp://nowhere:1'\)",
    ):
        DaskSparseAutoencoder(5, client="tcp://nowhere:1").fit(X)


def test_the_in_memory_estimator_refuses_dask_arrays(zarr_data):
    X = zarr_data(data())
    with pytest.raises(TypeError, match="DaskSparseAutoencoder"):
        SparseAutoencoder(n_components=3).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = SparseAutoencoder(n_components=3, max_iter=2).fit(data())
    codes = da.from_array(fitted.transform(data()))
    for method, argument in [
        ("transform", X),
        ("score", X),
        ("inverse_transform", codes),
    ]:
        with pytest.raises(TypeError, match="takes arrays in memory.*DaskSparse"):
            getattr(fitted, method)(argument)
    model = SparseAutoencoder(n_components=3, max_iter=2, solver="adam")
    with pytest.raises(TypeError, match="DaskSparseAutoencoder"):
        model.partial_fit(X)
    model.partial_fit(data())
    with pytest.raises(TypeError, match="DaskSparseAutoencoder"):
        model.transform(X)


def test_bad_data_is_refused_with_the_reason(client):
    X = data()
    X[300, 4] = np.nan
    X[650, 1] = np.inf
    # Where, in the whole data (not in a chunk), and of which kind.
    with pytest.raises(
        ValueError,
        match=r"2 non-finite values \(1 NaN, 1 inf\), the first at row 300, column 4",
    ):
        DaskSparseAutoencoder(n_components=3, client=client).fit(
            da.from_array(X, chunks=(200, 12))
        )
    with pytest.raises(ValueError, match="values in"):
        DaskSparseAutoencoder(n_components=3, loss="cross_entropy", client=client).fit(
            da.from_array(data() * 3)
        )


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (da.ones((20, 4), dtype=complex), r"Complex data not supported: X has dtype"),
        (da.from_array(np.full((20, 4), "a")), r"real numbers .* got dtype <U1"),
        (da.ones((20, 0)), r"at least one feature \(column\), got shape \(20, 0\)"),
    ],
    ids=["complex", "strings", "no columns"],
)
def test_data_that_are_not_real_numbers_are_refused(X, match):
    # Complex data lost their imaginary part and trained; the others failed
    # with NumPy's or Dask's words, naming neither X nor what is valid.
    with pytest.raises(ValueError, match=match):
        DaskSparseAutoencoder(n_components=3, max_iter=1).fit(X)


def test_non_finite_values_at_transform_are_named_by_their_row_in_x(client):
    X = data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = DaskSparseAutoencoder(
            n_components=3, max_iter=2, random_state=0, client=client
        ).fit(da.from_array(X, chunks=(200, 12)))
    X[450, 7] = np.nan
    bad = da.from_array(X, chunks=(200, 12))
    # Row 450 of X, not row 50 of its third chunk.
    where = r"X \(rows 400:600\) contains 1 non-finite .* at row 450, column 7"
    with pytest.raises(ValueError, match=where):
        client.compute(model.transform(bad), sync=True)
    with pytest.raises(ValueError, match=where):
        model.score(bad)


def test_arrays_in_memory_train_as_the_in_memory_estimator(tmp_path):
    # The docstring's "(a NumPy array: as in memory)": these raised
    # AttributeError: ... no attribute '_data'.
    X = data(m=200)
    hyper = dict(HYPER, n_components=3, max_iter=4, block_rows=16, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert_same_model(
            DaskSparseAutoencoder(**hyper).fit(X), SparseAutoencoder(**hyper).fit(X)
        )
        np.save(tmp_path / "X.npy", X)
        assert_same_model(
            DaskSparseAutoencoder(**hyper).fit_file(tmp_path / "X.npy"),
            SparseAutoencoder(**hyper).fit(X),
        )
        adam = dict(hyper, solver="adam", batch_size=50)
        assert_same_model(
            DaskSparseAutoencoder(**adam).partial_fit(X),
            SparseAutoencoder(**adam).partial_fit(X),
        )


def test_clone_and_pickle_keep_or_drop_the_client(client):
    import pickle

    from sklearn.base import clone

    model = DaskSparseAutoencoder(n_components=3, max_iter=2, client=client)
    # A client cannot be deep-copied or pickled: clone shares it (as
    # GridSearchCV and cross_val_score need), pickle leaves it out.
    copy = clone(model)
    assert copy.client is client
    assert copy.get_params() == model.get_params()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(da.from_array(data(m=100), chunks=50))
    restored = pickle.loads(pickle.dumps(model))
    assert restored.client is None
    assert model.client is client
    np.testing.assert_array_equal(restored.components_, model.components_)


def test_resume_checks_x_even_when_there_is_nothing_left_to_do(client):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = DaskSparseAutoencoder(
            n_components=3, max_iter=2, random_state=0, client=client
        ).fit(da.from_array(data(m=100), chunks=50))
    # As SparseAutoencoder.resume_fit does: it returned the model silently.
    with pytest.raises(ValueError, match=r"n_features_in_=12\), got \(10, 5\)"):
        model.resume_fit(da.zeros((10, 5)))


@pytest.mark.parametrize("chunk_rows", [0, -5, 2.5, True, "64"])
def test_a_bad_chunk_rows_is_named(tmp_path, chunk_rows):
    # 0 used to mean the default, -5 gave an array of no rows, and the rest
    # failed in Python's or Dask's words.
    from sparseae.distributed import open_data

    np.save(tmp_path / "X.npy", data(m=20))
    da.from_array(data(m=20), chunks=10).to_zarr(str(tmp_path / "X.zarr"))
    for path in (tmp_path / "X.npy", tmp_path / "X.zarr"):
        with pytest.raises(ValueError, match=r"chunk_rows must be a positive int"):
            open_data(path, chunk_rows=chunk_rows)
    with pytest.raises(ValueError, match=r"chunk_rows must be a positive int"):
        from_npy(tmp_path / "X.npy", chunk_rows=chunk_rows)


def test_open_data_takes_a_suffix_in_any_case(tmp_path):
    from sparseae.distributed import open_data

    with open(tmp_path / "X.NPY", "wb") as file:  # np.save would add .npy
        np.save(file, data(m=20))
    np.testing.assert_array_equal(
        open_data(tmp_path / "X.NPY", chunk_rows=np.int64(8)).compute(), data(m=20)
    )


@pytest.mark.parametrize("n_workers", [0, -1, 1.5, True, "2"])
def test_local_cluster_refuses_a_worker_count_below_one(n_workers):
    with pytest.raises(ValueError, match=r"n_workers must be an int >= 1, got"):
        local_cluster(n_workers)


def test_local_cluster_takes_a_numpy_int():
    with local_cluster(
        np.int64(1), processes=False, dashboard_address=":0", silence_logs=40
    ) as cluster:
        assert len(cluster.workers) == 1


@pytest.mark.slow
def test_a_worker_killed_mid_fit_changes_nothing(tmp_path):
    from distributed import Client

    X = data(m=3000, n=16)
    np.save(tmp_path / "X.npy", X)
    hyper = dict(HYPER, n_components=6, max_iter=20, block_rows=128, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        want = SparseAutoencoder(**hyper).fit(X)
    with (
        local_cluster(
            2, processes=True, dashboard_address=":0", silence_logs=50
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        # Dask's nanny would set it; local_cluster's workers keep glibc's own.
        environment = client.run(os.environ.get, "MALLOC_TRIM_THRESHOLD_")
        assert set(environment.values()) == {os.environ.get("MALLOC_TRIM_THRESHOLD_")}
        killed = []

        def kill_one(model, progress):
            if progress.iteration == 8 and not killed:
                pid = next(iter(client.run(os.getpid).values()))
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the nanny's reports of the death
            model = DaskSparseAutoencoder(**hyper, client=client).fit(
                from_npy(tmp_path / "X.npy", chunk_rows=256), callback=kill_one
            )
    assert killed
    assert_same_model(model, want)


def test_an_evaluation_gives_up_clearly_when_workers_stay_lost(client, monkeypatch):
    from distributed.comm import CommClosedError

    import sparseae.distributed._evaluate as evaluate_module

    X = da.from_array(data(), chunks=(350, 12))
    cluster = ClusterData(align(X, 16), 16, 5, client)
    theta = Params.initialize(12, 5, rng=np.random.default_rng(0)).vector
    settings = make_settings(**HYPER)
    lost = []

    def always_lost(*args):
        lost.append(1)
        raise CommClosedError("worker gone")

    monkeypatch.setattr(cluster, "_map_once", always_lost)
    with pytest.raises(ConnectionError, match="failed 5 times .*is the cluster up"):
        cluster.sums(theta, settings)
    assert len(lost) == 5
    # No worker coming back: a bounded wait, then the same kind of error.
    monkeypatch.setattr(evaluate_module, "WORKER_WAIT", 0.1)

    def no_worker_joins(n, timeout):
        raise TimeoutError(f"no worker within {timeout} s")

    monkeypatch.setattr(client, "wait_for_workers", no_worker_joins)
    with pytest.raises(ConnectionError, match=r"none joined again within 0\.1 s"):
        cluster.sums(theta, settings)


def test_a_dask_checkpoint_says_where_it_resumes_and_zarr_is_not_a_file(
    client, zarr_data, tmp_path
):
    X = data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = DaskSparseAutoencoder(
            **HYPER, n_components=5, max_iter=8, random_state=0, client=client
        ).fit(zarr_data(X), callback=lambda model, progress: progress.iteration == 2)
    model.save(tmp_path / "checkpoint.safetensors")
    with pytest.raises(ValueError, match=r"of a fit on Dask.*from_local\(model\)"):
        load(tmp_path / "checkpoint.safetensors").resume_fit(X)
    store = tmp_path / "X.zarr"
    da.from_array(X, chunks=(100, 12)).to_zarr(str(store))
    with pytest.raises(IsADirectoryError, match="a zarr store.*DaskSparseAutoencoder"):
        SparseAutoencoder(5).fit_file(store)


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_verbose_reports_a_fit_on_the_cluster_once_per_step(client, capsys, solver):
    X = data(m=200)
    hyper = dict(
        HYPER, n_components=3, max_iter=3, solver=solver, batch_size=200, verbose=1
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        DaskSparseAutoencoder(**hyper, client=client).fit(da.from_array(X, (50, 12)))
        on_cluster = capsys.readouterr().out
        DaskSparseAutoencoder(**hyper, client=client).fit(X)  # in memory
        in_memory = capsys.readouterr().out
    for out in (on_cluster, in_memory):
        lines = [line for line in out.splitlines() if "loss = " in line]
        assert len(lines) == 3, out  # one line per iteration or epoch, not two
    with pytest.raises(TypeError, match="callback must be None or a function"):
        DaskSparseAutoencoder(**hyper, client=client).fit(
            da.from_array(X, (50, 12)), callback="print"
        )
