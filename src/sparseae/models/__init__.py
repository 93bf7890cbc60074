"""The scikit-learn estimators, which validate, orchestrate and store results.

Importing this package registers the estimators' model-file formats, so the
:func:`load` here reads any file :func:`save` writes.
"""

from ..io.model_file import load, read_info, save
from ._persistence import FORMAT
from ._stacked_persistence import FORMAT as STACKED_FORMAT

__all__ = ["FORMAT", "STACKED_FORMAT", "load", "read_info", "save"]
