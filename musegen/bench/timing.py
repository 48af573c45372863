"""The one timing rule of every benchmark: the best (minimum) of several runs.

On a shared machine a slow run measures the neighbours, not the code, so the fastest of the
repeats is the figure; the spread (slowest over fastest, minus one) is printed beside it so
a noisy measurement shows itself. A baseline and the code it is compared with are measured
in the same run, and only their ratio is reported as a claim.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from torch.overrides import TorchFunctionMode


@dataclass(frozen=True)
class Timing:
    """Seconds of each timed run of one measurement."""

    runs: tuple[float, ...]

    @property
    def best(self) -> float:
        return min(self.runs)

    @property
    def spread(self) -> float:
        """Slowest over fastest, minus one: 0.05 means the runs were within 5%."""
        return max(self.runs) / max(min(self.runs), 1e-12) - 1.0

    def describe(self) -> str:
        return f"best of {len(self.runs)}, spread {self.spread:.0%}"


def best_of(fn: Callable[[], object], repeats: int, warmup: int = 1) -> Timing:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times timed."""
    for _ in range(warmup):
        fn()
    runs = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return Timing(tuple(runs))


class TorchCalls(TorchFunctionMode):
    """Counts the calls into torch's Python API (functions, tensor methods, modules'
    functional calls, and attribute reads such as ``.shape`` and ``.device``) that Python code
    makes inside the block: ``with TorchCalls() as calls: ...; calls.count``.

    A step of generation works on vectors of a few hundred values, where a call's fixed cost
    (Python, dispatch, allocation) outweighs its arithmetic: its time then follows the number
    of calls, which does not depend on the machine or on what else runs beside it (it moves
    only with what the code does for the values it meets). The calls a torch
    function makes inside its own implementation are not counted (the mode is off while a
    call runs).
    """

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        self.count += 1
        return func(*args, **(kwargs or {}))
