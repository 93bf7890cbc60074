"""The HTML report of a fitted autoencoder: what its units learned, on data.

:func:`build_report` renders one self-contained page (pictures inline, no
request to anywhere); :func:`write_report` writes it atomically;
:func:`model_html` is the smaller view a notebook shows for a fitted model.
Jinja2, Matplotlib and Pillow load when a report is first built, not on
import.
"""

__all__ = ["build_report", "model_html", "write_report"]


def __getattr__(name):
    if name in __all__:
        from . import build

        return getattr(build, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
