"""Strict JSON of musegen's records: ``null`` where a value is undefined, never ``NaN``.

A metric that has nothing to measure is NaN in NumPy; JSON has no NaN, and a parser that
follows the standard rejects the bare ``NaN`` that Python's ``json`` writes by default. Every
record (``metrics.json``, ``evaluation.json``, ...) goes through ``dumps``.
"""

from __future__ import annotations

import json
import math
from typing import Any


def strict(value: Any) -> Any:
    """NaN and infinities -> ``None``, recursively (NumPy and torch scalars to plain numbers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        return strict(value.item())  # a NumPy or torch scalar
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` of ``strict(value)``, refusing anything that is not strict JSON."""
    return json.dumps(strict(value), allow_nan=False, **kwargs)
