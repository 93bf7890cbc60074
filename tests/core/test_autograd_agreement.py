"""Agreement with an independent implementation differentiated by autograd."""

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad

from sparseae import Params, loss_and_grad
from sparseae.cli.gradcheck import problem_away_from_kinks, unit_combinations

from ..conftest import COMBINATIONS, tiny_problem


def independent_objective(
    theta,
    X,
    n,
    h,
    rho,
    beta,
    lam,
    penalty,
    output,
    loss,
    unit="sigmoid",
    kept=None,
    aux_weight=0.0,
    aux_chosen=None,
):
    """Derivation eqs. (1)-(5) written directly, with no shared code and no clamping.

    ``unit`` is the hidden unit; for "topk", ``kept`` is the (m, h) 0/1 array of
    the units each sample keeps, fixed: the selection is locally constant, so
    it carries no gradient, and the objective has no sparsity term.  With
    ``aux_chosen``, the (m, h) 0/1 array of the dead units chosen for the
    auxiliary code, fixed for the same reason, eq. (15) is added.
    """
    W1 = anp.reshape(theta[: h * n], (h, n))
    b1 = theta[h * n : h * n + h]
    W2 = anp.reshape(theta[h * n + h : 2 * h * n + h], (n, h))
    b2 = theta[2 * h * n + h :]
    m = X.shape[0]
    z2 = anp.dot(X, W1.T) + b1
    if unit == "sigmoid":
        hidden = 1 / (1 + anp.exp(-z2))
    elif unit == "relu":
        hidden = anp.maximum(z2, 0.0)
    else:
        hidden = anp.maximum(z2 * kept, 0.0)
        beta = 0.0
    z3 = anp.dot(hidden, W2.T) + b2
    out = 1 / (1 + anp.exp(-z3)) if output == "sigmoid" else z3
    if loss == "squared":
        reconstruction = anp.sum((out - X) ** 2) / (2 * m)
    else:
        reconstruction = -anp.sum(X * anp.log(out) + (1 - X) * anp.log(1 - out)) / m
    rho_hat = anp.mean(hidden, axis=0)
    if penalty == "kl":
        per_unit = rho * anp.log(rho / rho_hat) + (1 - rho) * anp.log(
            (1 - rho) / (1 - rho_hat)
        )
    elif penalty == "squared":
        per_unit = (rho_hat - rho) ** 2
    else:
        per_unit = rho_hat
    decay = lam / 2 * (anp.sum(W1**2) + anp.sum(W2**2))
    auxiliary = 0.0
    if aux_chosen is not None:
        combined = hidden + anp.maximum(z2 * aux_chosen, 0.0)
        error = anp.dot(combined, W2.T) + b2 - X
        auxiliary = aux_weight * anp.sum(error**2) / (2 * m)
    return reconstruction + decay + beta * anp.sum(per_unit) + auxiliary


def chosen_dead_units(z2, hidden, dead, aux_k):
    """Row by row: the aux_k largest z2 among the dead units with no activation."""
    chosen = np.zeros(z2.shape)
    for i, (row, active) in enumerate(zip(z2, hidden, strict=True)):
        candidates = [j for j in range(len(row)) if dead[j] and active[j] == 0]
        candidates.sort(key=lambda j: -row[j])
        chosen[i, candidates[:aux_k]] = 1.0
    return chosen


@pytest.mark.parametrize(("penalty", "output", "loss"), COMBINATIONS)
@pytest.mark.parametrize("seed", [0, 1])
def test_value_and_gradient_agree_with_autograd(penalty, output, loss, seed):
    X, params = tiny_problem(seed=seed, m=13, n=6, h=4)
    hyper = dict(sparsity_target=0.05, sparsity_weight=2.0, weight_decay=3e-3)
    J, grads = loss_and_grad(
        params, X, **hyper, penalty=penalty, output=output, loss=loss
    )
    args = (X, 6, 4, 0.05, 2.0, 3e-3, penalty, output, loss)
    theta = params.to_vector()
    J_auto = independent_objective(theta, *args)
    g_auto = grad(independent_objective)(theta, *args)
    assert J == pytest.approx(J_auto, rel=1e-12)
    difference = np.linalg.norm(grads.to_vector() - g_auto) / np.linalg.norm(g_auto)
    assert difference < 1e-10
    assert isinstance(grads, Params)


PIECEWISE_LINEAR = [row for row in unit_combinations() if row[0] != "sigmoid"]


@pytest.mark.parametrize(("unit", "penalty", "output", "loss"), PIECEWISE_LINEAR)
@pytest.mark.parametrize("seed", [0, 1])
def test_relu_and_topk_agree_with_autograd(unit, penalty, output, loss, seed):
    # Problems with every pre-activation 0.01 from the ReLU's kink and the
    # k-th and (k+1)-th of each sample 0.01 apart: there the objective is
    # smooth, so an autodiff gradient is the gradient.
    k = 3
    X, params = problem_away_from_kinks(np.random.default_rng(seed), 13, 6, 7, unit, k)
    hyper = dict(sparsity_target=0.05, sparsity_weight=0.5, weight_decay=3e-3)
    J, grads = loss_and_grad(
        params,
        X,
        **hyper,
        penalty=penalty,
        output=output,
        loss=loss,
        activation=unit,
        k=k,
    )
    z2 = X @ params.W1.T + params.b1
    kept = (z2 >= np.sort(z2, axis=1)[:, [-k]]).astype(float)  # (13, 7)
    assert (kept.sum(axis=1) == k).all()
    args = (X, 6, 7, 0.05, 0.5, 3e-3, penalty, output, loss, unit, kept)
    theta = params.to_vector()
    J_auto = independent_objective(theta, *args)
    g_auto = grad(independent_objective)(theta, *args)
    assert J == pytest.approx(J_auto, rel=1e-12)
    difference = np.linalg.norm(grads.to_vector() - g_auto) / np.linalg.norm(g_auto)
    assert difference < 1e-10
    # The units are active on some samples and silent on others, so the test
    # exercises the mask.
    assert 0 < np.mean(z2 > 0) < 1


# Top-k units only (ReLU units take no auxiliary loss): k = 6 of 7 leaves a
# row fewer candidates than aux_k.
@pytest.mark.parametrize(
    "dead",
    [[0, 2, 4, 6], [0, 1, 2, 3, 4, 5, 6], [], [5]],
    ids=["every-other", "all", "none", "one"],
)
@pytest.mark.parametrize("k", [1, 3, 6])
@pytest.mark.parametrize("seed", [0, 1])
def test_auxiliary_loss_agrees_with_autograd(k, dead, seed):
    unit, aux_k, h = "topk", 2, 7
    mask = np.isin(np.arange(h), dead)
    X, params = problem_away_from_kinks(
        np.random.default_rng(seed), 13, 6, h, unit, k, aux_k=aux_k, dead=mask
    )
    penalty = "l1"
    hyper = dict(sparsity_target=0.05, sparsity_weight=0.5, weight_decay=3e-3)
    J, grads = loss_and_grad(
        params,
        X,
        **hyper,
        penalty=penalty,
        output="linear",
        activation=unit,
        k=k,
        aux_k=aux_k,
        aux_weight=0.25,
        dead=mask,
    )
    z2 = X @ params.W1.T + params.b1
    kept = (z2 >= np.sort(z2, axis=1)[:, [-k]]).astype(float)
    hidden = np.maximum(z2 * kept, 0.0)
    chosen = chosen_dead_units(z2, hidden, mask, aux_k)
    args = (X, 6, h, 0.05, 0.5, 3e-3, penalty, "linear", "squared", unit, kept)
    theta = params.to_vector()
    J_auto = independent_objective(theta, *args, 0.25, chosen)
    g_auto = grad(independent_objective)(theta, *args, 0.25, chosen)
    assert J == pytest.approx(J_auto, rel=1e-12)
    difference = np.linalg.norm(grads.to_vector() - g_auto) / np.linalg.norm(g_auto)
    assert difference < 1e-10
    # The auxiliary term is there: without it the values differ; with several
    # dead units and k at most half the units, its code u is not all 0.
    assert J_auto != pytest.approx(independent_objective(theta, *args), rel=1e-6)
    if k <= 3 and len(dead) > 1:
        assert (chosen * z2 > 0).any()
