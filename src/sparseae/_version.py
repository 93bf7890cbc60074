"""The installed version of the library."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sparseae")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
