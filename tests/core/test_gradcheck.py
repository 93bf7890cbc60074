import numpy as np
import pytest

from sparseae import check_gradient, loss_and_grad, relative_difference

from ..conftest import tiny_problem

HYPER = dict(sparsity_target=0.1, sparsity_weight=3.0, weight_decay=1e-3)


def _wrong_by(fraction, block):
    X, params = tiny_problem()

    def wrong(p):
        J, grads = loss_and_grad(p, X, **HYPER)
        getattr(grads, block)[...] *= 1 + fraction
        return J, grads

    return check_gradient(wrong, params)


@pytest.mark.parametrize("block", ["W1", "b1", "W2", "b2"])
def test_checker_catches_a_gradient_wrong_by_a_thousandth(block):
    result = _wrong_by(1e-3, block)
    assert not result.passed(1e-9)
    # The faulty block is the one that stands out.
    assert max(result.relative_differences, key=result.relative_differences.get) in (
        block,
        "all",
    )
    assert result.relative_differences[block] == pytest.approx(5e-4, rel=1e-3)


def test_checker_accepts_the_exact_gradient_of_a_quadratic():
    A = np.array([[3.0, 1.0], [1.0, 2.0]])
    result = check_gradient(lambda x: (0.5 * x @ A @ x, A @ x), np.array([1.0, -2.0]))
    # Central differences are exact for quadratics up to rounding.
    assert result.worst < 1e-10
    assert set(result.relative_differences) == {"x", "all"}


def test_checker_works_on_mappings_and_leaves_input_alone():
    params = {"a": np.array([1.0, 2.0]), "b": np.array([[3.0]])}
    before = {k: v.copy() for k, v in params.items()}
    result = check_gradient(
        lambda p: (
            float(np.sum(p["a"] ** 3) + p["b"][0, 0] ** 2),
            {"a": 3 * p["a"] ** 2, "b": 2 * p["b"]},
        ),
        params,
    )
    assert result.passed(1e-7)
    for key in params:
        np.testing.assert_array_equal(params[key], before[key])


def test_checker_rejects_gradient_of_the_wrong_shape():
    with pytest.raises(ValueError, match="same blocks and shapes"):
        check_gradient(lambda x: (float(x @ x), np.zeros(3)), np.ones(2))


def test_checker_rejects_bad_epsilon():
    with pytest.raises(ValueError, match="epsilon must be a positive number, got 0"):
        check_gradient(lambda x: (0.0, x), np.ones(2), epsilon=0)


def test_relative_difference_of_zero_gradients():
    assert relative_difference(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_difference(np.zeros(3), np.array([1.0, -1.0, 0.0])) > 0.1
