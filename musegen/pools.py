"""Worker processes for the data steps (MIDI conversion, the Bach build, the note cache).

One way for all of them, safe to start from a process that has imported torch: workers are
*spawned*, never forked (a fork can inherit a locked OpenMP or allocator mutex from the
parent's threads and hang), and they ignore SIGINT, so Ctrl-C reaches only the parent, which
stops the pool and reports in one line. Results come back in the order of the jobs
(``ordered``) or as they finish.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

J = TypeVar("J")
R = TypeVar("R")


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. a SLURM allocation)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def parallel_map(
    fn: Callable[[J], R],
    jobs: Iterable[J],
    workers: int | None = None,
    ordered: bool = True,
    chunksize: int | None = None,
    min_jobs: int = 2,
) -> Iterator[R]:
    """``map(fn, jobs)`` over ``workers`` spawned processes (all CPUs by default).

    In this process when one worker or fewer than ``min_jobs`` jobs make a pool not worth
    its start-up (each spawned worker imports ``fn``'s module afresh). ``fn`` must be a
    module-level function. When the caller stops early or an exception (Ctrl-C included)
    passes through, the workers are terminated before this returns.
    """
    jobs = list(jobs)
    workers = min(available_cpus() if workers is None else workers, len(jobs))
    if mp.get_start_method(allow_none=True) not in (None, "fork", "spawn", "forkserver"):
        # Inside a joblib/loky worker (hydra/launcher=joblib): its children would be told
        # to start with "loky", which multiprocessing does not know. The sweep is already
        # parallel at the level of its jobs, so this step runs in the job's own process.
        workers = 1
    if workers <= 1 or len(jobs) < min_jobs:
        yield from map(fn, jobs)
        return
    chunksize = chunksize or max(1, min(16, len(jobs) // (workers * 8)))
    # Workers are born ignoring SIGINT (an ignored signal stays ignored across exec, and
    # Python keeps it so), so a Ctrl-C during their start-up cannot print their tracebacks.
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread else None
    try:
        pool = mp.get_context("spawn").Pool(workers, initializer=_ignore_sigint)
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, previous)
    try:
        imap = pool.imap if ordered else pool.imap_unordered
        yield from imap(fn, jobs, chunksize=chunksize)
        pool.close()
    finally:
        pool.terminate()
        pool.join()
