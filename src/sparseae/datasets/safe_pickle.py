"""Load pickled NumPy arrays without running the pickle's code.

A pickle is a program: loading one calls whatever functions it names, so the
classic ``mnist.pkl.gz`` (and any pickle from an untrusted source) could just as
well call ``os.system``. :class:`RestrictedUnpickler` admits only the few NumPy
globals that rebuild an ``ndarray`` (plus ``_codecs.encode`` held to the one
use pickle itself makes of it) and refuses every other name before it is
imported, let alone called. Containers (tuples, lists, dicts), numbers and
strings need no globals and load as usual.
"""

import gzip
import pickle
import zlib

import numpy as np

__all__ = ["RestrictedUnpickler", "safe_load"]


def _dtype(*args, **kwargs):
    # Object dtypes would let the pickle hand arbitrary objects to NumPy;
    # plain-data arrays never need them.
    dtype = np.dtype(*args, **kwargs)
    if dtype.hasobject:
        raise pickle.UnpicklingError(
            f"refusing to rebuild an array of dtype {dtype}: object dtypes are "
            "not plain data"
        )
    return dtype


def _latin1_bytes(text, encoding):
    # Python 3 writes bytes (an array's buffer) into protocol 0-2 pickles as
    # _codecs.encode(text, "latin1"); only that exact use is let through.
    if type(text) is not str or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(
            f"refusing _codecs.encode with encoding {encoding!r}: only latin1 "
            "text-to-bytes, as pickle itself writes, is allowed"
        )
    return text.encode("latin1")


# ndarray.__reduce_ex__ names these; the module moved from numpy.core to
# numpy._core in NumPy 2, so pickles carry either spelling. The callables are
# taken from live objects so neither spelling has to be imported.
_RECONSTRUCT = np.ndarray.__reduce__(np.empty(0))[0]
_FROMBUFFER = np.ndarray.__reduce_ex__(np.empty(0), 5)[0]
_ALLOWED = {}
for _module in ("numpy.core", "numpy._core"):
    _ALLOWED[(f"{_module}.multiarray", "_reconstruct")] = _RECONSTRUCT
    _ALLOWED[(f"{_module}.numeric", "_frombuffer")] = _FROMBUFFER
_ALLOWED[("numpy", "ndarray")] = np.ndarray
_ALLOWED[("numpy", "dtype")] = _dtype
_ALLOWED[("_codecs", "encode")] = _latin1_bytes


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds NumPy arrays and refuses every other global.

    Use it like :class:`pickle.Unpickler`; :func:`safe_load` is the short form.

    Examples
    --------
    >>> import io, pickle
    >>> import numpy as np
    >>> data = pickle.dumps((np.arange(3.0), [1, "a"]), protocol=2)
    >>> RestrictedUnpickler(io.BytesIO(data)).load()
    (array([0., 1., 2.]), [1, 'a'])
    >>> RestrictedUnpickler(io.BytesIO(pickle.dumps(print))).load()
    Traceback (most recent call last):
    ...
    _pickle.UnpicklingError: refusing to load global 'builtins.print': only ...
    """

    def find_class(self, module, name):
        """Return an allowed NumPy global, or raise ``UnpicklingError``."""
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            allowed = ", ".join(sorted(f"{m}.{n}" for m, n in _ALLOWED))
            raise pickle.UnpicklingError(
                f"refusing to load global '{module}.{name}': only the NumPy "
                f"globals that rebuild arrays are allowed ({allowed})"
            ) from None


def safe_load(file, *, encoding="latin1"):
    """Load a pickle of NumPy arrays from a path or binary file object.

    Paths whose content starts with the gzip magic bytes are decompressed.

    Parameters
    ----------
    file : str, path-like or binary file object
        The pickle to read.
    encoding : str, default="latin1"
        How to decode Python 2 ``str`` objects. ``"latin1"`` is what NumPy
        arrays pickled by Python 2 (such as the classic ``mnist.pkl.gz``) need,
        and it is harmless for Python 3 pickles.

    Returns
    -------
    object
        The unpickled object, built only from plain data and NumPy arrays.

    Raises
    ------
    pickle.UnpicklingError
        If the pickle names any global that is not needed to rebuild an array,
        or is empty, truncated or (gzipped) fails its CRC; for a path, the
        message starts with it.

    Examples
    --------
    >>> import io, pickle
    >>> import numpy as np
    >>> safe_load(io.BytesIO(pickle.dumps({"x": np.eye(2, dtype=np.uint8)})))
    {'x': array([[1, 0],
           [0, 1]], dtype=uint8)}
    """
    if hasattr(file, "read"):
        return RestrictedUnpickler(file, encoding=encoding).load()
    with open(file, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw) if gzipped else raw
        try:
            loaded = RestrictedUnpickler(stream, encoding=encoding).load()
            if gzipped:
                # The unpickler stops at the pickle's STOP opcode, before
                # the gzip trailer, whose CRC is checked only at its end.
                while stream.read(1 << 20):
                    pass
        except (pickle.UnpicklingError, EOFError, OSError, zlib.error) as exc:
            raise pickle.UnpicklingError(f"{file}: {exc}") from exc
    return loaded
