"""Replacing a file atomically keeps what cp would: modes, links, read-only files."""

import os
import stat

import pytest

from sparseae.io.atomic import as_path, write_bytes_atomically

posix = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions and links")


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@posix
@pytest.mark.parametrize("bits", [0o600, 0o640, 0o755])
def test_replacing_a_file_keeps_its_permissions(tmp_path, bits):
    path = tmp_path / "m.bin"
    path.write_bytes(b"old")
    path.chmod(bits)
    write_bytes_atomically(path, b"new")
    assert path.read_bytes() == b"new" and mode(path) == bits


@posix
def test_a_symbolic_link_is_written_through(tmp_path):
    target = tmp_path / "store" / "m.bin"
    target.parent.mkdir()
    target.write_bytes(b"old")
    link = tmp_path / "m.bin"
    link.symlink_to(target)
    assert write_bytes_atomically(link, b"new") == link
    assert link.is_symlink() and target.read_bytes() == b"new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["m.bin"]


@posix
def test_a_read_only_file_is_refused_not_replaced(tmp_path):
    path = tmp_path / "m.bin"
    path.write_bytes(b"old")
    path.chmod(0o444)
    with pytest.raises(PermissionError, match=r"m\.bin'.*read-only \(mode 0o444\)"):
        write_bytes_atomically(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["m.bin"]


def test_a_missing_folder_is_named_not_the_temporary_file(tmp_path):
    path = tmp_path / "absent" / "x.safetensors"
    with pytest.raises(FileNotFoundError) as caught:
        write_bytes_atomically(path, b"new")
    message = str(caught.value)
    assert f"its folder {str(path.parent)!r} does not exist" in message
    assert ".tmp" not in message


def test_a_folder_is_not_replaced(tmp_path):
    with pytest.raises(IsADirectoryError, match="it is a folder"):
        write_bytes_atomically(tmp_path, b"new")


def test_bytes_paths_are_accepted(tmp_path):
    path = os.fsencode(tmp_path / "m.bin")
    write_bytes_atomically(path, b"new")
    assert (tmp_path / "m.bin").read_bytes() == b"new"


def test_other_paths_are_refused_saying_what_is_valid():
    with pytest.raises(TypeError, match="path must be a str, bytes or path-like"):
        as_path(3.5)
