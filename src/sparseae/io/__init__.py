"""Files: the model format (safetensors and JSON, never pickle), atomic writes.

Nothing here imports an estimator: each estimator's module registers its
model-file format (:func:`~sparseae.io.model_file.register`), as importing
:mod:`sparseae.models` does.
"""

from .model_file import (
    FORMAT_VERSION,
    ModelFileError,
    ModelFormat,
    load,
    read_info,
    register,
    save,
)

__all__ = [
    "FORMAT_VERSION",
    "ModelFileError",
    "ModelFormat",
    "load",
    "read_info",
    "register",
    "save",
]
