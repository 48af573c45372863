"""The setting rules every constructor uses (``musegen.checks``): each bound, each kind of
value a user can write in YAML, and the one-line message."""

from __future__ import annotations

import math

import pytest

from musegen.checks import ConfigError, at_least, check, integer, number, one_of, optional
from musegen.errors import UserError


@pytest.mark.parametrize(
    ("value", "ok"),
    [(1, True), (3, True), (0, False), (4, False), (True, False), (2.0, False), ("2", False)],
)
def test_an_integer_is_an_int_within_both_bounds_never_a_bool(value: object, ok: bool) -> None:
    assert integer(1, 3)(value) is ok


def test_either_integer_bound_may_be_left_out() -> None:
    assert integer()(-(10**9)) and integer()(10**9)
    assert integer(high=0)(-5) and not integer(high=0)(1)
    assert integer(low=0)(10**12) and not integer(low=0)(-1)


@pytest.mark.parametrize(
    ("value", "closed", "open_low", "open_high"),
    [
        (0.0, True, False, True),  # the low end: in when closed, out when open
        (1.0, True, True, False),  # the high end
        (0.5, True, True, True),
        (1, True, True, False),  # an int is a number
        (-0.1, False, False, False),
        (math.nan, False, False, False),
        (math.inf, False, False, False),
        (False, False, False, False),  # a bool is not
        ("0.5", False, False, False),
    ],
)
def test_a_number_is_finite_and_each_end_may_be_open(
    value: object, closed: bool, open_low: bool, open_high: bool
) -> None:
    assert number(0.0, 1.0)(value) is closed
    assert number(0.0, 1.0, low_inclusive=False)(value) is open_low
    assert number(0.0, 1.0, high_inclusive=False)(value) is open_high


def test_one_of_and_optional() -> None:
    assert one_of(["lstm", "gru"])("gru") and not one_of(["lstm", "gru"])("rnn")
    assert one_of(iter([1, 2]))(2)  # an iterator is read once, then kept
    rule = optional(integer(1))
    assert rule(None) and rule(1) and not rule(0)


def test_check_returns_the_value_or_raises_one_line_that_starts_with_the_key() -> None:
    assert check(5, "data.seq_len", integer(1), "an integer >= 1") == 5
    with pytest.raises(ConfigError) as info:
        check(True, "data.seq_len", integer(1), "an integer >= 1")
    assert str(info.value) == "data.seq_len must be an integer >= 1, got True"
    assert isinstance(info.value, UserError)  # exit code 2 in every CLI


def test_a_rule_that_cannot_compare_the_value_is_a_failed_check() -> None:
    with pytest.raises(ConfigError, match=r"^x must be >= 1, got \[1\]$"):
        check([1], "x", lambda v: v >= 1, ">= 1")


def test_at_least_names_its_bound() -> None:
    assert at_least(2, "data.batch_size", 2) == 2
    with pytest.raises(ConfigError, match=r"^data.batch_size must be an integer >= 2, got 1$"):
        at_least(1, "data.batch_size", 2)
