import gzip
import importlib
import io
import os
import pickle
import re
import struct
import subprocess

import numpy as np
import pytest

from sparseae.datasets.safe_pickle import RestrictedUnpickler, safe_load


def arrays():
    return [
        np.arange(12, dtype=np.float32).reshape(3, 4),
        np.arange(5, dtype=np.int64),
        np.zeros((2, 2), dtype=np.uint8),
        np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        np.arange(3, dtype=">i4"),
        np.zeros(2, dtype=[("a", "<f8"), ("b", "u1")]),
    ]


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_arrays_load_as_pickle_loads_them(protocol):
    data = pickle.dumps(((arrays()[0], arrays()[1]), {"rest": arrays()[2:]}), protocol)
    (a, b), rest = safe_load(io.BytesIO(data))
    (trusted_a, trusted_b), trusted_rest = pickle.loads(data)
    got, trusted = [a, b, *rest["rest"]], [trusted_a, trusted_b, *trusted_rest["rest"]]
    for mine, theirs, original in zip(got, trusted, arrays(), strict=True):
        np.testing.assert_array_equal(mine, original)
        assert mine.dtype == theirs.dtype and mine.shape == original.shape
        assert mine.flags.f_contiguous == original.flags.f_contiguous


def python2_array_pickle(values):
    """A pickle as Python 2 wrote ndarrays: numpy.core names, data as a str."""
    raw = values.astype("<f4").tobytes()

    def glob(module, name):
        return b"c" + module + b"\n" + name + b"\n"

    return b"".join(
        [
            b"\x80\x02",
            glob(b"numpy.core.multiarray", b"_reconstruct"),
            glob(b"numpy", b"ndarray"),
            b"K\x00\x85U\x01b\x87R",  # _reconstruct(ndarray, (0,), 'b')
            b"(K\x01K" + bytes([len(values)]) + b"\x85",  # state: 1, (n,)
            glob(b"numpy", b"dtype"),
            b"U\x02f4K\x00K\x01\x87R",  # dtype('f4', 0, 1)
            b"(K\x03U\x01<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb",
            b"\x89T" + struct.pack("<I", len(raw)) + raw,  # False, data (str)
            b"tb.",
        ]
    )


def test_python2_pickle_with_latin1(tmp_path):
    values = np.array([0.0, 0.5, 255 / 256], dtype=np.float32)
    path = tmp_path / "py2.pkl.gz"
    path.write_bytes(gzip.compress(python2_array_pickle(values)))
    np.testing.assert_array_equal(safe_load(path), values)
    (tmp_path / "py2.pkl").write_bytes(python2_array_pickle(values))
    np.testing.assert_array_equal(safe_load(tmp_path / "py2.pkl"), values)


class CallsSystem:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_os_system_is_refused_without_running(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    data = pickle.dumps([np.arange(3), CallsSystem(marker)], protocol=2)
    calls = []
    # The pickle names the function by its home module (posix on Linux).
    home = importlib.import_module(os.system.__module__)
    monkeypatch.setattr(home, "system", lambda command: calls.append(command))
    with pytest.raises(
        pickle.UnpicklingError, match=r"refusing to load global '\w+\.system'"
    ):
        safe_load(io.BytesIO(data))
    assert calls == [] and not marker.exists()
    # The same bytes through plain pickle would have run the command.
    pickle.loads(data)
    assert calls == [f"touch {marker}"]


@pytest.mark.parametrize(
    "obj",
    [
        eval,
        subprocess.Popen,
        io.BytesIO(b""),
        np.array([1, "a"], dtype=object),
        np.float64(1.0),  # a NumPy scalar needs numpy.core.multiarray.scalar
    ],
)
def test_other_globals_are_refused(obj):
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        RestrictedUnpickler(io.BytesIO(pickle.dumps(obj, protocol=2))).load()


def test_codecs_encode_only_as_pickle_uses_it():
    payload = (
        b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x05\x00\x00\x00rot13\x86R."
    )
    with pytest.raises(pickle.UnpicklingError, match="encoding 'rot13'"):
        safe_load(io.BytesIO(payload))
    assert safe_load(io.BytesIO(pickle.dumps(b"\xff\x00", protocol=2))) == b"\xff\x00"


def test_a_gzipped_pickle_is_checked_against_its_crc(tmp_path):
    # Stored (level 0) so that a flipped byte still inflates: the unpickler
    # stopped before the trailer and returned the changed array.
    raw = bytearray(gzip.compress(pickle.dumps(np.zeros(50, np.uint8), protocol=2), 0))
    raw[raw.index(b"\x00" * 50) + 10] = 7
    path = tmp_path / "data.pkl.gz"
    path.write_bytes(bytes(raw))
    with pytest.raises(pickle.UnpicklingError, match=r"data\.pkl\.gz: CRC check"):
        safe_load(path)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "Ran out of input"),
        (pickle.dumps(np.arange(100.0), protocol=2)[:-20], "truncated"),
        (pickle.dumps(eval, protocol=2), "refusing to load global '.*eval'"),
    ],
    ids=["empty", "truncated", "global"],
)
def test_errors_from_a_path_name_the_file(tmp_path, content, match):
    path = tmp_path / "bad.pkl"
    path.write_bytes(content)
    with pytest.raises(
        pickle.UnpicklingError, match=rf"^{re.escape(str(path))}: .*{match}"
    ):
        safe_load(path)
