"""The mathematics: parameters, penalties, the objective and its kernel.

Pure functions of NumPy arrays, derived in ``docs/derivation.md``.  Nothing here
imports from the rest of the package.
"""
