"""Files: the model format (safetensors and JSON, never pickle), atomic writes."""

from .model_file import FORMAT, FORMAT_VERSION, ModelFileError, load, read_info, save

__all__ = ["FORMAT", "FORMAT_VERSION", "ModelFileError", "load", "read_info", "save"]
