"""Training processes killed with SIGKILL at random moments lose nothing saved.

``python -m sparseae.cli train`` runs with a checkpoint after every minibatch
step, so most kills land inside a save: between the write of the temporary
file, its fsync, the rename and the fsync of the folder.  After every kill the
checkpoint must load (its SHA-256 digest covers every byte) and be at least as
far on as the one before; at the end, the resumed runs must give bit for bit
the model of a run never interrupted.
"""

import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from sparseae import SparseAutoencoder, load, save
from sparseae.cli import main

pytestmark = pytest.mark.skipif(
    not hasattr(signal, "SIGKILL"), reason="SIGKILL is POSIX only"
)

KILLS_PER_RUN = 6  # two runs side by side: a dozen kills
STEPS_PER_EPOCH = 25  # 200 samples in batches of 8
SETTINGS = dict(
    n_components=6,
    solver="adam",
    batch_size=8,
    max_iter=6,
    n_iter_no_change=100,
    random_state=0,
)


def command(data, folder, *, resume, every="1e-9"):
    argv = [str(data), "-o", str(folder), "--seed", "0", "--quiet"]
    argv += ["--checkpoint-every", every]
    for name, value in SETTINGS.items():
        if name != "random_state":
            argv += ["--" + name.replace("_", "-"), str(value)]
    return ["train", *argv] + (["--resume"] if resume else [])


def progress(model) -> int:
    """Minibatch steps a checkpoint has done."""
    return model.n_iter_ * STEPS_PER_EPOCH + model._training_state.position


def kill_repeatedly(data, folder, seed):
    """Start, kill at a random moment, check, resume; return what was seen."""
    rng = random.Random(seed)
    checkpoint = folder / "checkpoint.safetensors"
    seen = {"steps": [], "leftovers": set(), "early": 0, "finished": False}
    for kill in range(KILLS_PER_RUN):
        if (folder / "model.safetensors").exists():
            seen["finished"] = True
            break
        before = checkpoint.stat().st_mtime_ns if checkpoint.exists() else None
        argv = command(data, folder, resume=before is not None)
        process = subprocess.Popen(
            [sys.executable, "-m", "sparseae.cli", *argv],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        if kill == 1:
            # Once while it starts, before it has saved anything.
            time.sleep(rng.uniform(0, 1.0))
            seen["early"] += 1
        else:
            deadline = time.monotonic() + 60
            while process.poll() is None and time.monotonic() < deadline:
                if checkpoint.exists() and checkpoint.stat().st_mtime_ns != before:
                    break
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.1))
        process.send_signal(signal.SIGKILL)
        _, err = process.communicate()
        assert process.returncode in (0, -signal.SIGKILL), err.decode()
        seen["leftovers"] |= {path.name for path in folder.glob(".*.tmp")}
        if checkpoint.exists():
            seen["steps"].append(progress(load(checkpoint)))
    return seen


def test_sigkill_at_random_moments_never_loses_a_saved_step(tmp_path):
    data = tmp_path / "data.npy"
    X = np.random.default_rng(0).uniform(size=(200, 16))
    np.save(data, X)
    seed = random.randrange(2**32)
    folders = [tmp_path / "run-a", tmp_path / "run-b"]
    with ThreadPoolExecutor(2) as pool:
        seen = list(
            pool.map(
                kill_repeatedly, [data] * 2, folders, [seed, seed + 1], timeout=300
            )
        )
    reference = SparseAutoencoder(**SETTINGS)
    with pytest.warns(Warning, match="max_iter=6"):
        reference.fit(X)
    for folder, record in zip(folders, seen, strict=True):
        steps = record["steps"]
        assert steps == sorted(steps), f"a checkpoint went back (seed {seed})"
        if not (folder / "model.safetensors").exists():
            # The rest of the run, in this process and without the per-step
            # checkpoints that only the kills needed; afresh if every kill came
            # before the first checkpoint. (The last process may also have
            # finished on its own after the last kill was aimed at it.)
            resume = (folder / "checkpoint.safetensors").exists()
            assert main(command(data, folder, resume=resume, every="3600")) == 0
        assert not list(folder.glob(".*.tmp"))
        assert not (folder / "checkpoint.safetensors").exists()
        resumed = load(folder / "model.safetensors")
        for got, expected in zip(resumed._params(), reference._params(), strict=True):
            np.testing.assert_array_equal(got, expected, err_msg=f"seed {seed}")
        assert resumed.loss_curve_ == reference.loss_curve_
    kills = sum(len(r["steps"]) for r in seen)
    assert kills >= KILLS_PER_RUN, seen
    # For the statistics of docs/reliability.md: pytest -rP shows them.
    print(
        f"seed {seed}: {2 * KILLS_PER_RUN} kills planned; checkpoints after them at "
        f"steps {[r['steps'] for r in seen]}; {sum(r['early'] for r in seen)} "
        f"during start-up; {sum(len(r['leftovers']) for r in seen)} temporary files "
        "left by kills mid-save, all removed by the next run"
    )


def test_a_checkpoint_from_any_step_resumes_to_the_same_model(tmp_path):
    """Every step's checkpoint, the last of an epoch (saved before the epoch
    closes) included, resumes to the uninterrupted result."""
    X = np.random.default_rng(0).uniform(size=(20, 6))
    settings = dict(SETTINGS, batch_size=5, max_iter=3)
    files = []

    def snapshot(model, progress):
        files.append(save(model, tmp_path / f"step-{len(files)}.safetensors"))

    with pytest.warns(Warning, match="max_iter=3"):
        reference = SparseAutoencoder(**settings).fit(X, callback=snapshot)
    assert len(files) == 12
    for path in files:
        resumed = load(path)
        with pytest.warns(Warning, match="max_iter=3"):
            resumed.resume_fit(X)
        for got, expected in zip(resumed._params(), reference._params(), strict=True):
            np.testing.assert_array_equal(got, expected, err_msg=path.name)
