"""The auxiliary loss for dead units, derivation eq. (15): value, gradient, sums."""

import pickle

import numpy as np
import pytest

from sparseae import Params, check_gradient, evaluate, loss_and_grad
from sparseae.cli.gradcheck import MARGIN, problem_away_from_kinks, random_problem
from sparseae.core.activations import activate_, auxiliary_code_, kink_margin
from sparseae.core.chunked import ArrayChunks, evaluate_chunks
from sparseae.core.kernel import BlockSums
from sparseae.core.objective import make_settings
from sparseae.core.partial_sums import block_sums, finish_sums, tree_sum

H = 7
DEAD = {
    "every-other": np.arange(H) % 2 == 0,
    "all": np.ones(H, bool),
    "one": np.arange(H) == 3,
    "none": np.zeros(H, bool),
    "None": None,
}
# The auxiliary loss takes top-k units only.  k = 1 leaves most units silent;
# k = 6 of 7 leaves one per row, fewer than aux_k = 2 candidates, and its
# biases are raised by SHIFT so that the silent unit is often positive.
UNITS = {"topk": dict(k=3), "topk-1": dict(k=1), "topk-6": dict(k=6)}
SHIFT = {"topk-6": 1.0}
RELU = dict(activation="relu", penalty="l1", sparsity_weight=0.5)
BASE = dict(sparsity_target=0.1, sparsity_weight=0.0, weight_decay=3e-3)


def hyper(unit, dead, aux_k=2, aux_weight=0.5):
    return (
        BASE
        | UNITS[unit]
        | dict(
            output="linear",
            activation="topk",
            aux_k=aux_k,
            aux_weight=aux_weight,
            dead=dead,
        )
    )


def problem(unit, dead, seed=0, m=13, n=6):
    """:func:`problem_away_from_kinks`, with the biases raised by SHIFT."""
    k, shift = UNITS[unit]["k"], SHIFT.get(unit, 0.0)
    rng = np.random.default_rng(seed)
    for _ in range(1000):
        X, params = random_problem(rng, m, n, H)
        params.b1[...] += shift
        z = X @ params.W1.T + params.b1
        if kink_margin(z, "topk", k, aux_k=2, dead=dead) >= MARGIN:
            return X, params
    raise AssertionError("no problem away from the kinks")


def auxiliary_code(params, X, unit, dead, aux_k=2):
    z = X @ params.W1.T + params.b1
    a2 = activate_(z.copy(), "topk", UNITS[unit]["k"])
    alive = np.flatnonzero(~dead)
    return auxiliary_code_(z, a2, alive, aux_k, np.empty(z.shape, bool))


@pytest.mark.parametrize("dead", DEAD)
@pytest.mark.parametrize("unit", UNITS)
def test_gradient_against_differences(unit, dead):
    X, params = problem(unit, DEAD[dead])
    options = hyper(unit, DEAD[dead])
    result = check_gradient(lambda p: loss_and_grad(p, X, **options), params)
    assert result.passed(1e-9), result.relative_differences
    if dead in ("every-other", "all"):  # the code u is exercised
        assert (auxiliary_code(params, X, unit, DEAD[dead]) > 0).any()


@pytest.mark.parametrize("dead", ["every-other", "all", "one"])
def test_the_auxiliary_term_alone_against_differences(dead):
    # J with the term minus J without it: its gradient alone, so that a fault
    # of eq. (15) cannot hide behind the reconstruction's.
    X, params = problem("topk", DEAD[dead], seed=1)
    options = hyper("topk", DEAD[dead])
    plain = {k: v for k, v in options.items() if k not in ("aux_k", "dead")}

    def auxiliary_only(p):
        J, grads = loss_and_grad(p, X, **options)
        J0, grads0 = loss_and_grad(p, X, **plain)
        return J - J0, Params.from_vector(grads.vector - grads0.vector, 6, H)

    result = check_gradient(auxiliary_only, params)
    assert result.passed(1e-9), result.relative_differences
    # The problem exercises the code u: some dead units are chosen and positive.
    assert (auxiliary_code(params, X, "topk", DEAD[dead]) > 0).any() or dead == "one"


def test_worked_by_hand():
    # One sample x = 1, two units with z2 = (1, 0.5); top-1 keeps unit 0, unit
    # 1 is dead, so u = (0, 0.5). W2 = (0.5, 2): x̂ = 0.5 and
    # t = 0.5 · 1 + 2 · 0.5 − 1 = 0.5; α = 0.5.
    params = Params(
        np.array([[1.0], [0.5]]), np.zeros(2), np.array([[0.5, 2.0]]), np.zeros(1)
    )
    J, grads = loss_and_grad(
        params,
        np.array([[1.0]]),
        sparsity_target=0.1,
        sparsity_weight=0.0,
        weight_decay=0.0,
        output="linear",
        activation="topk",
        k=1,
        aux_k=1,
        aux_weight=0.5,
        dead=np.array([False, True]),
    )
    # ½ (0.5 − 1)² + (0.5 / 2) · 0.5²
    assert J == pytest.approx(0.125 + 0.0625, abs=1e-15)
    # δ3 = −0.5 on a = (1, 0); α t = 0.25 on a + u = (1, 0.5).
    np.testing.assert_allclose(grads.W2, [[-0.5 + 0.25, 0.125]], atol=1e-15)
    np.testing.assert_allclose(grads.b2, [-0.5 + 0.25], atol=1e-15)
    # δ2 = (δ3 W2) ⊙ 1[a > 0] + α t W2 ⊙ 1[a + u > 0]
    #    = (−0.25, 0) + (0.125, 0.5)
    np.testing.assert_allclose(grads.b1, [-0.125, 0.5], atol=1e-15)
    np.testing.assert_allclose(grads.W1, [[-0.125], [0.5]], atol=1e-15)


def test_the_code_is_the_largest_silent_dead_units_after_a_relu():
    z = np.array([[3.0, 2.0, 1.5, 0.5, -1.0, 4.0], [-1.0, -2.0, 0.3, -0.1, 2.0, 1.0]])
    a2 = activate_(z.copy(), "topk", 2)  # keeps (0, 5) and (4, 5)
    dead = np.array([True, True, True, True, True, False])
    u = auxiliary_code_(z.copy(), a2, np.flatnonzero(~dead), 2, np.empty(z.shape, bool))
    np.testing.assert_array_equal(
        u, [[0.0, 2.0, 1.5, 0.0, 0.0, 0.0], [0.0, 0.0, 0.3, 0.0, 0.0, 0.0]]
    )
    assert not (u * a2).any()  # disjoint supports


@pytest.mark.parametrize(
    ("unit", "dead", "sunk"),
    [
        ("topk", "none", False),
        ("topk", "None", False),
        ("topk", "every-other", True),
        ("topk-6", "all", True),
    ],
)
def test_without_a_chosen_unit_the_term_is_alpha_times_the_reconstruction(
    unit, dead, sunk
):
    # u = 0: no dead unit, or dead units whose pre-activations are all <= 0
    # (as a dead ReLU unit's always are: why ReLU units are refused).
    X, params = problem(unit, DEAD[dead], seed=2)
    if sunk:
        params.b1[DEAD[dead]] = -100.0
        assert not auxiliary_code(params, X, unit, DEAD[dead]).any()
    terms = evaluate(params, X, **hyper(unit, DEAD[dead])).terms
    assert terms.auxiliary == pytest.approx(0.5 * terms.reconstruction, rel=1e-13)
    assert terms.total == pytest.approx(
        terms.reconstruction + terms.weight_decay + terms.sparsity + terms.auxiliary
    )


def test_no_dead_unit_is_the_same_as_an_empty_mask():
    X, params = problem("topk", None)
    a = evaluate(params, X, **hyper("topk", None))
    b = evaluate(params, X, **hyper("topk", np.zeros(H, bool)))
    assert a.terms == b.terms
    np.testing.assert_array_equal(a.grads.vector, b.grads.vector)


def test_without_aux_k_the_kernel_keeps_no_auxiliary_buffers():
    X, params = problem("topk", None)
    settings = make_settings(**(BASE | UNITS["topk"] | dict(activation="topk")))
    sums = BlockSums(params, settings, 13, grad=True)
    assert not sums.aux and not hasattr(sums, "U") and not hasattr(sums, "R")
    total = block_sums(params, settings, X)
    assert total.auxiliary == 0.0
    assert finish_sums(total, params, settings).terms.auxiliary == 0.0


def assert_same_sums(got, want):
    assert got.n_rows == want.n_rows
    assert got.reconstruction == want.reconstruction
    assert got.auxiliary == want.auxiliary
    for name in ("a2_sum", "grad_W2", "grad_b2", "grad_W1", "grad_b1"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("unit", UNITS)
def test_same_bits_on_any_partition_into_threads_runs_and_chunks(unit, dtype):
    rng = np.random.default_rng(4)
    X = rng.uniform(size=(1000, 20)).astype(dtype)
    params = Params.initialize(20, 30, rng=rng, dtype=dtype)
    params.b1[...] = 0.2 * rng.standard_normal(30)
    options = BASE | UNITS[unit] | dict(output="linear", activation="topk", aux_k=5)
    options["dead"] = np.arange(30) % 3 != 0
    settings = make_settings(**options)
    want = block_sums(params, settings, X, block_rows=37, n_threads=1)
    assert want.auxiliary > 0
    for n_threads in (2, 3):
        got = block_sums(params, settings, X, block_rows=37, n_threads=n_threads)
        assert_same_sums(got, want)
    # Runs of 2^k whole blocks from a multiple of 2^k are nodes of the tree.
    runs = [
        block_sums(params, settings, X[i : i + 4 * 37], block_rows=37)
        for i in range(0, 1000, 4 * 37)
    ]
    assert_same_sums(tree_sum(runs), want)
    # Chunks that cut blocks in two.
    whole = evaluate(params, X, **options, block_rows=37)
    chunked = evaluate_chunks(
        params, ArrayChunks(X, chunk_rows=100), **options, block_rows=37
    )
    assert chunked.terms == whole.terms
    np.testing.assert_array_equal(chunked.grads.vector, whole.grads.vector)
    assert whole.terms.auxiliary == settings.aux_weight * want.auxiliary / 1000


def test_sums_with_the_auxiliary_loss_survive_pickling():
    X, params = problem("topk", DEAD["all"])
    settings = make_settings(**hyper("topk", DEAD["all"]))
    total = block_sums(params, settings, X, block_rows=4)
    assert_same_sums(pickle.loads(pickle.dumps(total)), total)
    assert pickle.loads(pickle.dumps(settings)).dead.tolist() == DEAD["all"].tolist()


def test_evaluation_says_which_units_fired_whatever_the_rho_policy():
    X, params = problem_away_from_kinks(np.random.default_rng(0), 13, 6, H, "relu")
    params.b1[2] = -100.0  # never fires
    options = BASE | RELU | dict(output="linear")
    batch = evaluate(params, X, **options)
    running = evaluate(params, X, **options, previous_rho_hat=np.ones(H), rho_decay=0.5)
    a2 = np.maximum(X @ params.W1.T + params.b1, 0)
    assert batch.fired.dtype == bool and not batch.fired[2]
    np.testing.assert_array_equal(batch.fired, (a2 > 0).any(axis=0))
    np.testing.assert_array_equal(running.fired, batch.fired)
    assert running.mean_activation[2] > 0  # the running estimate remembers


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(aux_k=0), r"aux_k, the units of the auxiliary code, must be an integer"),
        (dict(aux_k=True), r"must be an integer >= 1 or None, got True"),
        (dict(aux_k=2.0), r"must be an integer >= 1 or None, got 2.0"),
        (dict(aux_k=7), r"aux_k must be < n_hidden=7, got aux_k=7"),
        (
            dict(activation="sigmoid", penalty="kl"),
            r"aux_k needs activation='topk', got activation='sigmoid': a sigmoid "
            r"unit is never silent",
        ),
        (RELU, "aux_k needs activation='topk', got activation='relu'"),
        (dict(output="sigmoid"), "aux_k needs output='linear' and loss='squared'"),
        (
            dict(output="sigmoid", loss="cross_entropy"),
            "got output='sigmoid' and loss='cross_entropy'",
        ),
        (dict(aux_weight=0.0), r"aux_weight must be a finite number > 0, got 0.0"),
        (dict(aux_weight=-1.0), r"aux_weight must be a finite number > 0, got -1.0"),
        (dict(aux_weight=np.inf), r"aux_weight must be a finite number > 0, got inf"),
        (dict(aux_weight="x"), r"aux_weight must be a real number, got 'x'"),
        (dict(dead=np.ones(5, bool)), r"dead must have shape \(7,\).* got \(5,\)"),
        (dict(dead=np.ones(7)), r"dead must be a 1-D boolean array.* got float64"),
        (dict(dead=np.ones((7, 1), bool)), r"got bool of shape \(7, 1\)"),
        (dict(aux_k=None), "dead is only used by the auxiliary loss; give aux_k"),
    ],
)
def test_bad_settings_name_the_parameter_value_and_what_is_valid(options, message):
    X, params = problem("topk", None)
    with pytest.raises(ValueError, match=message):
        evaluate(params, X, **(hyper("topk", DEAD["all"]) | options))


@pytest.mark.parametrize("dead", ["every-other", "None"])
def test_relu_units_are_refused_and_told_why(dead):
    X, params = problem_away_from_kinks(np.random.default_rng(0), 13, 6, H, "relu")
    options = BASE | RELU | dict(output="linear", aux_k=2, dead=DEAD[dead])
    message = (
        "aux_k needs activation='topk', got activation='relu': a dead ReLU unit "
        "has no positive pre-activation for the auxiliary code to use, so the "
        "term could not revive it"
    )
    for call in (evaluate, loss_and_grad):
        with pytest.raises(ValueError, match=message):
            call(params, X, **options)
    with pytest.raises(ValueError, match=message):
        make_settings(**options)
    # Without aux_k the same units are fine.
    evaluate(params, X, **(BASE | RELU | dict(output="linear")))


def test_the_kernel_refuses_a_mask_of_another_size():
    X, params = problem("topk", None)
    settings = make_settings(**hyper("topk", np.ones(4, bool)))
    with pytest.raises(ValueError, match=r"dead must have shape \(7,\)"):
        block_sums(params, settings, X)


def test_gradient_check_fails_across_a_tie_of_the_auxiliary_code():
    # The reason for the margin of the auxiliary code: where its aux_k-th
    # candidate of a sample is positive and the (aux_k+1)-th overtakes it, J
    # jumps.
    X, params = problem("topk", DEAD["all"], seed=1)
    z2 = X @ params.W1.T + params.b1
    a2 = activate_(z2.copy(), "topk", 3)
    candidates = np.where(a2 == 0, z2, -np.inf)  # every unit is dead
    ordered = -np.sort(-candidates, axis=1)
    row = int(np.argmax(ordered[:, 1]))  # the sample whose second is largest
    assert ordered[row, 1] > 0
    second, third = np.argsort(-candidates[row])[1:3]
    params.b1[third] += z2[row, second] - z2[row, third] - 2e-5
    margin = kink_margin(
        X @ params.W1.T + params.b1, "topk", 3, aux_k=2, dead=DEAD["all"]
    )
    assert margin < 1e-4
    options = hyper("topk", DEAD["all"])
    result = check_gradient(lambda p: loss_and_grad(p, X, **options), params)
    assert result.relative_differences["b1"] > 0.1
