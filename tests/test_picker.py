"""``Picker`` by hand: the excluded tracks' mask, drum notes kept one hit (masked before the
draw, or settled after it), a track's rules row by row, the warnings and errors naming what
a user set, and the picker's tensors following the logits to their device.

The masks' device is checked on PyTorch's ``meta`` device (shapes without data): a device
other than the one the picker built them on, as a GPU is, on a machine with none. Only
``torch.full`` and an assignment run there: the first arithmetic on ``meta`` imports about
800 modules (a second), so the tensors moved to the logits' device inside a draw are checked
by recording where they are moved (``_Moved``)."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import cast

import pytest
import torch

from musegen.checks import ConfigError
from musegen.generation.sampling import DrumHits, Picker, Sampling
from musegen.generation.sounding import SoundingKeys

INF = float("inf")
ARGMAX = Sampling(top_k=1)  # keeps only the likeliest value: every draw is the argmax


def _rows(n: int, *probs: float) -> torch.Tensor:
    """``n`` rows of the logits ``log(probs)``."""
    return torch.log(torch.tensor([list(probs)] * n))


def _seed(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_the_track_mask_keeps_only_the_allowed_tracks_built_once_per_device() -> None:
    """``tracks=[bass, drums]`` of a model with Drums, Piano, Bass: the mask is 0 on those
    two (their logits unchanged), -inf on Piano, reused while the logits stay on a device,
    built again on another."""
    pick = Picker(
        Sampling(), _seed(), track_names=["Drums", "Piano", "Bass"], allowed=["bass", "drums"]
    )
    assert pick.allowed == [2, 0]  # in the order given, each as the model's index
    mask = pick._track_mask(torch.zeros(1, 3))
    assert mask.tolist() == [0.0, -INF, 0.0]
    assert pick._track_mask(torch.zeros(4, 3)) is mask  # built once
    on_meta = pick._track_mask(torch.zeros(1, 3, device="meta"))
    assert on_meta.device.type == "meta" and on_meta.shape == (3,)
    again = pick._track_mask(torch.zeros(1, 3))  # back on the CPU: built there again
    assert again.device.type == "cpu" and again.tolist() == [0.0, -INF, 0.0]
    # drawn: Piano (p = 0.98) never, whatever the rows' numbers
    drawn = pick("track", _rows(64, 0.01, 0.98, 0.01), {})
    assert set(drawn.tolist()) == {0, 2}  # 0.01 / 0.02 each: both drawn in 64 rows


def test_a_drum_notes_duration_is_drawn_from_the_one_step_class_only() -> None:
    """Categorical timing, the track drawn first: the drum row can draw only the one-step
    class (1), the Piano row the likeliest class (3, p = 0.4) under ``top_k=1``; nothing is
    left for ``settle`` to change, and the mask follows the logits' device."""
    drums = DrumHits(track=0, step_class=1, step_beats=0.25)
    pick = Picker(ARGMAX, _seed(), track_names=["Drums", "Piano"], drums=drums)
    logits = _rows(2, 0.1, 0.2, 0.3, 0.4)
    got = pick("duration", logits, {"track": torch.tensor([0, 1])})
    assert got.tolist() == [1, 3]
    note = {"track": torch.tensor([0, 1]), "duration": torch.tensor([0.5, 1.0])}
    assert pick.settle(note) is note  # every duration was drawn knowing its track
    hit = pick._hit_mask(logits)
    assert hit.tolist() == [-INF, 0.0, -INF, -INF]  # the one-step class's logit unchanged
    assert pick._hit_mask(torch.zeros(7, 4)) is hit  # built once
    on_meta = pick._hit_mask(torch.zeros(1, 4, device="meta"))
    assert on_meta.device.type == "meta" and on_meta.shape == (4,)
    again = pick._hit_mask(logits)  # back on the CPU: built there again
    assert again.device.type == "cpu" and again.tolist() == [-INF, 0.0, -INF, -INF]


def test_a_duration_drawn_before_the_track_is_one_hit_once_the_track_is_known() -> None:
    """The duration drawn first (no track in ``drawn``): no mask, so ``settle`` makes the
    drum note's duration one step (0.25 beats at 4 steps a beat) and leaves the others."""
    drums = DrumHits(track=0, step_class=1, step_beats=0.25)
    pick = Picker(ARGMAX, _seed(), track_names=["Drums", "Piano"], drums=drums)
    note = {
        "track": torch.tensor([0, 1]),
        "duration": torch.tensor([1.0, 1.0]),
        "pitch": torch.tensor([36, 60]),
    }
    assert pick.settle(note) is note  # nothing drawn unmasked yet
    assert pick("duration", _rows(2, 0.1, 0.2, 0.3, 0.4), {}).tolist() == [3, 3]  # no mask
    out = pick.settle(note)
    assert out["duration"].tolist() == [0.25, 1.0]  # the drum note (track 0) one step
    assert set(out) == {"track", "duration", "pitch"} and out["pitch"] is note["pitch"]
    assert note["duration"].tolist() == [1.0, 1.0]  # the note given is left as it was


def test_a_regressed_drum_duration_is_set_to_one_step_row_by_row() -> None:
    """Regressed timing (no duration class): every drum row's duration becomes one step
    (0.25 beats), in its dtype; other rows, other fields and a note without a track stay."""
    drums = DrumHits(track=1, step_class=None, step_beats=0.25)
    pick = Picker(Sampling(), _seed(), track_names=["Piano", "Drums"], drums=drums)
    note = {
        "track": torch.tensor([1, 0, 1]),
        "duration": torch.tensor([2.0, 2.0, 0.5], dtype=torch.float64),
        "pitch": torch.tensor([38, 60, 42]),
        "step": torch.tensor([0.5, 0.0, 1.0]),
    }
    out = pick.settle(note)
    assert set(out) == {"track", "duration", "pitch", "step"}
    assert out["duration"].dtype == torch.float64
    assert out["duration"].tolist() == [0.25, 2.0, 0.25]  # rows 0 and 2 are drums
    assert out["track"] is note["track"] and out["step"] is note["step"]
    assert note["duration"].tolist() == [2.0, 2.0, 0.5]
    trackless = {"duration": torch.tensor([2.0]), "pitch": torch.tensor([60])}
    assert pick.settle(trackless) is trackless  # nothing says which row is a drum
    plain = Picker(Sampling(), _seed(), track_names=["Piano", "Drums"])  # no drum rule
    assert plain.settle(note) is note


def test_a_tracks_rule_for_one_field_applies_to_that_tracks_rows() -> None:
    """``tracks.Bass.duration.top_k=1``: the Bass rows (track 1) always draw the likeliest
    duration class (3, p = 0.4), the Piano rows draw from the softmax; the picker asks for
    the track first. The track itself is drawn under the global rule, whatever ``drawn``
    holds (a track's rule is for the fields drawn after the note's track)."""
    rules = Sampling.from_config({"tracks": {"Bass": {"duration": {"top_k": 1}}}})
    pick = Picker(rules, _seed(), track_names=["Piano", "Bass"])
    assert pick.track_first is True and pick.track_rules == {1: "Bass"}
    track = torch.tensor([1] * 16 + [0] * 16)
    got = pick("duration", _rows(32, 0.1, 0.2, 0.3, 0.4), {"track": track})
    assert got[:16].tolist() == [3] * 16
    assert set(got[16:].tolist()) != {3}  # all 16 Piano rows at 3: p = 0.4 ** 16
    cold = Picker(
        Sampling.from_config({"top_k": 1, "tracks": {"Bass": {"top_k": 0}}}),
        _seed(),
        track_names=["Piano", "Bass"],
    )
    again = cold("track", _rows(8, 0.3, 0.7), {"track": torch.tensor([0] * 8)})
    assert again.tolist() == [1] * 8  # the global top_k=1: Bass (p = 0.7) in every row


class _Moved:
    """A tensor the picker moves to the logits' device before it uses it, recording where
    (``None`` would leave it where it is: on a GPU, a device mismatch)."""

    def __init__(self, values: torch.Tensor) -> None:
        self.values: torch.Tensor = values
        self.moved_to: list[torch.device | None] = []

    def to(self, device: torch.device | None) -> torch.Tensor:
        self.moved_to.append(device)
        return self.values


def test_two_stage_draws_use_the_pickers_generator_the_tracks_rule_and_the_logits_device() -> None:
    """``duration.buckets=musical`` and ``tracks.Bass.top_k=1``: classes 0-2 are one value
    (0.25 + 0.20 + 0.15 = 0.60), class 3 another (0.40). A Bass row takes the likelier value,
    then its likeliest class (0, p = 0.25); a Piano row draws from the softmax (class 0 with
    p = 0.25). The draws depend on the picker's seed only, not on the global random state."""
    rules = Sampling.from_config(
        {"duration": {"buckets": "musical"}, "tracks": {"Bass": {"top_k": 1}}}
    )
    track = torch.tensor([1] * 16 + [0] * 16)
    logits = _rows(32, 0.25, 0.20, 0.15, 0.40)
    draws = []
    with torch.random.fork_rng():
        for global_seed in (1, 2):
            torch.manual_seed(global_seed)
            bucket = _Moved(torch.tensor([0, 0, 0, 1]))
            buckets = cast(Mapping[str, torch.Tensor], {"duration": bucket})
            pick = Picker(rules, _seed(5), track_names=["Piano", "Bass"], buckets=buckets)
            draws.append(pick("duration", logits, {"track": track}))
            assert bucket.moved_to == [logits.device]
    first, second = draws
    assert torch.equal(first, second)  # the same picker seed, another global state
    assert first[:16].tolist() == [0] * 16
    assert set(first[16:].tolist()) != {0}  # all 16 Piano rows at 0: p = 0.25 ** 16


class _Near:
    """A stand-in for ``SoundingKeys``: the keys a semitone from a sounding key, given."""

    def __init__(self, near: torch.Tensor) -> None:
        self.near = near

    def clashes(self, drawn: Mapping[str, torch.Tensor], unpitched: int | None) -> torch.Tensor:
        return self.near


def test_the_clash_penalty_row_by_row_by_hand_on_the_logits_device() -> None:
    """Key 1 of 4 a semitone from a sounding key: ``log(clash)`` is added there, by the
    global rule (0.5) where no track is drawn, else by each row's track (Bass: 0.25, Piano:
    the global 0.5), with the rules' tensor moved to the logits' device."""
    near = torch.tensor([[False, True, False, False]] * 3)
    keys = cast(SoundingKeys, _Near(near))
    pick = Picker(Sampling(clash=0.5), _seed(), keys=keys)
    out = pick._without_clashes(torch.zeros(3, 4), {})
    assert torch.equal(out, torch.tensor([[0.0, math.log(0.5), 0.0, 0.0]] * 3))  # in float32
    rules = Sampling.from_config({"clash": 0.5, "tracks": {"Bass": {"clash": 0.25}}})
    by_track = Picker(rules, _seed(), track_names=["Piano", "Bass"], keys=keys)
    moved = _Moved(by_track._log_clash)
    by_track._log_clash = cast(torch.Tensor, moved)
    logits = torch.zeros(3, 4)
    out = by_track._without_clashes(logits, {"track": torch.tensor([1, 0, 1])})
    assert moved.moved_to == [logits.device]
    bass, piano = [0.0, math.log(0.25), 0.0, 0.0], [0.0, math.log(0.5), 0.0, 0.0]
    assert torch.equal(out, torch.tensor([bass, piano, bass]))


def test_a_rule_for_tracks_the_model_lacks_is_one_warning_naming_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Rules for Bass and Guitar, a model of Piano and Drums: one line naming both and the
    model's tracks. No line where every rule's track is the model's, nor where the model
    names no tracks (a one-track model: the run's defaults may name every LPD-5 track)."""
    rules = Sampling.from_config({"tracks": {"Bass": {"top_k": 1}, "Guitar": {"top_p": 0.9}}})
    with caplog.at_level(logging.WARNING, logger="musegen.generation.sampling"):
        pick = Picker(rules, _seed(), track_names=["Piano", "Drums"])
        assert [r.getMessage() for r in caplog.records] == [
            "sampling.tracks.Bass,Guitar: the model has no such track (it plays Piano, Drums); "
            "not used"
        ]
        caplog.clear()
        Picker(Sampling(), _seed(), track_names=["Piano", "Drums"])
        Picker(rules, _seed(), track_names=["Piano", "Guitar", "Bass"])
        nameless = Picker(rules, _seed())
        assert caplog.records == []
    assert pick.unused == ["Bass", "Guitar"] and nameless.unused == ["Bass", "Guitar"]


def test_a_track_the_model_lacks_in_allowed_is_one_line_naming_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        Picker(Sampling(), _seed(), track_names=["Piano", "Drums"], allowed=["Bass"])
    assert (
        str(info.value)
        == "tracks: Bass is not a track of this model; its tracks are [Piano, Drums]"
    )
