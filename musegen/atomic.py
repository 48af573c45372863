"""Atomic writes, stale temporaries and build locks: the one way musegen writes what a later
run may read.

* A file (``atomic_path``) or a folder (``atomic_dir``) is written under a temporary name in
  its destination folder and renamed into place only once complete (``os.replace`` and
  ``os.rename`` are atomic on one file system), so an interrupted run never leaves a
  half-written result that looks valid.
* Temporary names start with a dot, end in ``.tmp`` (no ``*.npz`` / ``*.mid`` glob picks one
  up) and carry their writer: ``.<name>.<host>-<pid>.<random>.tmp``. A process killed with
  SIGKILL cannot remove its own temporaries; ``clean_stale`` lets the next run remove those
  whose writer is gone, and never one that a live process is still writing.
* ``exclusive`` is an advisory lock (``flock``) around work that two processes must not do
  twice at once, such as building the same cache entry.
* ``check_writable`` tries a destination before hours of work are spent on what goes there.
* ``output_set`` stages every file of one command's run (``generate``, ``evaluate``) and
  swaps them in for the previous run's only when all are written, so a folder never holds
  one run's samples beside another run's report.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from musegen.errors import OutputError

log = logging.getLogger(__name__)

HOST_TAG = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]
"""This machine, as it appears in temporary names (folders may be shared by a cluster)."""

FOREIGN_STALE_S = 24 * 3600.0
"""A temporary of another machine is removed only when it is older than this: its writer's
liveness cannot be checked from here, and no musegen write takes a day."""

_TEMP = re.compile(r"^\..+\.(?P<host>[0-9a-f]{8})-(?P<pid>\d+)\.[A-Za-z0-9_]+\.tmp$")


def file_mode() -> int:
    """Permissions a newly created file gets here: ``0o666`` less the process umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _prefix(path: Path) -> str:
    return f".{path.name}.{HOST_TAG}-{os.getpid()}."


def _temp_file(path: Path | str) -> Path:
    """A new empty file beside ``path``, named for its writer (see the module docstring)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_prefix(path), suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(tmp)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    The temporary file is removed when the block raises. The final file gets the usual
    permissions (``0o666`` less the umask), not ``mkstemp``'s private ``0o600``. Writers that
    choose a format from the file name (matplotlib) must be told the format explicitly.
    """
    tmp = _temp_file(path)
    try:
        yield tmp
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def scratch_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for an intermediate file, removed after the
    block whatever happens; a kill leaves it to ``clean_stale``."""
    tmp = _temp_file(path)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_json_atomic(path: str | Path, value: Any, **dumps: Any) -> Path:
    """Write ``value`` as strict JSON (``jsonfile.dumps``: ``null`` for NaN and
    infinities), atomically."""
    from musegen.jsonfile import dumps as strict_dumps

    return write_bytes_atomic(path, strict_dumps(value, **dumps).encode())


def temp_dir(path: str | Path) -> Path:
    """A new empty temporary folder beside ``path`` (mode ``0o755``), named for its writer."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=_prefix(path), suffix=".tmp", dir=path.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; outputs and caches are meant to be shared
    return tmp


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; rename it to ``path`` if the block succeeds.

    If ``path`` appeared meanwhile (another process finished the same work first), theirs is
    kept and ours removed: both were built from the same inputs. The temporary folder is
    removed when the block raises.
    """
    path = Path(path)
    tmp = temp_dir(path)
    try:
        yield tmp
        try:
            os.rename(tmp, path)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not path.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _pid_alive(pid: int) -> bool:
    """True while process ``pid`` runs here; a zombie (killed, not yet reaped) is not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no /proc (not Linux): trust kill()
        return True
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def is_stale(path: Path, now: float | None = None) -> bool:
    """True for a musegen temporary whose writer has ended (or, from another machine, that is
    older than ``FOREIGN_STALE_S``). Other files are never stale."""
    match = _TEMP.match(path.name)
    if match is None:
        return False
    if match["host"] == HOST_TAG:
        return int(match["pid"]) != os.getpid() and not _pid_alive(int(match["pid"]))
    try:
        age = (now or time.time()) - path.lstat().st_mtime
    except OSError:
        return False
    return age > FOREIGN_STALE_S


def clean_stale(folder: str | Path, recursive: bool = False) -> list[Path]:
    """Remove the stale temporaries (files and folders) in ``folder``; return what went.

    Runs at the start of every writer, on its own destination, so no temporary of a killed
    run survives the next one. ``recursive`` also looks into sub-folders (a converted tree).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    candidates = folder.rglob(".*.tmp") if recursive else folder.glob(".*.tmp")
    removed = []
    for path in list(candidates):
        if not is_stale(path):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


@contextmanager
def _flock(lock_file: Path, wait: bool) -> Iterator[bool]:
    """The one ``flock`` of this module: hold an exclusive lock on ``lock_file`` for the
    block, yielding True; when another process holds it, wait for it (``wait``) or yield
    False at once without holding anything. The kernel drops a dead process's locks."""
    import fcntl

    with open(lock_file, "a+b") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                yield False
                return
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@contextmanager
def exclusive(lock_file: str | Path, waiting: str | None = None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_file`` (created if absent) for the block.

    A second process asking for the same lock waits until the first releases it, also when
    the first is killed: the kernel drops a dead process's locks. ``waiting`` is logged once
    when the lock is busy. The lock file itself stays (removing it would race with a waiter).
    """
    lock_file = Path(lock_file)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with _flock(lock_file, wait=False) as held:
        if held:
            yield
            return
    log.info("waiting: %s", waiting or f"{lock_file} is locked by another process")
    with _flock(lock_file, wait=True):
        yield


RUN_LOCK = ".run.lock"
"""The lock a run holds on its folder while it trains (``run_folder``)."""


class FolderInUse(OutputError):
    """Another live process holds the folder's run lock."""

    @classmethod
    def at(cls, folder: str | Path, key: str = "hydra.run.dir") -> FolderInUse:
        return cls(
            f"{key}={folder}: another run is writing into this folder; give each run its "
            "own (leave hydra.run.dir unset for a fresh one)"
        )


@contextmanager
def run_folder(folder: str | Path, key: str = "hydra.run.dir") -> Iterator[None]:
    """Hold ``folder``'s run lock for the block, or fail at once in one line naming ``key``
    when another live run holds it: two runs writing one folder would leave one's config
    beside the other's metrics. A killed run's lock goes with its process."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with _flock(folder / RUN_LOCK, wait=False) as held:
        if not held:
            raise FolderInUse.at(folder, key)
        yield


def launched_worker() -> bool:
    """Whether this process is one that DDP or SLURM started beside the run's first
    (Lightning re-runs the command with ``LOCAL_RANK``; srun starts a task per rank): it
    writes into the folder that the first process locked, and takes no lock of its own."""
    ranks = ("LOCAL_RANK", "NODE_RANK", "SLURM_PROCID", "SLURM_LOCALID")
    return any(os.environ.get(name, "0") not in ("", "0") for name in ranks)


def folder_in_use(folder: str | Path) -> bool:
    """Whether a live run holds ``folder``'s run lock (the check before Hydra writes, and
    ``compare``'s "running"). Read-only: the lock file is opened for reading and asked for a
    shared lock, which a live run's exclusive one refuses; a folder that cannot be read
    (someone else's sweep) counts as not in use."""
    import fcntl

    try:
        with open(Path(folder) / RUN_LOCK, "rb") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            return False
    except OSError:
        return False


def check_writable(folder: str | Path, key: str) -> Path:
    """Create ``folder`` if needed and prove a file can be written in it, before the work.

    Raises
    ------
    OutputError
        One line naming ``key`` (the setting that chose the folder) and why; also for an
        empty value, which would write into the current folder without saying so.
    """
    if folder is None or not str(folder).strip():
        raise OutputError(
            f"{key} is empty: give a folder ({key}=<folder>), or leave it unset for a fresh "
            "run folder"
        )
    folder = Path(folder).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=_prefix(folder / "probe"), suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OutputError(
            f"{key}={folder}: cannot write there ({reason}); choose a writable folder"
        ) from None
    return folder


@contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGTERM and SIGINT for the block and deliver them after it, to the handlers they
    had: a few renames that must happen together are never cut in half by Ctrl-C or a
    cluster's SIGTERM (SIGKILL still can). Outside the main thread, where Python cannot
    change handlers, the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    # a handler installed outside Python (getsignal: None) could not be put back: left alone
    held = [s for s in (signal.SIGTERM, signal.SIGINT) if signal.getsignal(s) is not None]
    before = {sig: signal.signal(sig, lambda signum, frame: caught.append(signum)) for sig in held}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(caught):
            signal.raise_signal(sig)


def _move_all(names: list[str], src: Path, dest: Path, done: list[str]) -> None:
    for name in names:
        os.rename(src / name, dest / name)
        done.append(name)


def replace_set(
    stage: Path, out_dir: Path, owned: Callable[[str], bool], manifests: tuple[str, ...] = ()
) -> list[str]:
    """Move every entry of ``stage`` into ``out_dir`` in place of the previous set: the
    entries of ``out_dir`` that ``owned`` claims (the command's earlier outputs, by name) or
    that the new set replaces. Return the names moved in.

    The old entries go to a temporary folder first, manifests (``generation.json``, ...)
    first, and the new ones come in with their manifests last, all renames on one file
    system, SIGTERM and Ctrl-C held until the end (``deferred_signals``). An error half-way
    puts the old set back. Only a SIGKILL or a power cut in those milliseconds can leave a
    folder without its manifest; the next run of the command then replaces what is there.
    """
    new = sorted(os.listdir(stage), key=lambda n: (n in manifests, n))
    old = [
        n
        for n in os.listdir(out_dir)
        if (owned(n) or n in new) and not _TEMP.match(n) and n != RUN_LOCK
    ]
    old.sort(key=lambda n: (n not in manifests, n))
    with deferred_signals():
        trash = temp_dir(out_dir / "replaced")
        moved_out: list[str] = []
        moved_in: list[str] = []
        try:
            _move_all(old, out_dir, trash, moved_out)
            _move_all(new, stage, out_dir, moved_in)
        except BaseException:
            _move_all(moved_in[::-1], out_dir, stage, [])  # the new set back to its stage
            _move_all(moved_out[::-1], trash, out_dir, [])  # and the old one in place
            trash.rmdir()  # empty now; if a move back failed, the old set stays in it
            raise
        shutil.rmtree(trash, ignore_errors=True)
    return new


@contextmanager
def output_set(
    out_dir: str | Path, owned: Callable[[str], bool], manifests: tuple[str, ...] = ()
) -> Iterator[Path]:
    """Yield an empty staging folder inside ``out_dir`` for everything one run writes; when
    the block succeeds, its entries replace the previous run's set (``replace_set``).

    So a run that fails, is stopped (SIGTERM, Ctrl-C) or is killed leaves ``out_dir`` as it
    was: the previous run's files, complete, or nothing (the staging folder is removed, or
    left to ``clean_stale`` after a SIGKILL). The swap is of named entries, not of
    ``out_dir`` itself: the folder is often Hydra's run folder, whose ``.hydra/`` and log
    are still open, or a folder of the user's that holds other files.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = temp_dir(out_dir / "outputs")
    try:
        yield stage
        replace_set(stage, out_dir, owned, manifests)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
