"""The sampling rules' config, their report, the draw's edges and devices, the drum rule, and
the no-repeat step mask row by row: every value computed by hand."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import torch
from omegaconf import OmegaConf

from musegen.checks import ConfigError
from musegen.generation.sampling import (
    DrumHits,
    Sampling,
    filter_logits,
    sample,
    sample_in_buckets,
)
from musegen.generation.sounding import SoundingKeys
from musegen.models.time_classes import ClassTables, TimeClasses

INF = float("inf")
SHAPE = (
    "must be a mapping of temperature, top_k, top_p, buckets, clash, harmony, root, on_kept, "
    "entry, cache, cache_drawn (or fields)"
)
"""The words of ``_mapping``'s error after the key."""


def _message(config: Any) -> str:
    with pytest.raises(ConfigError) as info:
        Sampling.from_config(config)
    return str(info.value)


def _fixed_uniform(monkeypatch: pytest.MonkeyPatch, u: float) -> None:
    """Every ``torch.rand`` returns ``u``: the draw at one chosen uniform number."""

    def rand(*size: int, generator: Any = None, device: Any = None) -> torch.Tensor:
        return torch.full(size, u, device=device)

    monkeypatch.setattr(torch, "rand", rand)


# --- Sampling.from_config --------------------------------------------------------------


def test_a_setting_of_the_wrong_shape_names_its_key_as_the_config_writes_it() -> None:
    """A user who writes ``sampling=abc``, ``sampling.step=0.5`` or a track's field as a
    number reads the one key to fix, not ``None`` or a generic ``track``."""
    assert _message("abc") == f"sampling {SHAPE}, got 'abc'"
    assert _message({"step": 0.5}) == f"sampling.step {SHAPE}, got 0.5"
    assert _message({"tracks": 3}) == f"sampling.tracks {SHAPE}, got 3"
    assert _message({"tracks": {"Bass": {"duration": 3}}}) == (
        f"sampling.tracks.Bass.duration {SHAPE}, got 3"
    )
    assert _message({"tracks": {"Bass": {"temperature": 0}}}) == (
        "sampling.tracks.Bass.temperature must be a number > 0, got 0"
    )
    assert _message({"tracks": {"Flute": {"top_k": 1}}}) == (
        "sampling.tracks.Flute: unknown track 'Flute'; choose from "
        "['Drums', 'Piano', 'Guitar', 'Bass', 'Strings']"
    )


def test_a_track_named_twice_is_one_line_whichever_rules_it_sets() -> None:
    """``bass`` and ``Bass`` are one track: two rules for it would silently keep the last, so
    the second spelling is refused, whether it sets a value or a field's rule."""
    for config in [
        {"tracks": {"Bass": {"top_k": 8}, "bass": {"top_k": 4}}},  # values, then values
        {"tracks": {"Bass": {"pitch": {"top_k": 8}}, "BASS": {"pitch": {"top_k": 4}}}},
        {"tracks": {"Bass": {"top_k": 8}, "bass": {"pitch": {"top_k": 4}}}},
    ]:
        second = list(config["tracks"])[1]
        assert _message(config) == f"sampling.tracks.{second}: Bass has a rule already"


def test_each_tracks_rule_for_a_field_is_kept() -> None:
    """Two tracks, each with a rule for one field: both apply (the second does not replace
    the first's)."""
    rules = Sampling.from_config(
        {
            "tracks": {
                "Bass": {"duration": {"temperature": 1.2}},
                "Piano": {"pitch": {"top_k": 3}},
            }
        }
    )
    assert rules.track_fields == (
        ("Bass", "duration", (("temperature", 1.2),)),
        ("Piano", "pitch", (("top_k", 3),)),
    )
    assert rules.rule("duration", "Bass").temperature == 1.2
    assert rules.rule("pitch", "Piano").top_k == 3
    assert rules.rule("pitch", "Bass").top_k == 0  # the global rule


def test_an_omegaconf_node_is_read_with_its_interpolations_resolved() -> None:
    """Hydra passes ``cfg.sampling`` (a ``DictConfig``): ``${...}`` values are resolved before
    they are checked, and a value left ``???`` is the one-line error naming its key, not
    OmegaConf's exception."""
    root = OmegaConf.create(
        {
            "cold": 0.5,
            "sampling": {"temperature": "${cold}", "tracks": {"bass": {"top_k": 8}}},
        }
    )
    rules = Sampling.from_config(root.sampling)
    assert rules.temperature == 0.5 and rules.tracks == (("Bass", (("top_k", 8),)),)
    missing = OmegaConf.create({"temperature": "???"})
    assert _message(missing) == "sampling.temperature must be a number > 0, got '???'"


# --- Sampling.to_dict ------------------------------------------------------------------


def test_the_report_of_the_rules_holds_each_fields_and_each_tracks_settings() -> None:
    """``to_dict`` is what a run's report records: a field's rule as it resolves (global
    values with the field's own), a track's own settings, with or without field rules."""
    rules = Sampling.from_config(
        {"temperature": 0.9, "step": {"temperature": 0.5}, "tracks": {"Bass": {"top_k": 8}}}
    )
    plain = {"top_k": 0, "top_p": 1.0, "buckets": "exact", "clash": 1.0}
    plain |= {
        "harmony": 1.0,
        "root": 1.0,
        "on_kept": 1.0,
        "entry": 1.0,
        "cache": 0.0,
        "cache_drawn": 1.0,
    }
    assert rules.to_dict() == {
        "temperature": 0.9,
        **plain,
        "step": {"temperature": 0.5, **plain},  # the field's 0.5 over the global 0.9
        "tracks": {"Bass": {"top_k": 8}},  # tracks without track_fields
    }
    only_fields = Sampling.from_config({"tracks": {"Piano": {"duration": {"temperature": 1.2}}}})
    assert only_fields.to_dict() == {
        "temperature": 1.0,
        **plain,
        "tracks": {"Piano": {"duration": {"temperature": 1.2}}},  # a track with no values
    }


# --- filter_logits ---------------------------------------------------------------------


def test_top_p_keeps_the_smallest_set_that_reaches_p_exactly() -> None:
    """Four equal logits: each probability is exactly 0.25 and the masses before each value
    are 0, 0.25, 0.5, 0.75. With ``top_p=0.5`` two values reach 0.5 exactly, so two are kept
    (a third would make the set larger than needed)."""
    kept = torch.isfinite(filter_logits(torch.zeros(1, 4), Sampling(top_p=0.5)))
    assert int(kept.sum()) == 2


def test_top_p_of_one_keeps_a_value_of_vanishing_probability() -> None:
    """``top_p=1`` is off: it keeps every value. With logits [0, -20] the second value's
    probability, e^-20 / (1 + e^-20) = 2.06e-9, is below float32's resolution at 1, so the
    mass before it reads 1.0 in float32; it must stay all the same."""
    logits = torch.tensor([[0.0, -20.0]])
    assert torch.equal(filter_logits(logits, Sampling(top_p=1.0)), logits)
    assert torch.equal(filter_logits(logits, Sampling(temperature=0.5, top_p=1.0)), logits / 0.5)


# --- sample: the ends of the uniform number --------------------------------------------


def test_the_smallest_uniform_never_draws_a_removed_first_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``torch.rand`` can return 0. With ``top_k=1`` on logits [0, 1, 0] only value 1 stays:
    cdf = [0, 1, 1] and the draw is the first cdf *above* u = 0, value 1, not value 0 whose
    cdf equals 0."""
    _fixed_uniform(monkeypatch, 0.0)
    logits = torch.tensor([[0.0, 1.0, 0.0]])
    assert sample(logits, Sampling(top_k=1), torch.Generator()).tolist() == [1]


def test_the_largest_uniform_never_draws_past_the_last_allowed_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The uniform is scaled to the row's float32 total. Rows [0, a, -inf] (a = 1/16, 2/16,
    ..., 4; the third value removed): the two probabilities of a row sum to 1 in exact
    arithmetic but, rounded to float32, some rows to just under 1 (softmax([0, 2]) to
    1 - 2^-24 here; at least one such row is checked below). With the largest uniform
    ``torch.rand`` returns, u = 1 - 2^-24, u * total < total: every row draws value 1.
    Dividing instead, u / total >= 1 passes every cdf of a row under 1 and lands on its
    removed value."""
    a = torch.arange(1, 65) / 16
    logits = torch.stack([torch.zeros(64), a, torch.full((64,), -INF)], dim=1)
    total = logits.softmax(-1).cumsum(-1)[:, -1]
    assert int((total < 1).sum()) >= 1  # rows that sum to just under 1 in float32
    _fixed_uniform(monkeypatch, 1 - 2**-24)
    assert sample(logits, Sampling(), torch.Generator()).tolist() == [1] * 64


def test_a_row_with_no_allowed_value_still_gives_an_index_inside_the_vocabulary() -> None:
    """All logits -inf (nothing allowed): the probabilities are NaN and the search finds no
    cdf above u, index 3 of a vocabulary of 3; the index is kept to the last class, 2, so
    that the lookup of the drawn class does not fail."""
    logits = torch.full((1, 3), -INF)
    assert sample(logits, Sampling(), torch.Generator().manual_seed(0)).tolist() == [2]


# --- the device the draw uses ----------------------------------------------------------


def test_the_draw_is_made_on_the_logits_device_not_torchs_default() -> None:
    """Every tensor a draw builds is put on the logits' device: under another default
    device (here ``meta``, as a user's ``torch.set_default_device`` would set) the draws and
    the sounding keys still work on the CPU tensors they are given. top_k=1 makes each draw
    certain: the argmax, 2; within the likeliest bucket (0.09 + 0.24 = 0.33 < 0.67: bucket
    1, class 2 alone)."""
    logits = torch.tensor([[0.0, 1.0, 2.0]])
    bucket = torch.tensor([0, 0, 1])
    primer = {
        "pitch": torch.tensor([[60]]),
        "time": torch.tensor([[0]]),
        "duration": torch.tensor([[1.0]]),
    }
    keys = SoundingKeys(torch.tensor([0, 12, 24]), resolution=24, n_tracks=1)
    with torch.device("meta"):
        drawn = sample(logits, Sampling(top_k=1), torch.Generator().manual_seed(0))
        in_buckets = sample_in_buckets(
            logits, Sampling(top_k=1), torch.Generator().manual_seed(0), bucket
        )
        keys.start(primer)
    assert drawn.device.type == "cpu" and drawn.tolist() == [2]
    assert in_buckets.device.type == "cpu" and in_buckets.tolist() == [2]
    assert keys.until is not None and keys.until.device.type == "cpu"
    assert int(keys.until[0, 60]) == 24 and int(keys.until.sum()) == 24  # 0 + 1 beat * 24


# --- sample_in_buckets -----------------------------------------------------------------


def test_both_stages_draw_from_the_given_generator_only() -> None:
    """A seed fixes the music: the two stages take one uniform each from the generator (two
    ``(B, 1)`` draws) and none from torch's global random state."""
    logits = torch.log(torch.tensor([[0.25, 0.20, 0.15, 0.40]] * 8))
    bucket = torch.tensor([0, 0, 0, 1])
    generator, twin = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    global_state = torch.get_rng_state()
    sample_in_buckets(logits, Sampling(), generator, bucket)
    assert torch.equal(torch.get_rng_state(), global_state)
    torch.rand(8, 1, generator=twin), torch.rand(8, 1, generator=twin)
    assert torch.equal(generator.get_state(), twin.get_state())


def test_a_groups_rule_applies_in_both_stages() -> None:
    """Rows of a group drawn with top_k=1: the bucket masses are 0.25 + 0.20 + 0.15 = 0.60
    and 0.40, so bucket 0; within it the likeliest class, 0 (0.25). Drawn plainly, 40% of
    the rows would take bucket 1 (class 3) and within bucket 0 classes 1 and 2 have 58%: of
    32 group rows, every one is class 0 only when both stages follow the group's rule."""
    logits = torch.log(torch.tensor([[0.25, 0.20, 0.15, 0.40]] * 64))
    rows = torch.arange(64) % 2 == 0
    got = sample_in_buckets(
        logits,
        Sampling(),
        torch.Generator().manual_seed(0),
        torch.tensor([0, 0, 0, 1]),
        groups=[(rows, Sampling(top_k=1))],
    )
    assert got[rows].tolist() == [0] * 32


# --- DrumHits.of -----------------------------------------------------------------------


def test_the_drum_rule_of_a_network_with_time_classes_uses_its_resolution() -> None:
    """A categorical network's tables (12 steps a beat) fix one step, 1/12 beat, whatever
    the resolution argument says (24), and its duration class: class 0, the one-step value
    (duration values 1, 2, 3, ... steps). The drums are the model's second track."""
    tables = ClassTables(TimeClasses(resolution=12))
    net = SimpleNamespace(config=SimpleNamespace(track_names=("Piano", "Drums")), tables=tables)
    assert DrumHits.of(net, resolution=24) == DrumHits(track=1, step_class=0, step_beats=1 / 12)


def test_the_drum_rule_of_a_regressing_network_has_no_class() -> None:
    """A regressing network (``tables`` None) has no duration class: the step is the
    argument's, 1/8 beat, and the duration is set after the draw (``Picker.settle``)."""
    net = SimpleNamespace(config=SimpleNamespace(track_names=("Bass", "Drums")), tables=None)
    assert DrumHits.of(net, resolution=8) == DrumHits(track=1, step_class=None, step_beats=0.125)
    no_drums = SimpleNamespace(config=SimpleNamespace(track_names=("Bass",)), tables=None)
    assert DrumHits.of(no_drums) is None


# --- SoundingKeys.mask_steps -----------------------------------------------------------


def test_a_key_held_past_the_longest_step_keeps_the_longest_in_its_own_row_only() -> None:
    """Steps 0, 6, 12, 24 time steps (24 a beat); key 60 held 4 beats (until 96) in row 0,
    a sixteenth (until 6) in row 1, both from time 0. Row 0: every step is early, so the
    longest is kept; row 1: only step 0 is early (0 < 6), and its other steps all stay."""
    keys = SoundingKeys(torch.tensor([0, 6, 12, 24]), resolution=24, n_tracks=1)
    keys.start(
        {
            "pitch": torch.tensor([[60], [60]]),
            "time": torch.tensor([[0], [0]]),
            "duration": torch.tensor([[4.0], [0.25]]),
        }
    )
    masked = keys.mask_steps(torch.zeros(2, 4), {"pitch": torch.tensor([60, 60])})
    assert masked.tolist() == [[-INF, -INF, -INF, 0.0], [-INF, 0.0, 0.0, 0.0]]
