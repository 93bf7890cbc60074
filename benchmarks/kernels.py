"""One loss-and-gradient evaluation: sparseae, PyTorch and the GEMM bound.

Contenders, all on the same data and parameters, with the machine's threads:

- ``gemm bound``: the five matrix products of one evaluation alone, with
  preallocated outputs, in float32: arithmetic that no implementation of the
  model avoids.  Timed two ways, on whole arrays with the BLAS threading each
  product (``gemm whole``) and on one half of the rows per core with one BLAS
  thread each (``gemm rows``); the bound is the faster of the two.
- ``sparseae f32`` / ``f64``: :func:`sparseae.evaluate` as shipped.
- ``sparseae f32 one pass``: :func:`sparseae.core.chunked.evaluate_chunks` on the
  array, the single pass of docs/derivation.md#eq-11 with six products (what
  out-of-core data and wide models get).
- ``sparseae f32 one core``: ``evaluate`` with the BLAS limited to one thread.
- ``sparseae f32 BLAS threads``: ``evaluate`` with its worker threads turned
  off and the BLAS free to thread each product, the usual NumPy arrangement.
- ``torch eager`` / ``torch.compile``: the same model in PyTorch, float32,
  gradient by autograd (skipped when torch is not installed).
"""

import math
from contextlib import contextmanager
from unittest import mock

import numpy as np
from threadpoolctl import ThreadpoolController

import sparseae.core.kernel as kernel
import sparseae.core.threads as threads
from sparseae import Params, evaluate
from sparseae.core.chunked import evaluate_chunks

from .common import HYPER, data, interleaved


def gemm_bound(X, params):
    """The five products on whole arrays, the BLAS threading each one."""
    W1, _, W2, _ = params
    m, n, h = X.shape[0], W1.shape[1], W1.shape[0]
    a2, z3 = np.empty((m, h), X.dtype), np.empty((m, n), X.dtype)
    gW1, gW2 = np.empty((h, n), X.dtype), np.empty((n, h), X.dtype)

    def run(start=0, stop=m):
        np.matmul(X[start:stop], W1.T, out=a2[start:stop])
        np.matmul(a2[start:stop], W2.T, out=z3[start:stop])
        np.matmul(z3[start:stop].T, a2[start:stop], out=gW2)
        np.matmul(z3[start:stop], W2, out=a2[start:stop])
        np.matmul(a2[start:stop].T, X[start:stop], out=gW1)

    return run


def gemm_bound_rows(X, params):
    """The five products on one share of the rows per core, one BLAS thread each."""
    workers = threads.available_workers()
    shares = [gemm_bound(X, params) for _ in range(workers)]
    rows = -(-X.shape[0] // workers)

    def run():
        with threads.WorkerPool(workers) as pool:
            pool.run_blocks(
                lambda share, start, stop: share(start, stop),
                shares,
                n_rows=X.shape[0],
                block_rows=rows,
            )

    return run


@contextmanager
def blas_threads_only():
    """sparseae's kernel in the calling thread with the BLAS left threaded."""
    with (
        mock.patch.object(kernel, "_PARALLEL_WORK", math.inf),
        mock.patch.object(threads, "_hold_limit", lambda: None),
        mock.patch.object(threads, "_release_limit", lambda limiter: None),
    ):
        yield


def sparseae_contenders(X32, params):
    X64, p32 = X32.astype(np.float64), params.astype(np.float32)
    # One controller for all calls: threadpool_limits() scans the loaded
    # libraries each time, which would be timed too.
    controller = ThreadpoolController()

    def one_core():
        with controller.limit(limits=1, user_api="blas"):
            evaluate(p32, X32, **HYPER)

    def blas_only():
        with blas_threads_only():
            evaluate(p32, X32, **HYPER)

    return {
        "sparseae f32": lambda: evaluate(p32, X32, **HYPER),
        "sparseae f64": lambda: evaluate(params, X64, **HYPER),
        "sparseae f32 one pass": lambda: evaluate_chunks(p32, X32, **HYPER),
        "sparseae f32 one core": one_core,
        "sparseae f32 BLAS threads": blas_only,
    }


def torch_model(torch):
    rho, beta = HYPER["sparsity_target"], HYPER["sparsity_weight"]
    lam = HYPER["weight_decay"]

    def loss(W1, b1, W2, b2, X):
        a2 = torch.sigmoid(X @ W1.T + b1)
        x_hat = torch.sigmoid(a2 @ W2.T + b2)
        rho_hat = a2.mean(0).clamp(1e-7, 1 - 1e-7)
        kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log(
            (1 - rho) / (1 - rho_hat)
        )
        return (
            0.5 * ((x_hat - X) ** 2).sum() / X.shape[0]
            + 0.5 * lam * ((W1**2).sum() + (W2**2).sum())
            + beta * kl.sum()
        )

    return loss


def torch_contenders(X32, params, compile_too=True):
    """Eager and compiled PyTorch, after checking them against sparseae."""
    import torch

    X = torch.from_numpy(X32)
    weights = [torch.tensor(block, dtype=torch.float32) for block in params]
    for w in weights:
        w.requires_grad_(True)
    loss = torch_model(torch)

    def step(function):
        def run():
            for w in weights:
                w.grad = None
            value = function(*weights, X)
            value.backward()
            return value

        return run

    contenders = {"torch eager": step(loss)}
    if compile_too:
        contenders["torch.compile"] = step(torch.compile(loss))
    want = evaluate(params.astype(np.float32), X32, **HYPER)
    for name, run in contenders.items():
        value = float(run().detach())
        grads = np.concatenate([w.grad.numpy().ravel() for w in weights])
        error = np.linalg.norm(grads - want.grads.vector) / np.linalg.norm(
            want.grads.vector
        )
        if abs(value - want.terms.total) > 1e-3 * abs(want.terms.total) or error > 1e-3:
            raise AssertionError(f"{name} disagrees with sparseae: {value}, {error}")
    return contenders


def run(sizes, rounds, use_torch=True, compile_too=True, log=print):
    """Time every contender at each size; return one row per size."""
    rows = []
    for name in sizes:
        m, n, h = sizes[name]
        X32 = data(m, n)
        params = Params.initialize(n, h, rng=np.random.default_rng(0))
        p32 = params.astype(np.float32)
        contenders = {
            "gemm whole": gemm_bound(X32, p32),
            "gemm rows": gemm_bound_rows(X32, p32),
        }
        contenders.update(sparseae_contenders(X32, params))
        if use_torch:
            contenders.update(torch_contenders(X32, params, compile_too))
        log(f"  {name} {m}x{n}->{h}: {len(contenders)} contenders x {rounds[name]}")
        medians = interleaved(contenders, rounds[name])
        medians["gemm bound"] = min(medians["gemm whole"], medians["gemm rows"])
        row = {"size": name, "m": m, "n": n, "h": h, "seconds": medians}
        base = medians["sparseae f32"]
        row["ratios"] = {
            f"sparseae f32 / {other}": base / medians[other]
            for other in medians
            if other != "sparseae f32"
        }
        rows.append(row)
    return rows
