"""The HTML report of a fitted autoencoder: what its units learned, on data.

:func:`build_report` renders one self-contained page (pictures inline, no
request to anywhere), :func:`build_stacked_report` the page of a stacked
autoencoder classifier; :func:`write_report` writes either atomically;
:func:`model_html` is the smaller view a notebook shows for a fitted model.
Jinja2, Matplotlib and Pillow load when a report is first built, not on
import.
"""

__all__ = ["build_report", "build_stacked_report", "model_html", "write_report"]


# Where each public name is defined; each module loads when first asked for.
_MODULES = {
    "build_report": "build",
    "build_stacked_report": "stacked",
    "model_html": "build",
    "write_report": "write",
}


def __getattr__(name):
    if name in _MODULES:
        from importlib import import_module

        return getattr(import_module(f".{_MODULES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
