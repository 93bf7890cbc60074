"""``sparseae train/encode`` out of core and on a cluster: the same model.

And the command's care on a cluster: outputs survive failures, options and
addresses are checked with one line naming them, and an unreachable or
worker-less scheduler is reported rather than waited on forever.
"""

import socket
import time
import warnings

import numpy as np
import pytest

from sparseae import SparseAutoencoder, load
from sparseae.cli import cluster, main

from .conftest import data

da = pytest.importorskip("dask.array")


def test_train_everywhere_gives_the_same_model(client, tmp_path, capsys):
    X = data(m=600, n=10)
    np.save(tmp_path / "X.npy", X)
    da.from_array(X, chunks=(128, 10)).to_zarr(str(tmp_path / "X.zarr"))
    common = ["--n-components", "4", "--max-iter", "8", "--quiet", "--block-rows", "32"]
    runs = {
        "memory": [str(tmp_path / "X.npy")],
        "out of core": [str(tmp_path / "X.npy"), "--out-of-core"],
        "zarr": [str(tmp_path / "X.zarr")],
        "cluster": [str(tmp_path / "X.zarr"), "--scheduler", client.scheduler.address],
    }
    models = {}
    for name, argv in runs.items():
        out = tmp_path / name.replace(" ", "_")
        assert main(["train", *argv, "-o", str(out), *common]) == 0, name
        models[name] = load(out / "model.safetensors")
    for name, model in models.items():
        np.testing.assert_array_equal(model.components_, models["memory"].components_)
        assert model.loss_curve_ == models["memory"].loss_curve_, name
    codes = tmp_path / "codes.zarr"
    argv = [
        "encode",
        str(tmp_path / "cluster" / "model.safetensors"),
        str(tmp_path / "X.zarr"),
        "-o",
        str(codes),
        "--scheduler",
        client.scheduler.address,
    ]
    assert main(argv) == 0
    np.testing.assert_allclose(
        da.from_zarr(str(codes)).compute(), models["memory"].transform(X), rtol=1e-14
    )


def test_a_run_on_a_cluster_or_out_of_core_writes_what_a_run_in_memory_does(
    client, tmp_path, capsys
):
    import json

    X = data(m=300, n=16)
    np.save(tmp_path / "X.npy", X)
    da.from_array(X, chunks=(128, 16)).to_zarr(str(tmp_path / "X.zarr"))
    common = ["--n-components", "4", "--max-iter", "6", "--quiet", "--block-rows", "32"]
    common += ["--image-shape", "4", "4"]
    runs = {
        "memory": [str(tmp_path / "X.npy")],
        "out_of_core": [str(tmp_path / "X.npy"), "--out-of-core"],
        "cluster": [str(tmp_path / "X.zarr"), "--scheduler", client.scheduler.address],
    }
    metrics = {}
    for name, argv in runs.items():
        out = tmp_path / name
        assert main(["train", *argv, "-o", str(out), *common]) == 0, name
        assert {p.name for p in out.iterdir()} == {
            "model.safetensors",
            "metrics.json",
            "history.csv",
            "loss.png",
            "filters.png",
            "report.html",
        }, name
        metrics[name] = json.loads((out / "metrics.json").read_text())
        assert "report.html" in capsys.readouterr().out
    memory = metrics["memory"]
    for name in ("out_of_core", "cluster"):
        run = metrics[name]
        for key in ("objective", "reconstruction", "weight_decay", "sparsity"):
            assert run[key] == memory[key], (name, key)
        for key in ("mean_activation", "mean_activation_gap", "score"):
            assert run[key] == pytest.approx(memory[key], rel=1e-12), (name, key)
        assert run["n_iter"] == 6 and run["data"]["n_samples"] == 300
        assert run["units"]["fvu"] == pytest.approx(memory["units"]["fvu"], rel=1e-12)
        assert run["units"]["l0"] == memory["units"]["l0"]
        config = run["config"]
        assert config["hyperparameters"] == memory["config"]["hyperparameters"]
        assert config["data"]["n_samples"] == 300 and config["data"]["fingerprint"]
        assert config["data"]["image_shape"] == [4, 4]
    assert metrics["cluster"]["config"]["data"]["source"].endswith("X.zarr")


def test_summary_rows_bound_the_pass_after_training_alike_everywhere(
    client, tmp_path, capsys
):
    import json

    from sparseae import load
    from sparseae.core.objective import loss_terms

    X = data(m=300, n=16)
    np.save(tmp_path / "X.npy", X)
    da.from_array(X, chunks=(128, 16)).to_zarr(str(tmp_path / "X.zarr"))
    common = ["--n-components", "4", "--max-iter", "4", "--quiet", "--block-rows", "32"]
    runs = {
        "memory": [str(tmp_path / "X.npy")],
        "cluster": [str(tmp_path / "X.zarr"), "--scheduler", client.scheduler.address],
    }
    metrics = {}
    for name, argv in runs.items():
        out = tmp_path / name
        argv = ["train", *argv, "-o", str(out), *common, "--summary-rows", "100"]
        assert main(argv) == 0, name
        assert "figures of the first 100" in capsys.readouterr().out
        metrics[name] = json.loads((out / "metrics.json").read_text())
        assert metrics[name]["data"]["n_samples"] == 300
        assert metrics[name]["data"]["measured_samples"] == 100
        assert metrics[name]["config"]["data"]["n_samples"] == 300
    model = load(tmp_path / "memory" / "model.safetensors")
    want = loss_terms(
        model._params(),
        X[:100],
        sparsity_target=model.sparsity_target,
        sparsity_weight=model.sparsity_weight,
        weight_decay=model.weight_decay,
    )
    for name in runs:
        assert metrics[name]["objective"] == want.total, name
    bad = ["train", str(tmp_path / "X.npy"), "-o", str(tmp_path / "bad")]
    assert main([*bad, "--summary-rows", "0"]) == 2
    assert "--summary-rows: must be an integer >= 1, got 0" in capsys.readouterr().err


def test_a_cluster_run_refuses_an_image_shape_of_other_width_before_training(
    client, tmp_path, capsys
):
    da.from_array(data(m=50, n=16), chunks=(25, 16)).to_zarr(str(tmp_path / "X.zarr"))
    argv = ["train", str(tmp_path / "X.zarr"), "--scheduler", client.scheduler.address]
    argv += ["-o", str(tmp_path / "r"), "--image-shape", "3", "3"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "--image-shape (3, 3) has 9 pixels" in err and "16 features" in err
    assert not (tmp_path / "r").exists()


def test_bad_cluster_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert (
        main(["train", "digits", "--scheduler", "local:1", "-o", str(tmp_path / "r")])
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and ".npy file or a .zarr store" in err
    np.save(tmp_path / "X.npy", data(m=20, n=4))
    assert (
        main(
            [
                "train",
                str(tmp_path / "X.npy"),
                "--scheduler",
                "nowhere:1",
                "-o",
                str(tmp_path / "s"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "tcp://HOST:PORT" in err and "local:N" in err and "'nowhere:1'" in err


def test_ctrl_c_on_a_cluster_keeps_a_checkpoint_and_resume_is_bit_identical(
    client, tmp_path, monkeypatch, capsys
):
    from ..cli.test_train_encode_show import interrupt_at

    X = data(m=600, n=10)
    store = str(tmp_path / "X.zarr")
    da.from_array(X, chunks=(128, 10)).to_zarr(store)
    argv = [store, "--scheduler", client.scheduler.address, "--block-rows", "32"]
    argv += ["--n-components", "4", "--max-iter", "12", "--tol", "0", "--quiet"]
    assert main(["train", *argv, "-o", str(tmp_path / "whole")]) == 0
    capsys.readouterr()
    interrupt_at(monkeypatch, 5)
    assert main(["train", *argv, "-o", str(tmp_path / "cut")]) == 130
    assert capsys.readouterr().out.startswith("interrupted after 5 iterations")
    checkpoint = load(tmp_path / "cut" / "checkpoint.safetensors")
    assert checkpoint.n_iter_ == 5 and checkpoint._training_state.fitting
    assert (tmp_path / "cut" / "history.csv").is_file()
    monkeypatch.undo()
    assert main(["train", *argv, "-o", str(tmp_path / "cut"), "--resume"]) == 0
    assert not (tmp_path / "cut" / "checkpoint.safetensors").exists()
    whole = load(tmp_path / "whole" / "model.safetensors")
    resumed = load(tmp_path / "cut" / "model.safetensors")
    np.testing.assert_array_equal(resumed.components_, whole.components_)
    np.testing.assert_array_equal(resumed.decoder_weights_, whole.decoder_weights_)
    assert resumed.loss_curve_ == whole.loss_curve_ and resumed.n_iter_ == 12
    # Other blocks than the run's would give another model: refused.
    changed = [*argv[:4], "64", *argv[5:]]
    assert main(["train", *changed, "-o", str(tmp_path / "cut"), "--resume"]) == 2
    assert "--block-rows is 64 but the run used 32" in capsys.readouterr().err


def test_ctrl_c_out_of_core_keeps_a_checkpoint_and_resume_is_bit_identical(
    tmp_path, monkeypatch, capsys
):
    from ..cli.test_train_encode_show import interrupt_at

    np.save(tmp_path / "X.npy", data(m=300, n=10))
    argv = [str(tmp_path / "X.npy"), "--out-of-core", "--n-components", "4"]
    argv += ["--max-iter", "12", "--tol", "0", "--quiet"]
    assert main(["train", *argv, "-o", str(tmp_path / "whole")]) == 0
    capsys.readouterr()
    interrupt_at(monkeypatch, 5)
    assert main(["train", *argv, "-o", str(tmp_path / "cut")]) == 130
    assert capsys.readouterr().out.startswith("interrupted after 5 iterations")
    assert load(tmp_path / "cut" / "checkpoint.safetensors").n_iter_ == 5
    monkeypatch.undo()
    assert main(["train", *argv, "-o", str(tmp_path / "cut"), "--resume"]) == 0
    whole = load(tmp_path / "whole" / "model.safetensors")
    resumed = load(tmp_path / "cut" / "model.safetensors")
    np.testing.assert_array_equal(resumed.components_, whole.components_)
    assert resumed.loss_curve_ == whole.loss_curve_ and resumed.n_iter_ == 12
    # A finished run goes on to a larger --max-iter, as one longer run.
    longer = [*argv[:5], "16", *argv[6:]]
    assert main(["train", *longer, "-o", str(tmp_path / "cut"), "--resume"]) == 0
    assert main(["train", *longer, "-o", str(tmp_path / "long")]) == 0
    np.testing.assert_array_equal(
        load(tmp_path / "cut" / "model.safetensors").components_,
        load(tmp_path / "long" / "model.safetensors").components_,
    )


def test_an_encode_removes_the_partial_store_of_a_killed_one(tmp_path, capsys):
    X = data(m=40, n=6)
    fitted(X, 3).save(tmp_path / "model.safetensors")
    da.from_array(X, chunks=(20, 6)).to_zarr(str(tmp_path / "X.zarr"))
    # What an encode killed by SIGKILL while writing leaves: its partial store.
    partial = tmp_path / ".codes.zarr.0123abcd.tmp"
    da.from_array(np.zeros((20, 3)), chunks=(10, 3)).to_zarr(str(partial))
    argv = ["encode", str(tmp_path / "model.safetensors"), str(tmp_path / "X.zarr")]
    assert main([*argv, "-o", str(tmp_path / "codes.zarr")]) == 0
    assert "removed what killed writes of" in capsys.readouterr().err
    assert not partial.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "X.zarr",
        "codes.zarr",
        "model.safetensors",
    ]


def test_the_old_store_of_a_swap_cut_short_is_kept_when_it_is_the_only_copy(
    tmp_path, capsys
):
    X = data(m=40, n=6)
    fitted(X, 3).save(tmp_path / "model.safetensors")
    da.from_array(X, chunks=(20, 6)).to_zarr(str(tmp_path / "X.zarr"))
    # Killed between the two renames of a swap: the earlier codes are aside.
    aside = tmp_path / ".codes.zarr.0123abcd.old"
    da.from_array(np.full((40, 3), 7.0), chunks=(20, 3)).to_zarr(str(aside))
    argv = ["encode", str(tmp_path / "model.safetensors"), str(tmp_path / "X.zarr")]
    assert main([*argv, "-o", str(tmp_path / "other.zarr")]) == 0
    assert main([*argv, "-o", str(tmp_path / "codes.zarr")]) == 0
    assert "is kept" in capsys.readouterr().err
    assert (da.from_zarr(str(aside)).compute() == 7.0).all()
    # Once codes.zarr exists again, the copy aside is garbage.
    assert main([*argv, "-o", str(tmp_path / "codes.zarr"), "--overwrite"]) == 0
    assert not aside.exists()


def fitted(X, n_components):
    """A model of ``X`` after two iterations (its ConvergenceWarning ignored)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SparseAutoencoder(n_components=n_components, max_iter=2).fit(X)


def one_line(err: str, *patterns) -> None:
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for pattern in patterns:
        assert pattern in err, err


@pytest.fixture
def encoding(tmp_path):
    """A model, data of 3001 rows in chunks of 1000 (one NaN at row 2500), old codes."""
    X = data(m=3001, n=8)
    fitted(X, 3).save(tmp_path / "model.safetensors")
    X[2500, 3] = np.nan
    da.from_array(X, chunks=(1000, 8)).to_zarr(str(tmp_path / "nan.zarr"))
    old = tmp_path / "codes.zarr"
    da.from_array(np.full((5, 3), 7.0), chunks=(2, 3)).to_zarr(str(old))
    return tmp_path


@pytest.mark.parametrize("where", ["dask's threads", "a cluster", "local:1"])
def test_a_failed_encode_keeps_the_old_codes_and_names_the_row_in_the_data(
    encoding, client, where, capfd
):
    before = sorted(p.name for p in encoding.iterdir())
    scheduler = {"a cluster": [client.scheduler.address], "local:1": ["local:1"]}
    argv = ["encode", str(encoding / "model.safetensors"), str(encoding / "nan.zarr")]
    argv += ["-o", str(encoding / "codes.zarr"), "--overwrite"]
    if where in scheduler:
        argv += ["--scheduler", *scheduler[where]]
    assert main(argv) == 2
    # One line, without the workers' log of the failed task.
    one_line(capfd.readouterr().err, "the first at row 2500, column 3")
    np.testing.assert_array_equal(
        da.from_zarr(str(encoding / "codes.zarr")).compute(), np.full((5, 3), 7.0)
    )
    assert sorted(p.name for p in encoding.iterdir()) == before


def test_an_encode_replaces_the_old_codes_once_written(encoding, client, capsys):
    X = data(m=3001, n=8)
    da.from_array(X, chunks=(1000, 8)).to_zarr(str(encoding / "X.zarr"))
    argv = ["encode", str(encoding / "model.safetensors"), str(encoding / "X.zarr")]
    argv += ["-o", str(encoding / "codes.zarr"), "--overwrite"]
    assert main([*argv, "--scheduler", client.scheduler.address]) == 0
    model = load(encoding / "model.safetensors")
    np.testing.assert_allclose(
        da.from_zarr(str(encoding / "codes.zarr")).compute(),
        model.transform(X),
        rtol=1e-14,
    )
    assert not [p for p in encoding.iterdir() if p.name.startswith(".")]


BAD_OPTIONS = [
    (["--scheduler", "tcp://127.0.0.1:notaport"], "'tcp://127.0.0.1:notaport'"),
    (["--scheduler", "tcp://127.0.0.1:0"], "PORT 1-65535"),
    (["--scheduler", "tcp://127.0.0.1:65536"], "PORT 1-65535"),
    (["--scheduler", "tcp://:8786"], "tcp://HOST:PORT"),
    (["--scheduler", "local:0"], "local:N with N >= 1, got 'local:0'"),
    (["--scheduler", "local:two"], "local:N with N >= 1, got 'local:two'"),
    (["--block-rows", "0"], "argument --block-rows: must be an integer >= 1, got 0"),
    (["--block-rows", "x"], "argument --block-rows: must be an integer >= 1"),
]


@pytest.fixture
def small(tmp_path):
    """DATA.npy of 20 x 4 and a model of it, in a folder of their own."""
    folder = tmp_path / "in"
    folder.mkdir()
    X = data(m=20, n=4)
    np.save(folder / "X.npy", X)
    fitted(X, 2).save(folder / "m.safetensors")
    return folder


def commands(small, out):
    """``train`` and ``encode`` argument lists writing into ``out``."""
    return {
        "train": ["train", str(small / "X.npy"), "-o", str(out / "run"), "--quiet"],
        "encode": [
            "encode",
            str(small / "m.safetensors"),
            str(small / "X.npy"),
            "-o",
            str(out / "codes.zarr"),
        ],
    }


@pytest.mark.parametrize(
    ("command", "option", "message"),
    [
        (command, option, message)
        for command in ("train", "encode")
        for option, message in BAD_OPTIONS
        # encode has no --block-rows: it sums nothing.
        if not (command == "encode" and option[0] == "--block-rows")
    ],
)
def test_bad_cluster_options_are_refused_when_parsed(
    small, tmp_path, command, option, message, monkeypatch, capsys
):

    def no_cluster(address):
        raise AssertionError("a cluster was started")

    monkeypatch.setattr(cluster, "_client", no_cluster)
    assert main([*commands(small, tmp_path)[command], *option]) == 2
    one_line(capsys.readouterr().err, f"argument {option[0]}: ", message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("command", ["train", "encode"])
def test_an_unreachable_scheduler_is_one_line_soon(
    small, tmp_path, command, monkeypatch, capsys
):
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 1)
    address = f"tcp://127.0.0.1:{closed_port()}"
    start = time.perf_counter()
    assert main([*commands(small, tmp_path)[command], "--scheduler", address]) == 2
    assert time.perf_counter() - start < 5
    one_line(capsys.readouterr().err, f"--scheduler {address}: no Dask scheduler")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


@pytest.mark.parametrize("command", ["train", "encode"])
def test_a_scheduler_without_workers_is_waited_on_for_a_while(
    small, tmp_path, command, monkeypatch, capsys
):
    from distributed import LocalCluster

    monkeypatch.setattr(cluster, "WORKER_TIMEOUT", 0.5)
    with LocalCluster(
        n_workers=0, processes=False, dashboard_address=":0", silence_logs=40
    ) as empty:
        address = empty.scheduler_address
        argv = [*commands(small, tmp_path)[command], "--scheduler", address]
        assert main(argv) == 2
    waiting, error = capsys.readouterr().err.strip().splitlines()
    assert waiting.startswith("waiting up to 0.5 s for a worker") and address in waiting
    assert f"--scheduler {address}: no workers joined the scheduler" in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


@pytest.mark.slow
def test_ctrl_c_in_a_terminal_stops_a_local_cluster_run_with_a_checkpoint(tmp_path):
    # A terminal sends Ctrl-C to its whole foreground process group: the
    # command and the workers of --scheduler local:N alike.  The workers must
    # not die of it while the command saves its checkpoint.
    import os
    import signal
    import subprocess
    import sys

    da.from_array(data(m=400, n=8), chunks=(100, 8)).to_zarr(str(tmp_path / "X.zarr"))
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "sparseae.cli", "train", str(tmp_path / "X.zarr")]
    argv += ["-o", str(out), "--scheduler", "local:2", "--n-components", "3"]
    argv += ["--max-iter", "100000", "--tol", "0", "--checkpoint-every", "0.2"]
    process = subprocess.Popen(
        argv,
        cwd=tmp_path,
        start_new_session=True,  # a process group of its own, as in a terminal
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoint.safetensors").exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 130, stderr
    assert "interrupted after" in stdout and "--resume" in stdout
    assert "workers were lost" not in stderr
    assert load(out / "checkpoint.safetensors").n_iter_ >= 1
