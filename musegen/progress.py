"""The one progress bar of the long-running steps (rich, on stderr), with a way to print a
line above it (a skipped file) without tearing the bar."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class Bar:
    """What ``progress_bar`` yields: ``advance()`` and ``print()``; a no-op bar when off."""

    def __init__(self, progress: Progress | None, task: int | None) -> None:
        self._progress, self._task = progress, task

    def advance(self, n: int = 1) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, n)

    def print(self, message: str) -> None:
        """One line on stderr, above the bar when there is one."""
        if self._progress is not None:
            self._progress.console.print(message, markup=False, highlight=False)
        else:
            print(message, file=sys.stderr)


@contextmanager
def progress_bar(total: int, description: str, enabled: bool = True) -> Iterator[Bar]:
    """Yield a ``Bar``; draws nothing when disabled or total is 0.

    A block that ends without an exception has done the work it counted, so the bar ends
    at ``total``: a caller that reports in chunks (the decoder, every 64 notes) would
    otherwise leave it short by the last partial chunk. One that raises keeps the count it
    reached, which says where it stopped.
    """
    if not enabled or total <= 0:
        yield Bar(None, None)
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    with progress:
        task = progress.add_task(description, total=total)
        yield Bar(progress, task)
        progress.update(task, completed=total)
