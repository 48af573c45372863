"""The decoder's small rules by hand: its settings' one-line errors, the context it keeps to,
and when it checks that every piece has reached its end."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from musegen.checks import ConfigError
from musegen.generation.decode import (
    REST_PITCH,
    _done,
    check_context,
    check_mode,
    resolve_context,
    start_notes,
)


def test_a_bad_mode_or_context_is_one_line_naming_it() -> None:
    assert check_mode("window") == "window" and check_mode("incremental") == "incremental"
    with pytest.raises(ConfigError) as info:
        check_mode("x")
    assert str(info.value) == "mode must be incremental or window, got 'x'"
    for value in ("abc", 1):
        with pytest.raises(ConfigError) as info:
            check_context(value, "evaluate.context")
        want = f"evaluate.context must be trained, null or an integer >= 2, got {value!r}"
        assert str(info.value) == want
    assert check_context(2) == 2 and check_context(None) is None


def test_the_trained_context_is_the_networks_own() -> None:
    net = SimpleNamespace(config=SimpleNamespace(context=50))
    assert resolve_context("trained", net) == 50
    assert resolve_context(64, net) == 64 and resolve_context(None, net) is None
    old = SimpleNamespace(config=SimpleNamespace(context=None))  # stored before it was kept
    assert resolve_context("trained", old) is None
    assert resolve_context("trained", SimpleNamespace()) is None  # no config at all
    with pytest.raises(ConfigError, match=r"^context must be"):
        resolve_context(1, net)


def test_the_end_is_checked_every_16_notes_once_every_piece_reaches_it() -> None:
    """Notes 16, 32, ... (i = 15, 31, ...) check; a piece at exactly the stop time is done."""
    at = torch.tensor([96, 100])
    assert _done(at, 96, 15) and _done(at, 96, 31)
    assert not _done(at, 96, 14) and not _done(at, 96, 16) and not _done(at, 96, 0)
    assert not _done(at, 97, 15)  # the first piece is not there yet
    assert not _done(at, None, 15)  # no stop time: never
    assert _done(at, 96, 2, every=3) and not _done(at, 96, 3, every=3)


def test_a_piece_from_scratch_starts_from_one_neutral_note() -> None:
    notes = start_notes(3)
    assert set(notes) == {"pitch", "step", "duration", "track", "time", "velocity"}
    assert all(v.shape == (3, 1) for v in notes.values())
    assert notes["pitch"].dtype == torch.int64 and (notes["pitch"] == REST_PITCH).all()
    assert REST_PITCH == 0  # C-1: never played in the data
    for name in ("track", "time", "velocity"):
        assert notes[name].dtype == torch.int64 and not notes[name].any()
    assert notes["step"].dtype == torch.float32 and not notes["step"].any()
