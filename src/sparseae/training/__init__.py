"""Fit loops over the objective: L-BFGS and minibatch epochs, their state and history.

A loop takes the objective, a starting vector, settings and an ``on_step``
callback; it never reads or writes an estimator.
"""
