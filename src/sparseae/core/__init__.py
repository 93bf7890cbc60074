"""The mathematics: parameters, penalties, the objective and its kernel.

Pure functions of NumPy arrays, derived in ``docs/derivation.md``.  Nothing here
imports from the rest of the package, and nothing but NumPy and threadpoolctl is
imported until it is used.

The public functions, by module:

- :mod:`~sparseae.core.objective`: ``evaluate``, ``loss_and_grad``,
  ``loss_terms`` (which check their input), ``make_settings`` (checks
  hyperparameters once and returns a ``Settings``), ``encode``, ``decode``.
- :mod:`~sparseae.core.partial_sums`: ``block_sums(params, settings, X, *,
  grad=True, n_threads=None) -> PartialSums`` over any block of rows;
  ``PartialSums`` add with ``+`` and ``sum``; ``finish_sums(total, params,
  settings, *, previous_rho_hat=None, rho_decay=0.0) -> Evaluation``.
- :mod:`~sparseae.core.sparsity`: ``RHO_ESTIMATES``, ``update_rho_hat``, the
  running estimate of ρ̂ for minibatches.
- :mod:`~sparseae.core.chunked`: the objective over data that comes in chunks.
- :mod:`~sparseae.core.params`, :mod:`~sparseae.core.penalties`,
  :mod:`~sparseae.core.gradcheck`, :mod:`~sparseae.core.softmax`,
  :mod:`~sparseae.core.stacked`.
"""
