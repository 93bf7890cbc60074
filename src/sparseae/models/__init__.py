"""The scikit-learn estimators, which validate, orchestrate and store results.

Importing this package registers the estimators' model-file formats, so the
:func:`load` here reads any file :func:`save` writes.
"""

from ..io.model_file import load, read_info, save
from ._persistence import FORMAT

__all__ = ["FORMAT", "load", "read_info", "save"]
