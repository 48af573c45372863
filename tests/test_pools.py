"""The worker pool of the data steps: results in order, and only a window of them in flight.

Submitting every job at once held every result until the consumer reached it: on LPD-5
cleansed the notes of all 21,425 songs, 1.6 GB in the note-cache build (bench.prepare).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from musegen.pools import IN_FLIGHT_PER_WORKER, parallel_map


def _mark(job: tuple[str, int]) -> int:
    """A job that leaves a file behind, so the test sees which jobs ran."""
    folder, i = job
    Path(folder, f"{i}.ran").touch()
    return i * i


def test_results_come_in_order_and_unordered_as_a_whole(tmp_path: Path) -> None:
    jobs = [(str(tmp_path), i) for i in range(200)]
    assert list(parallel_map(_mark, jobs, workers=2, chunksize=3)) == [i * i for i in range(200)]
    unordered = parallel_map(_mark, jobs, workers=2, ordered=False, chunksize=3)
    assert sorted(unordered) == [i * i for i in range(200)]


def test_only_a_window_of_jobs_runs_ahead_of_the_consumer(tmp_path: Path) -> None:
    jobs = [(str(tmp_path), i) for i in range(2000)]
    results = parallel_map(_mark, jobs, workers=2, chunksize=1)
    taken = [next(results) for _ in range(5)]
    time.sleep(1.0)  # a slow consumer: idle workers must not run (and hold) the rest
    ran = len(os.listdir(tmp_path))
    results.close()
    assert taken == [0, 1, 4, 9, 16]
    assert 5 <= ran <= 5 + 2 * min(IN_FLIGHT_PER_WORKER, 16)  # not all 2,000 at once
