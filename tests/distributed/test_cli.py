"""``sparseae train/encode`` out of core and on a cluster: the same model."""

import numpy as np
import pytest

from sparseae import load
from sparseae.cli import main

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
    assert "tcp://HOST:PORT or local:N" in capsys.readouterr().err


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
