"""What a fitted autoencoder does: encode, decode, score, save.

Kept apart from :mod:`sparseae.models.autoencoder`, which is about training; the mixin
needs the four fitted weight arrays and ``output_activation``.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_array, check_is_fitted

from ..core.objective import decode, encode
from ..core.params import Params
from ..io.model_file import save as save_model
from ._validation import check_dense_real, check_finite

__all__ = ["AutoencoderTransformMixin"]


class AutoencoderTransformMixin:
    """Transform, inverse-transform, score and save a fitted autoencoder."""

    def _store(self, params: Params) -> None:
        self.components_ = params.W1
        self.intercept_hidden_ = params.b1
        self.decoder_weights_ = params.W2
        self.intercept_visible_ = params.b2

    def _params(self) -> Params:
        return Params(
            self.components_,
            self.intercept_hidden_,
            self.decoder_weights_,
            self.intercept_visible_,
        )

    @property
    def _n_features_out(self):
        return self.n_components

    def transform(self, X):
        """Hidden activations of ``X``, each in (0, 1).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to encode, checked as in ``fit``.

        Returns
        -------
        ndarray of shape (n_samples, n_components)
            In the model's floating type.  A unit driven past about ±37
            (float64) or ±17 (float32) rounds to exactly 0 or 1.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return encode(self._params(), X)

    def inverse_transform(self, X):
        """Decode hidden activations back to the data space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Hidden activations, as from :meth:`transform`.

        Returns
        -------
        ndarray of shape (n_samples, n_features_in_)
        """
        check_is_fitted(self)
        check_dense_real(X)
        codes = check_array(
            X, dtype=self.components_.dtype, ensure_all_finite=False, ensure_2d=False
        )
        check_finite(codes)
        if codes.ndim != 2 or codes.shape[1] != self.n_components:
            raise ValueError(
                f"X must have shape (n_samples, {self.n_components}) (one column per "
                f"hidden unit), got {codes.shape}"
            )
        return decode(self._params(), codes, self.output_activation)

    def score(self, X, y=None):
        """Negative mean squared reconstruction error per sample (higher is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to reconstruct.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        float
            ``-(1/m) Σ_i ½‖x̂_i − x_i‖²``.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        params = self._params()
        reconstruction = decode(params, encode(params, X), self.output_activation)
        reconstruction -= X
        return -0.5 * float(np.vdot(reconstruction, reconstruction)) / X.shape[0]

    def save(self, path, *, extra=None):
        """Write the model to ``path``; :func:`sparseae.load` reads it back.

        Parameters
        ----------
        path : str or path-like
            Destination, written atomically (see :func:`sparseae.save`).
        extra : dict, optional
            JSON-serialisable notes stored alongside (e.g. the image shape).

        Returns
        -------
        pathlib.Path
            ``path``.
        """
        return save_model(self, path, extra=extra)
