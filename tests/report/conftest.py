import warnings

import numpy as np
import pytest

from sparseae import SparseAutoencoder
from sparseae.datasets import load_digits_scaled


def fit(n_components, X, **params):
    model = SparseAutoencoder(n_components, random_state=0, **params)
    with warnings.catch_warnings(action="ignore"):
        return model.fit(X)


@pytest.fixture(scope="package")
def digits():
    return load_digits_scaled()[0]


@pytest.fixture(scope="package")
def digits_model(digits):
    """60 units on the 8x8 digits: two pages of cards at 50 a page."""
    return fit(60, digits, max_iter=15, sparsity_target=0.1)


@pytest.fixture(scope="package")
def flat_data():
    """Samples of 10 features, not images, not in [0, 1]."""
    return np.random.default_rng(0).standard_normal((40, 10))


@pytest.fixture(scope="package")
def flat_model(flat_data):
    return fit(5, flat_data, max_iter=5, output_activation="linear")
