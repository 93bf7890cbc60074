"""Crash-safe file writes, shared by every writer in the library.

A file is written under a temporary name in its destination folder, flushed to
the disk, renamed over the destination with ``os.replace`` (atomic on POSIX and
Windows), and the folder itself is flushed, so that after a crash, a power cut
or SIGKILL at any moment the destination holds either its old content or the
new one, never a mixture.  A process killed mid-write can leave its temporary
file behind; :func:`remove_stale_temporaries` clears those.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

__all__ = ["fsync_folder", "remove_stale_temporaries", "write_bytes_atomically"]


def _temporary_name(path: Path, tag: str) -> Path:
    return path.with_name(f".{path.name}.{tag}.tmp")


def write_bytes_atomically(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``.

    Parameters
    ----------
    path : str or path-like
        Destination; its folder must exist.
    data : bytes
        The whole content.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = write_bytes_atomically(os.path.join(folder, "a.bin"), b"new")
    ...     path.read_bytes(), os.listdir(folder)
    (b'new', ['a.bin'])
    """
    path = Path(path)
    tmp = _temporary_name(path, uuid.uuid4().hex[:8])
    # os.open with 0o666 lets the umask set the permissions, as open() would;
    # tempfile.mkstemp would leave the file readable by its owner only.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)
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
    path = Path(path)
    stale = sorted(path.parent.glob(_temporary_name(path, "*").name))
    for file in stale:
        file.unlink(missing_ok=True)
    return stale
