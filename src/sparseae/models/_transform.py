"""What a fitted autoencoder does: encode, decode, score, save.

Kept apart from :mod:`sparseae.models.autoencoder`, which is about training; the mixin
needs the four fitted weight arrays, ``output_activation``, ``hidden_activation``
and ``k``.

The mixin is a ``TransformerMixin`` itself: scikit-learn wraps ``transform`` for
``set_output`` only in the class that defines it, so a plain mixin's
``transform`` would ignore ``set_output(transform="pandas")`` and
``sklearn.config_context(transform_output=...)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted

from ..core.objective import decode, encode
from ..core.params import Params
from ..io.model_file import save as save_model
from ._validation import check_finite, check_in_memory, check_real

if TYPE_CHECKING:
    from os import PathLike
    from pathlib import Path

    from numpy.typing import ArrayLike

__all__ = ["AutoencoderTransformMixin"]

# Values of the reconstruction that ``score`` holds at a time (8 MiB in float64).
SCORE_BLOCK_VALUES = 2**20


class AutoencoderTransformMixin(TransformerMixin):
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
        # From the fitted weights, so that get_feature_names_out of an
        # unfitted model raises NotFittedError, as scikit-learn's do.
        return self.components_.shape[0]

    def _encode(self, X) -> np.ndarray:
        """Hidden activations of checked ``X``; NaN from overflow is refused."""
        codes = encode(self._params(), X, self.hidden_activation, self.k)
        if not np.isfinite(codes).all():
            # Finite inputs near the type's limit overflow in X W1ᵀ (inf − inf).
            largest = abs(X).max() if sp.issparse(X) else np.abs(X).max()
            raise ValueError(
                f"X has values up to {float(largest):.3g}, too large to encode in "
                f"{X.dtype}: the hidden units' inputs overflow; scale the data "
                "(e.g. MinMaxScaler)"
            )
        return codes

    def transform(self, X: ArrayLike | sp.sparray | sp.spmatrix) -> np.ndarray:
        """Hidden activations of ``X``: in (0, 1) for sigmoid units, >= 0 otherwise.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to encode: any finite values (the range [0, 1] that a
            sigmoid output reconstructs matters only to training).

        Returns
        -------
        ndarray of shape (n_samples, n_components)
            In the model's floating type.  A sigmoid unit driven past about
            +37 (float64) or +17 (float32) rounds to exactly 1; towards 0 it
            keeps its precision down to about −709 (float64) or −88 (float32).
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self._encode(X)

    def inverse_transform(self, X: ArrayLike) -> np.ndarray:
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
        check_in_memory(
            self,
            X,
            "use sparseae.distributed.DaskSparseAutoencoder to decode where the "
            "codes lie",
        )
        check_real(X)
        codes = check_array(
            X, dtype=self.components_.dtype, ensure_all_finite=False, ensure_2d=False
        )
        check_finite(codes)
        # The fitted width: n_components may have been set since the fit.
        units = self.components_.shape[0]
        if codes.ndim != 2 or codes.shape[1] != units:
            raise ValueError(
                f"X must have shape (n_samples, {units}) (one column per hidden "
                f"unit), got {codes.shape}"
            )
        return decode(self._params(), codes, self.output_activation)

    def score(self, X: ArrayLike | sp.sparray | sp.spmatrix, y: Any = None) -> float:
        """Negative mean squared reconstruction error per sample (higher is better).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to reconstruct, any finite values.
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
        # Blocks of rows: a sparse X's reconstruction is dense, and whole it
        # would be n_samples × n_features however few values X stores.
        rows = max(1, SCORE_BLOCK_VALUES // X.shape[1])
        total = 0.0
        for start in range(0, X.shape[0], rows):
            block = X[start : start + rows]
            error = decode(params, self._encode(block), self.output_activation)
            if sp.issparse(block):
                block = block.tocoo()
                np.subtract.at(error, (block.row, block.col), block.data)
            else:
                error -= block
            total += float(np.vdot(error, error))
        return -0.5 * total / X.shape[0]

    def save(
        self,
        path: str | PathLike[str],
        *,
        extra: dict[str, Any] | None = None,
        training_state: bool = True,
    ) -> Path:
        """Write the model to ``path``; :func:`sparseae.load` reads it back.

        Parameters
        ----------
        path : str or path-like
            Destination, written atomically (see :func:`sparseae.save`).
        extra : dict, optional
            JSON-serialisable notes stored alongside (e.g. the image shape).
        training_state : bool, default=True
            Keep the solver's state, so that :meth:`resume_fit` continues the
            fit exactly; False writes a file many times smaller (see
            :func:`sparseae.save`).

        Returns
        -------
        pathlib.Path
            ``path``.
        """
        return save_model(self, path, extra=extra, training_state=training_state)
