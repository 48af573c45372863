"""Atomic file writing: the one way musegen writes a file a later run may read.

A file is written under a temporary name in its destination folder and renamed into place
only once complete (``os.replace`` is atomic on one file system), so an interrupted run
never leaves a half-written file that looks valid. Temporary names start with a dot and end
in ``.tmp`` so that no ``*.npz`` / ``*.mid`` glob ever picks one up.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def file_mode() -> int:
    """Permissions a newly created file gets here: ``0o666`` less the process umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    The temporary file is removed when the block raises. The final file gets the usual
    permissions (``0o666`` less the umask), not ``mkstemp``'s private ``0o600``. Writers that
    choose a format from the file name (matplotlib) must be told the format explicitly.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
