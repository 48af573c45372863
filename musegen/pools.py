"""Worker processes for the data steps (MIDI conversion, the Bach build, the note cache).

One way for all of them, safe to start from a process that has imported torch: workers are
*spawned*, never forked (a fork can inherit a locked OpenMP or allocator mutex from the
parent's threads and hang), and they ignore SIGINT, so Ctrl-C reaches only the parent, which
stops the pool and reports in one line. They also end with the parent, however it ends: a
parent killed with ``kill -9`` (or by the OOM killer) cannot stop them, and they would wait,
blocked, for jobs that never come, each holding its memory, and keep ``multiprocessing``'s
resource tracker alive with them (``_die_with``). ``concurrent.futures`` is used rather than
``multiprocessing.Pool``: a worker that dies (killed, out of memory) raises
``BrokenProcessPool`` instead of being replaced forever. Results come back in the order of
the jobs (``ordered``) or as they finish.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from itertools import islice
from typing import TypeVar

J = TypeVar("J")
R = TypeVar("R")


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. a SLURM allocation)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_POLL_S = 1.0
"""How often a worker checks its parent where the kernel cannot tell it (not Linux)."""


def _start_worker(parent: int) -> None:
    """A worker's first act: leave Ctrl-C to the parent, and end with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with(parent)


def _die_with(parent: int) -> None:
    """End this process when ``parent`` (its parent's pid) ends, ``kill -9`` included.

    On Linux the kernel kills it then (``prctl(PR_SET_PDEATHSIG, SIGKILL)``: sent when the
    thread that started this process ends, which for a pool is the one that used it); a
    parent that died before the call is seen as a changed parent pid. Elsewhere a daemon
    thread compares the parent pid every ``PARENT_POLL_S`` seconds.
    """
    if sys.platform.startswith("linux"):
        try:
            armed = ctypes.CDLL(None, use_errno=True).prctl(
                PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0
            )
        except (OSError, AttributeError):
            armed = -1
        if armed == 0:
            if os.getppid() != parent:
                os._exit(1)
            return
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)  # as a kill would: the next run removes a job's temporaries (atomic.py)


def _run_chunk(fn: Callable[[J], R], chunk: Sequence[J]) -> list[R]:
    return [fn(job) for job in chunk]


def can_spawn() -> bool:
    """False where spawned workers cannot start: inside a joblib/loky worker (its start
    method, "loky", is unknown to multiprocessing) or under a main script that is not a
    file (``python - < script``), which spawned workers must import again."""
    if mp.get_start_method(allow_none=True) not in (None, "fork", "spawn", "forkserver"):
        return False
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    return main_file is None or os.path.exists(main_file)


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
    its start-up (each spawned worker imports ``fn``'s module afresh), or when workers cannot
    be spawned here (``can_spawn``; a sweep run by joblib is parallel already). ``fn`` must
    be a module-level function. When the caller stops early or an exception (Ctrl-C
    included) passes through, the workers are stopped before this returns.
    """
    jobs = list(jobs)
    workers = min(available_cpus() if workers is None else workers, len(jobs))
    if workers <= 1 or len(jobs) < min_jobs or not can_spawn():
        yield from map(fn, jobs)
        return
    chunksize = chunksize or max(1, min(16, len(jobs) // (workers * 8)))
    chunks = (jobs[i : i + chunksize] for i in range(0, len(jobs), chunksize))
    # Workers are born ignoring SIGINT (an ignored signal stays ignored across exec, and
    # Python keeps it so), so a Ctrl-C during their start-up cannot print their tracebacks.
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread else None
    try:
        pool = ProcessPoolExecutor(
            workers,
            mp_context=mp.get_context("spawn"),
            initializer=_start_worker,
            initargs=(os.getpid(),),
        )
        # the first window of chunks starts the workers while SIGINT is ignored
        window = IN_FLIGHT_PER_WORKER * workers
        first = [pool.submit(_run_chunk, fn, chunk) for chunk in islice(chunks, window)]
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, previous)
    try:
        yield from _results(pool, fn, first, chunks, ordered)
    except BrokenProcessPool as exc:
        raise RuntimeError(
            "a worker process died (killed, out of memory, or it could not start: a script "
            "that runs musegen's data steps must guard its top level with "
            "`if __name__ == '__main__':`, as Python's spawned workers import it again)"
        ) from exc
    finally:
        _stop(pool)


IN_FLIGHT_PER_WORKER = 4
"""Chunks submitted ahead of the consumer, per worker: enough to keep every worker busy."""


def _results(
    pool: ProcessPoolExecutor,
    fn: Callable,
    first: list[Future],
    rest: Iterator[Sequence],
    ordered: bool,
) -> Iterator:
    """The results of ``first`` and then of ``rest``'s chunks, each submitted as one is taken.

    Submitting every chunk at once would keep every result until the consumer reached it,
    and every consumed one too while the list of futures lived: on LPD-5 the whole dataset's
    notes (1.6 GB for 21,425 songs). Here only the window's results are held.
    """

    def submit() -> Future | None:
        chunk = next(rest, None)
        return None if chunk is None else pool.submit(_run_chunk, fn, chunk)

    if ordered:
        queue = deque(first)
        while queue:
            result = queue.popleft().result()
            if (future := submit()) is not None:
                queue.append(future)
            yield from result
        return
    pending = set(first)
    while pending:
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            if (new := submit()) is not None:
                pending.add(new)
            yield from future.result()


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and end the workers now (not after their current job)."""
    processes = list(getattr(pool, "_processes", {}).values())  # no public way before 3.14
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join()
