"""The library's version: the one place it is written.

``pyproject.toml`` reads it from here (``[tool.setuptools.dynamic]``), so the
installed metadata agrees, and no import of ``importlib.metadata`` (60 ms) is
needed to tell it.
"""

__version__ = "0.1.0"
