"""Crash-safe file writes, shared by every writer in the library.

A file is written under a temporary name in its destination folder, flushed to
the disk, renamed over the destination with ``os.replace`` (atomic on POSIX and
Windows), and the folder itself is flushed, so that after a crash, a power cut
or SIGKILL at any moment the destination holds either its old content or the
new one, never a mixture.  A process killed mid-write can leave its temporary
file behind; :func:`remove_stale_temporaries` clears those.

Replacing a file keeps what ``cp`` or an editor would: its permission bits (a
private 0600 file stays private), the file a symbolic link points to (the
link stays a link), and a read-only file is refused, not replaced.
"""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

__all__ = [
    "as_path",
    "fsync_folder",
    "remove_stale_temporaries",
    "write_bytes_atomically",
]


def _temporary_name(path: Path, tag: str) -> Path:
    return path.with_name(f".{path.name}.{tag}.tmp")


def as_path(path, name: str = "path") -> Path:
    """``path`` as a :class:`~pathlib.Path`, decoding a bytes path as ``open`` does.

    Raises
    ------
    TypeError
        If ``path`` is not a str, bytes or path-like object, naming ``name``.

    Examples
    --------
    >>> as_path(b"models/m.safetensors")
    PosixPath('models/m.safetensors')
    >>> as_path(3)
    Traceback (most recent call last):
    ...
    TypeError: path must be a str, bytes or path-like object, got int 3
    """
    try:
        return Path(os.fsdecode(path))
    except TypeError:
        raise TypeError(
            f"{name} must be a str, bytes or path-like object, got "
            f"{type(path).__name__} {path!r}"
        ) from None


def _destination(path: Path) -> tuple[Path, int | None]:
    """The file to replace (a link's target) and its permission bits, if any.

    Raises ``FileNotFoundError`` for a missing folder, ``IsADirectoryError``
    for a folder and ``PermissionError`` for a read-only file, each naming
    ``path``.
    """
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    if not target.parent.is_dir():
        raise FileNotFoundError(
            f"cannot write {str(path)!r}: its folder {str(target.parent)!r} does "
            "not exist"
        )
    try:
        status = target.stat()
    except FileNotFoundError:
        return target, None
    if stat.S_ISDIR(status.st_mode):
        raise IsADirectoryError(f"cannot write {str(path)!r}: it is a folder")
    mode = stat.S_IMODE(status.st_mode)
    if not mode & stat.S_IWUSR:
        # As cp does; os.replace would swap a read-only file out silently.
        raise PermissionError(
            f"cannot write {str(path)!r}: the file is read-only (mode "
            f"{mode:#o}); make it writable (chmod u+w) or remove it to replace it"
        )
    return target, mode


def write_bytes_atomically(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``.

    Parameters
    ----------
    path : str, bytes or path-like
        Destination; its folder must exist.  An existing file keeps its
        permission bits; a symbolic link is written through (its target is
        replaced, the link stays).
    data : bytes
        The whole content.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    FileNotFoundError
        If the destination's folder does not exist (naming it).
    IsADirectoryError
        If ``path`` is a folder.
    PermissionError
        If ``path`` is a read-only file: it is refused, as ``cp`` refuses it,
        rather than replaced.

    Examples
    --------
    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = write_bytes_atomically(os.path.join(folder, "a.bin"), b"new")
    ...     path.read_bytes(), os.listdir(folder)
    (b'new', ['a.bin'])
    """
    path = as_path(path)
    target, mode = _destination(path)
    tmp = _temporary_name(target, uuid.uuid4().hex[:8])
    # os.open with 0o666 lets the umask set a new file's permissions, as open()
    # would; tempfile.mkstemp would leave it readable by its owner only.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        if mode is not None and os.chmod in os.supports_fd:
            os.chmod(fd, mode)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_folder(target.parent)
    return path


def fsync_folder(folder) -> None:
    """Flush ``folder``'s entries to the disk, making renames in it durable."""
    # The rename is only durable once the folder's entry is on the disk; without
    # this a power cut can bring the old name back.  Windows cannot open a
    # folder for fsync (and its rename is journalled), so it is skipped there.
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temporaries(path) -> list[Path]:
    """Delete temporary files that writes of ``path`` killed mid-way left behind.

    Only for a destination that one process writes at a time (a training run's
    checkpoint): another writer's temporary file in progress would go too.

    Parameters
    ----------
    path : str or path-like
        The destination whose temporaries to remove.

    Returns
    -------
    list of pathlib.Path
        The files removed.
    """
    path = as_path(path)
    stale = sorted(path.parent.glob(_temporary_name(path, "*").name))
    for file in stale:
        file.unlink(missing_ok=True)
    return stale
