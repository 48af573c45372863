"""The rules a setting's value must follow, written once.

Every constructor and settings class checks its values with these (``check(value, name, ok,
what)``), so a bad value is one ``ConfigError`` line that starts with the key as the user
writes it: ``data.seq_len must be an integer >= 1, got True``. The module sits at the bottom
of the package (it imports ``errors`` only), so that ``models/`` and ``data/`` use it without
reaching up to Hydra (``config_checks`` checks composed configs with the same rules).

An integer is never a ``bool`` (``True`` is 1 to Python, not to a user), and a number is
finite.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from musegen.errors import UserError

Check = Callable[[Any], bool]
"""Whether a value follows a rule."""


class ConfigError(UserError):
    """A nonsense setting; the message is one line and starts with the key."""


def integer(low: int | None = None, high: int | None = None) -> Check:
    """An ``int`` (not a ``bool``) in ``[low, high]`` (either bound optional)."""

    def ok(v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, int):
            return False
        return (low is None or v >= low) and (high is None or v <= high)

    return ok


def number(
    low: float = -math.inf,
    high: float = math.inf,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> Check:
    """A finite ``int`` or ``float`` (not a ``bool``) in ``[low, high]``; either end may be
    open."""

    def ok(v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            return False
        above = v >= low if low_inclusive else v > low
        below = v <= high if high_inclusive else v < high
        return above and below

    return ok


def one_of(choices: Iterable[Any]) -> Check:
    """One of ``choices``."""
    allowed = tuple(choices)
    return lambda v: v in allowed


def optional(rule: Check) -> Check:
    """``None``, or a value that follows ``rule``."""
    return lambda v: v is None or rule(v)


def check(value: Any, name: str, ok: Check, what: str) -> Any:
    """``value`` if it follows ``ok``; else ``ConfigError("<name> must be <what>, got <value>")``.

    ``name`` is how the user writes the setting (``data.seq_len``); ``what`` says the rule in
    words (``an integer >= 1``).
    """
    try:
        good = bool(ok(value))
    except TypeError:
        good = False
    if not good:
        raise ConfigError(f"{name} must be {what}, got {value!r}")
    return value


def at_least(value: Any, name: str, low: int) -> int:
    """``check`` for an integer ``>= low``, the commonest rule."""
    return check(value, name, integer(low), f"an integer >= {low}")
