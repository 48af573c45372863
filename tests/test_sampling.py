"""Sampling rules for one track's field, and drawing step and duration by musical value."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import torch

from musegen.config_checks import ConfigError
from musegen.errors import UserError
from musegen.generation.accompany import accompany, split_piece
from musegen.generation.continuation import DecodeOptions
from musegen.generation.sampling import Picker, Sampling, sample, sample_in_buckets
from musegen.models.time_classes import MUSICAL_BEATS, TimeClasses
from tests.test_accompany import _net, _song

COLD = Sampling(temperature=1e-4)


def _logits(*probs: float) -> torch.Tensor:
    return torch.tensor([[math.log(p) for p in probs]])


def test_a_cold_draw_by_musical_value_takes_the_likeliest_value_not_the_likeliest_class() -> None:
    # three neighbouring classes of one value (0.25 + 0.20 + 0.15 = 0.60) and one class of
    # another (0.40): the likeliest class is the lone one, the likeliest value the first
    logits = _logits(0.25, 0.20, 0.15, 0.40)
    bucket = torch.tensor([0, 0, 0, 1])
    assert int(sample(logits, COLD, torch.Generator().manual_seed(0))[0]) == 3
    assert int(sample_in_buckets(logits, COLD, torch.Generator().manual_seed(0), bucket)[0]) == 0


def test_at_temperature_one_the_two_stages_draw_the_softmax() -> None:
    probs = np.array([0.25, 0.20, 0.15, 0.40])
    logits = _logits(*probs).expand(40_000, -1)
    got = sample_in_buckets(
        logits, Sampling(), torch.Generator().manual_seed(1), torch.tensor([0, 0, 0, 1])
    )
    share = np.bincount(got.numpy(), minlength=4) / got.numel()
    assert np.abs(share - probs).max() < 0.01  # the same distribution, two uniforms a row


def test_the_musical_buckets_of_the_classes_by_hand() -> None:
    classes = TimeClasses()  # 24 steps a beat
    values, buckets = classes.values("duration"), classes.buckets("duration")
    bucket_of = dict(zip(values.tolist(), buckets.tolist(), strict=True))
    # a quarter note (24 steps) and its neighbours nearer 24 than 18 or 36 in log time
    assert bucket_of[21] == bucket_of[24] == bucket_of[29] != bucket_of[20]
    assert bucket_of[1] == 0 and bucket_of[2] == bucket_of[3] != bucket_of[4]  # a hit; 1/8
    assert buckets.max() + 1 == len(set(bucket_of.values())) <= len(MUSICAL_BEATS) + 2
    steps = classes.buckets("step")
    assert steps[0] == 0 and steps[1] == 1  # a chord's step 0 on its own


def test_a_tracks_rule_for_one_field_wins() -> None:
    rules = Sampling.from_config(
        {
            "temperature": 0.9,
            "step": {"temperature": 0.5, "buckets": "musical"},
            "tracks": {"bass": {"temperature": 0.7, "duration": {"temperature": 1.2}}},
        }
    )
    assert rules.rule("duration", "Bass").temperature == 1.2  # the track's, for the field
    assert rules.rule("step", "Bass").temperature == 0.5  # the field's over the track's
    assert rules.rule("pitch", "Bass").temperature == 0.7  # the track's
    assert rules.rule("duration", "Piano").temperature == 0.9  # the global one
    assert rules.rule("step").buckets == "musical" and rules.rule("duration").buckets == "exact"
    assert rules.to_dict()["tracks"] == {
        "Bass": {"temperature": 0.7, "duration": {"temperature": 1.2}}
    }
    with pytest.raises(ConfigError, match=r"^sampling\.tracks\.Bass\.duration\.temperature must"):
        Sampling.from_config({"tracks": {"Bass": {"duration": {"temperature": 0}}}})
    with pytest.raises(ConfigError, match=r"^sampling\.step\.buckets must be one of exact"):
        Sampling.from_config({"step": {"buckets": "coarse"}})
    for bad, message in [
        ({"temperature": 0}, "sampling.temperature must be a number > 0, got 0"),
        ({"temperature": True}, "sampling.temperature must be a number > 0, got True"),
        ({"top_p": 1.5}, "sampling.top_p must be in (0, 1] (1: off), got 1.5"),
    ]:
        with pytest.raises(ConfigError) as info:
            Sampling.from_config(bad)
        assert str(info.value) == message


def test_the_picker_draws_by_musical_value_only_where_the_rule_says() -> None:
    logits = _logits(0.25, 0.20, 0.15, 0.40)
    bucket = {"duration": torch.tensor([0, 0, 0, 1]), "step": torch.tensor([0, 0, 0, 1])}
    rules = Sampling(temperature=1e-4, fields=(("duration", (("buckets", "musical"),)),))
    pick = Picker(rules, torch.Generator().manual_seed(0), buckets=bucket)
    assert int(pick("duration", logits, {})[0]) == 0 and int(pick("step", logits, {})[0]) == 3


def test_a_rule_for_a_track_the_model_lacks_is_named_once_and_changes_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logits = torch.log(torch.tensor([[0.1, 0.2, 0.3, 0.4]] * 8))
    rules = Sampling.from_config({"tracks": {"Bass": {"top_k": 1}}})
    with caplog.at_level(logging.WARNING, logger="musegen.generation.sampling"):
        pick = Picker(rules, torch.Generator().manual_seed(0), track_names=["Piano"])
    assert pick.unused == ["Bass"] and not pick.track_first
    assert [r.getMessage() for r in caplog.records] == [
        "sampling.tracks.Bass: the model has no such track (it plays Piano); not used"
    ]
    plain = Picker(Sampling(), torch.Generator().manual_seed(0), track_names=["Piano"])
    assert torch.equal(pick("pitch", logits, {}), plain("pitch", logits, {}))


def test_settings_of_the_wrong_shape_are_one_line_naming_the_key() -> None:
    """``sampling.tracks.Bass=abc`` and ``tracks=3`` (generate): the key and the shape."""
    from musegen.generate import selected_tracks

    with pytest.raises(ConfigError) as info:
        Sampling.from_config({"tracks": {"Bass": "abc"}})
    assert str(info.value) == (
        "sampling.tracks.Bass must be a mapping of temperature, top_k, top_p, buckets, clash, "
        "harmony, root, on_kept, entry, cache, cache_drawn (or fields), got 'abc'"
    )
    with pytest.raises(UserError) as info:
        selected_tracks(3, ["Drums", "Piano"])
    assert str(info.value) == "tracks must be a list of track names, got 3"
    assert selected_tracks(["bass"], ["Drums", "Bass"]) == ("Bass",)  # any case


def test_a_misspelt_setting_is_one_line_at_each_level() -> None:
    """A key that is no rule (nor a field or ``tracks`` where those may stand) is named,
    with the settings there are: a misspelt rule is never dropped without a word."""
    rules = (
        "temperature, top_k, top_p, buckets, clash, harmony, root, on_kept, entry, cache, "
        "cache_drawn"
    )
    fields = ", pitch, step, duration, track, velocity"
    for node, key, more in [
        ({"temprature": 0.9}, "sampling.temprature", fields + ", tracks, accompaniment"),
        ({"pitch": {"harmonyy": 0.6}}, "sampling.pitch.harmonyy", ""),
        ({"accompaniment": {"acompaniment": {}}}, "sampling.accompaniment.acompaniment",
         fields + ", tracks"),
        ({"accompaniment": {"step": {"tempo": 1}}}, "sampling.accompaniment.step.tempo", ""),
        ({"tracks": {"Bass": {"pich": {}}}}, "sampling.tracks.Bass.pich", fields),
        ({"tracks": {"Bass": {"pitch": {"tracks": {}}}}}, "sampling.tracks.Bass.pitch.tracks", ""),
    ]:  # fmt: skip
        with pytest.raises(ConfigError) as info:
            Sampling.from_config(node)
        assert str(info.value) == f"{key}: no such sampling setting; the settings: {rules}{more}"
    ok = Sampling.from_config({"tracks": {"Bass": {"top_k": 3, "pitch": {"root": 0.5}}}})
    assert ok.track_fields == (("Bass", "pitch", (("root", 0.5),)),)


def test_an_accompaniment_draws_with_its_own_settings_over_the_rest() -> None:
    """``accompaniment`` sets what it names over the rest, node by node; a continuation
    draws with the rest alone; ``null`` there keeps the rest's value."""
    node = {
        "pitch": {"temperature": 0.4, "harmony": 0.6},
        "step": {"temperature": 0.5},
        "tracks": {"Bass": {"pitch": {"root": 0.45}}},
        "accompaniment": {"step": {"temperature": 1.0}, "pitch": {"temperature": None}},
    }
    rules = Sampling.from_config(node)
    assert rules.rule("step").temperature == 0.5 and rules.rule("pitch").temperature == 0.4
    accompaniment = rules.for_accompaniment()
    assert accompaniment.rule("step").temperature == 1.0
    assert accompaniment.rule("pitch").temperature == 0.4  # null: kept
    assert accompaniment.rule("pitch").harmony == 0.6
    assert accompaniment.rule("pitch", "Bass").root == 0.45
    assert accompaniment.for_accompaniment() is accompaniment
    plain = Sampling.from_config({"step": {"temperature": 0.5}})
    assert plain.for_accompaniment() is plain
    assert rules.to_dict()["accompaniment"]["step"]["temperature"] == 1.0
    assert "accompaniment" not in plain.to_dict()
    only = Sampling.from_config({"accompaniment": {"tracks": {"Drums": {"temperature": 2.0}}}})
    assert only.for_accompaniment().rule("pitch", "Drums").temperature == 2.0  # a new node
    assert only.rule("pitch", "Drums").temperature == 1.0
    with pytest.raises(ConfigError, match=r"^sampling\.accompaniment\.step\.temperature must"):
        Sampling.from_config({"accompaniment": {"step": {"temperature": 0}}})


def test_an_accompaniment_uses_its_own_settings() -> None:
    """The same network, kept notes and seed: an accompaniment whose own step temperature is
    1000 draws other notes than one at the rest's 0.5; one whose own settings repeat the
    rest's draws the same."""
    _, kept, _ = split_piece(_song(), [1], 0, 96, max_bars=3)
    net = _net("gru", "chained")
    rest = {"step": {"temperature": 0.5}}
    pieces = []
    for own in (None, {"step": {"temperature": 1000.0}}, {"step": {"temperature": 0.5}}):
        node = rest if own is None else {**rest, "accompaniment": own}
        options = DecodeOptions(Sampling.from_config(node), seed=3, tracks=("Drums", "Bass"))
        pieces.append(accompany(net, np.zeros(0, kept.dtype), kept, list(range(5)), options))
    assert np.array_equal(pieces[0], pieces[2])
    assert not np.array_equal(pieces[0], pieces[1])


def test_evaluation_settings_are_checked_before_any_work() -> None:
    """A context of 1 or a word, and a single song (real vs real compares two)."""
    from musegen.evaluation.report import EvaluationSettings

    for bad, message in [
        (
            {"max_songs": 1},
            "max_songs must be an integer >= 2 (real songs are compared with each other), got 1",
        ),
        ({"context": 1}, "context must be trained, null or an integer >= 2, got 1"),
        ({"context": "abc"}, "context must be trained, null or an integer >= 2, got 'abc'"),
    ]:
        with pytest.raises(ConfigError) as info:
            EvaluationSettings(**bad)
        assert str(info.value) == message


def test_top_k_top_p_and_temperature_row_by_row_by_hand() -> None:
    """Two rows with different orders: top-k keeps each row's k largest (a tie with the k-th
    stays), top-p each row's smallest set reaching p, the temperature divides the logits."""
    from musegen.generation.sampling import filter_logits, is_plain

    logits = torch.log(torch.tensor([[0.1, 0.4, 0.2, 0.3], [0.45, 0.05, 0.25, 0.25]]))
    kept = torch.isfinite(filter_logits(logits, Sampling(top_k=2)))
    assert kept.tolist() == [[False, True, False, True], [True, False, True, True]]  # a tie
    kept = torch.isfinite(filter_logits(logits, Sampling(top_k=1)))
    assert kept.tolist() == [[False, True, False, False], [True, False, False, False]]
    out = filter_logits(logits, Sampling(top_k=2))
    assert torch.isneginf(out[0, 0]) and out[0, 1] == logits[0, 1]  # kept values unchanged
    kept = torch.isfinite(filter_logits(logits, Sampling(top_p=0.65)))
    # row 1: 0.4, then 0.3 reaches 0.7; row 2: 0.45, then a 0.25 reaches 0.70
    assert kept.sum(1).tolist() == [2, 2] and kept[0].tolist() == [False, True, False, True]
    assert kept[1, 0] and not kept[1, 1]
    assert torch.isfinite(filter_logits(logits, Sampling(top_p=1.0))).all()
    assert torch.equal(filter_logits(logits, Sampling(top_k=4)), logits)  # k = V: off
    torch.testing.assert_close(filter_logits(logits, Sampling(temperature=0.5)), logits / 0.5)
    assert is_plain(Sampling()) and not is_plain(Sampling(top_k=3))
    assert not is_plain(Sampling(top_p=0.9)) and not is_plain(Sampling(temperature=0.9))
    # drawn: never a removed value, in either row
    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        got = sample(logits, Sampling(top_k=1), g)
        assert got.tolist() == [1, 0]
