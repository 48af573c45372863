"""The accompaniment's draw rules (``harmony``, ``root``, ``on_kept``): the kept music's
timelines by hand, the penalties row by row, and whole accompaniments of a real Lakh song
whose drawn notes the rules put on the kept harmony, root and onsets."""

from __future__ import annotations

import importlib.util
import json
import math

import numpy as np
import pytest
import torch

from musegen.generation.accompany import accompany, split_piece
from musegen.generation.continuation import DecodeOptions
from musegen.generation.kept_music import NONE, KeptMusic
from musegen.generation.sampling import Picker, Sampling
from musegen.metrics.accompaniment import figures
from tests.conftest import ROOT
from tests.test_accompany import FIELDS, TRACKS, _net, _song

RES = 4  # time steps a beat


def _kept() -> dict[str, torch.Tensor]:
    """Two pieces, track 0 the drums. Piece 0: C4 (steps 0-3), a drum hit at 0, E4 (4-7),
    G4 (8-9). Piece 1: D4 (2-3), D3 on track 2 (3-6), then two notes at 50."""
    return {
        "time": torch.tensor([[0, 0, 4, 8], [2, 3, 50, 50]]),
        "duration": torch.tensor([[1.0, 0.25, 1.0, 0.5], [0.5, 1.0, 0.25, 0.25]]),
        "pitch": torch.tensor([[60, 36, 64, 67], [62, 50, 40, 41]]),
        "track": torch.tensor([[1, 0, 2, 1], [1, 2, 1, 1]]),
    }


def _music(bar: int | None = None) -> KeptMusic:
    return KeptMusic(_kept(), RES, 0, torch.arange(10), bar)


def test_the_timelines_by_hand() -> None:
    music = _music()
    assert music.span == 52  # the last note ends at 50 + 1: one silent step after it
    assert music.onsets.nonzero().tolist() == [[0, 0], [0, 4], [0, 8], [1, 2], [1, 3], [1, 50]]
    # piece 0: C from 0 to 3, E from 4 to 7, G at 8 and 9; the drum hit sounds no class
    want = [[t, 0] for t in range(4)] + [[t, 4] for t in range(4, 8)] + [[8, 7], [9, 7]]
    assert music.classes[0].nonzero().tolist() == want
    assert music.lowest[0, :11].tolist() == [60] * 4 + [64] * 4 + [67] * 2 + [NONE]
    # piece 1: D4 at 2-3 over D3 from 3: the lowest is D3 at 3; two notes at 50, E2 lowest
    assert music.lowest[1, :8].tolist() == [NONE, NONE, 62, 50, 50, 50, 50, NONE]
    assert music.lowest[1, 50].item() == 40 and music.classes[
        1, 50
    ].nonzero().flatten().tolist() == [4, 5]


def test_what_is_off_the_kept_music_at_the_onset() -> None:
    music = _music()
    music.start({"time": torch.tensor([[0, 0], [0, 3]])})  # the primers end at 0 and 3
    harmony = music.off_harmony({})  # at the last onset (the pitch drawn before the step)
    assert harmony[0, [60, 72, 61, 64]].tolist() == [False, False, True, True]  # C sounds
    assert harmony[1, [62, 50, 38, 60]].tolist() == [False, False, False, True]  # D sounds
    root = music.off_root({})
    assert root[0, [48, 60, 64]].tolist() == [False, False, True]
    assert root[1, [38, 62, 40]].tolist() == [False, False, True]
    later = music.off_harmony({"step": torch.tensor([4, 5])})  # at 4 and 8 (step values)
    assert later[0, [64, 60]].tolist() == [False, True] and later[1].sum() == 0  # 8: silence
    music.played({"time": torch.tensor([20, 200])})  # nothing sounds; past the span
    assert music.off_harmony({}).sum() == 0 and music.off_root({}).sum() == 0


def test_onsets_off_the_kept_onsets_counted_from_the_last_note_or_the_bar_line() -> None:
    music = _music()
    music.played({"time": torch.tensor([0, 2])})
    off = music.off_onsets()  # steps 0..9 after 0 and after 2
    assert (~off[0]).nonzero().flatten().tolist() == [0, 4, 8]
    assert (~off[1]).nonzero().flatten().tolist() == [0, 1]  # 2, 3 (50 is past step 9)
    bar = _music(bar=8)  # classes from the bar line before the last note, never before it
    bar.played({"time": torch.tensor([9, 2])})
    # piece 0 after 9: line 8, onsets max(8 + v, 9): none of 9..17 is kept
    # piece 1 after 2: line 0, onsets max(v, 2): v = 0, 1, 2 reach 2, v = 3 reaches 3
    assert (~bar.off_onsets()[0]).sum() == 0
    assert (~bar.off_onsets()[1]).nonzero().flatten().tolist() == [0, 1, 2, 3]


def test_the_last_steps_of_the_span_and_a_step_counted_from_the_bar_line() -> None:
    """Piece 1's last notes start at 50 and last one step (span 52): after 45 only step 5
    lands on a kept onset, steps 6-9 (51-54) on none. Counted from the bar line (bar 8), step
    class 3 after 1 starts at 3 (line 0), where C sounds; counted from the last onset, at 4,
    where E does."""
    music = _music()
    music.played({"time": torch.tensor([0, 45])})
    assert (~music.off_onsets()[1]).nonzero().flatten().tolist() == [5]
    bar = _music(bar=8)
    bar.played({"time": torch.tensor([1, 9])})
    off = bar.off_harmony({"step": torch.tensor([3, 2])})  # piece 0 at 3, piece 1 at 10
    assert off[0, [60, 64]].tolist() == [False, True] and off[1].sum() == 0
    gap = _music()  # without the bar line: piece 0 at 4
    gap.played({"time": torch.tensor([1, 9])})
    assert gap.off_harmony({"step": torch.tensor([3, 2])})[0, [60, 64]].tolist() == [True, False]


def test_the_first_step_and_a_model_without_drums() -> None:
    """A note of one step at 0 (C4) and one at 1 (D4): at 0 only C sounds. Without a drum
    track every kept note sounds its class, the drum-less model's track 0 included."""
    kept = {
        "time": torch.tensor([[0, 1]]),
        "duration": torch.tensor([[0.25, 0.25]]),
        "pitch": torch.tensor([[60, 62]]),
        "track": torch.tensor([[0, 0]]),
    }
    music = KeptMusic(kept, RES, None, torch.arange(4))
    music.start({"time": torch.tensor([[0]])})
    assert music.off_harmony({})[0, [60, 62]].tolist() == [False, True]
    assert music.classes[0, :3].nonzero().tolist() == [[0, 0], [1, 2]]
    assert music.lowest[0, :3].tolist() == [60, 62, NONE]
    drums = KeptMusic(kept, RES, 0, torch.arange(4))  # track 0 the drums: no class sounds
    assert not drums.classes.any() and (drums.lowest == NONE).all()
    assert drums.onsets[0, :3].tolist() == [True, True, False]


def test_a_regressed_step_places_the_onset_in_beats() -> None:
    music = KeptMusic(_kept(), RES, 0, None)
    music.played({"time": torch.tensor([0, 0])})
    off = music.off_harmony({"step": torch.tensor([1.0, 0.5])})  # onsets 4 and 2
    assert off[0, [64, 60]].tolist() == [False, True] and off[1, [62, 64]].tolist() == [
        False,
        True,
    ]


def _picker(sampling: Sampling, music: KeptMusic | None = None) -> Picker:
    return Picker(sampling, torch.Generator(), TRACKS, kept=music or _music())


def test_each_rule_weighs_its_field_row_by_row_by_its_track() -> None:
    music = _music()
    music.played({"time": torch.tensor([0, 3])})
    rules = Sampling(harmony=0.5, tracks=(("Bass", (("root", 0.25),)),))
    pick = _picker(rules, music)
    logits = torch.zeros(2, 128)
    # piece 0 a Bass note (track 3), piece 1 a Piano note (track 1)
    out = pick._by_kept_music("pitch", logits, {"track": torch.tensor([3, 1])})
    half, quarter = math.log(0.5), math.log(0.25)
    assert out[0, 60].item() == 0.0  # C sounds and is the lowest
    assert out[0, 64].item() == pytest.approx(half + quarter)  # off both
    assert out[1, 62].item() == 0.0 and out[1, 63].item() == pytest.approx(half)  # no root rule
    drums = pick._by_kept_music("pitch", logits, {"track": torch.tensor([0, 0])})
    assert torch.equal(drums, logits)  # a drum's key names an instrument
    step = _picker(Sampling(on_kept=0.1), music)
    got = step._by_kept_music("step", torch.zeros(2, 10), {"track": torch.tensor([0, 3])})
    want = torch.full((2, 10), math.log(0.1))
    want[0, [0, 4, 8]] = 0.0  # after 0: onsets 0, 4, 8
    want[1, [0]] = 0.0  # after 3: onset 3
    assert torch.allclose(got, want)  # the drums' onsets too


def test_the_rules_are_off_at_one_without_kept_music_and_guard_an_empty_row() -> None:
    assert _picker(Sampling())._log_kept == {}
    assert Picker(Sampling(harmony=0.5), torch.Generator(), TRACKS)._log_kept == {}
    only_step = _picker(Sampling(fields=(("step", (("on_kept", 0.5),)),)))
    assert list(only_step._log_kept) == ["on_kept"]
    regressed = _picker(Sampling(harmony=0.5, on_kept=0.5), KeptMusic(_kept(), RES, 0, None))
    assert list(regressed._log_kept) == ["harmony"]  # no step classes to weigh
    music = _music()
    music.played({"time": torch.tensor([0, 0])})
    forbid = _picker(Sampling(harmony=0.0), music)
    logits = torch.full((2, 128), float("-inf"))
    logits[:, 61] = 0.0  # only C#: off the harmony in piece 0, nothing sounds in piece 1
    out = forbid._by_kept_music("pitch", logits, {"track": torch.tensor([1, 1])})
    assert torch.equal(out, logits)  # not a row of -inf


def test_the_decoder_reports_each_note_to_the_kept_music() -> None:
    music = _music()
    pick = _picker(Sampling(harmony=0.5), music)
    pick.start({"time": torch.tensor([[0, 5], [0, 7]])})
    assert music.last.tolist() == [5, 7]
    pick.played({"time": torch.tensor([6, 9])})
    assert music.last.tolist() == [6, 9]


@pytest.mark.parametrize("heads", ["chained", "independent"])
def test_at_zero_every_drawn_note_is_on_the_kept_onsets_harmony_and_root(heads: str) -> None:
    """A real song's Piano kept over 6 bars; Drums, Bass and Strings drawn by an untrained
    network. With the three rules at 0 every drawn onset is a kept onset, every drawn pitched
    note's class sounds there and every bass note is on the lowest kept note's class; with
    them off (1) the same network, seed and song are not."""
    song = _song()
    primer, kept, _ = split_piece(song, [1], 0, 96, max_bars=6)
    got = {}
    for factor in (1.0, 0.0):
        rules = Sampling(harmony=factor, on_kept=factor, tracks=(("Bass", (("root", factor),)),))
        options = DecodeOptions(seed=1, tracks=("Drums", "Bass", "Strings"), sampling=rules)
        piece = accompany(_net("lstm_gru", heads), primer, kept, list(range(5)), options)
        body = piece[len(primer) :]
        drawn = body[body["track"] != 1]
        mine = body[body["track"] == 1]
        assert all(np.array_equal(mine[f], kept[f]) for f in FIELDS)  # the kept notes kept
        assert {3, 4} & set(drawn["track"].tolist())  # pitched notes were drawn
        got[factor] = figures(kept, drawn)
    ruled = got[0.0]
    assert ruled["onset_agreement"] == ruled["chord_agreement"] == ruled["bass_agreement"] == 1.0
    free = got[1.0]
    assert max(free["onset_agreement"], free["chord_agreement"], free["bass_agreement"]) < 0.5


def _report(model: dict[str, float], oa: float) -> dict:
    """An ``accompaniment.json`` with the figures ``rules.py`` reads: the model's, and real's
    at chord 0.5, onset 0.4, bass 0.6, key 0.9 (the controls the same as real)."""
    real = {"key_agreement": 0.9, "chord_agreement": 0.5, "onset_agreement": 0.4}
    real["bass_agreement"] = 0.6
    rows = {"gru": model, "real": real, "shifted a beat": real, "another song": real}
    return {
        "model": "gru",
        "bars": 16,
        "song_ids": ["a", "b"],
        "split": "val",
        "keep": ["Piano"],
        "accompaniment": ["Bass"],
        "figures": {r: {k: {"mean": v} for k, v in f.items()} for r, f in rows.items()},
        "set": {"overlap": {r: {"mean": {"oa": oa}} for r in rows}},
    }


def test_the_rules_table_chooses_the_setting_closest_to_real_by_hand(tmp_path) -> None:
    """Two seeds, two settings. h1_r1_o1: chord 0.3/0.5, onset 0.2/0.2, bass 0.2/0.4 over the
    seeds, means 0.4, 0.2, 0.3: distance 0.1 + 0.2 + 0.3 = 0.6. h0.5_r0.5_o0.5: means 0.55,
    0.4, 0.7: 0.05 + 0 + 0.1 = 0.15, chosen. Key agreement is not counted (0 and 1 here)."""
    spec = importlib.util.spec_from_file_location(
        "rules", ROOT / "experiments" / "accompaniment" / "rules.py"
    )
    rules = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rules)
    figures_of = {
        "h1_r1_o1": [(0.3, 0.2, 0.2), (0.5, 0.2, 0.4)],
        "h0.5_r0.5_o0.5": [(0.5, 0.4, 0.7), (0.6, 0.4, 0.7)],
    }
    seeds = [tmp_path / "s0", tmp_path / "s1"]
    for name, per_seed in figures_of.items():
        for seed, (chord, onset, bass) in zip(seeds, per_seed, strict=True):
            key = 0.0 if name == "h1_r1_o1" else 1.0
            model = {"key_agreement": key, "chord_agreement": chord}
            model |= {"onset_agreement": onset, "bass_agreement": bass}
            (seed / name).mkdir(parents=True)
            (seed / name / "accompaniment.json").write_text(json.dumps(_report(model, 0.8)))
    (seeds[0] / "h0.1_r1_o1").mkdir()  # run on one seed only: left out
    (seeds[0] / "h0.1_r1_o1" / "accompaniment.json").write_text(json.dumps(_report({}, 0.8)))
    text, best = rules.table(rules.collect(seeds))
    assert best == "h0.5_r0.5_o0.5"
    assert "| 1 | 1 | 1 | 0.000 | 0.400 | 0.200 | 0.300 | 0.800 | 0.600 |" in text
    chosen = "| 0.5 | 0.5 | 0.5 | 1.000 | 0.550 | 0.400 | 0.700 | 0.800 | 0.150 **(chosen)** |"
    assert chosen in text
    assert "h0.1" not in text and "0.1 |" not in text
    assert text.startswith("2 seeds; each: the first 16 bars of 2 val songs, Piano kept")


def test_every_timeline_and_answer_stays_on_the_kept_notes_device() -> None:
    """Built and asked under a default device of ``meta`` (where a tensor made without a
    device would go), the timelines and answers are the CPU's, as built without it."""
    plain = _music(bar=8)
    plain.start({"time": torch.tensor([[0, 1], [0, 2]])})
    kept, steps = _kept(), torch.arange(10)
    with torch.device("meta"):
        music = KeptMusic(kept, RES, 0, steps, 8)
        music.start({"time": torch.tensor([[0, 1], [0, 2]], device="cpu")})
        got = [
            music.off_harmony({"step": torch.tensor([3, 2], device="cpu")}),
            music.off_root({}),
            music.off_onsets(),
        ]
    want = [plain.off_harmony({"step": torch.tensor([3, 2])}), plain.off_root({})]
    want.append(plain.off_onsets())
    for name in ("onsets", "classes", "lowest", "step_values", "last"):
        assert getattr(music, name).device.type == "cpu", name
        assert torch.equal(getattr(music, name), getattr(plain, name)), name
    assert all(g.device.type == "cpu" and torch.equal(g, w) for g, w in zip(got, want, strict=True))


def test_two_tracks_each_by_its_own_factor_and_rows_without_a_track() -> None:
    """A two-track model (Piano, Bass), the Bass's harmony 0.25 and the Piano's 1: each row
    by its own track's factor; without a drawn track, every row by the first track's."""
    music = _music()
    music.played({"time": torch.tensor([0, 0])})  # piece 0: C sounds; piece 1: nothing
    rules = Sampling(tracks=(("Bass", (("harmony", 0.25),)),))
    pick = Picker(rules, torch.Generator(), ("Piano", "Bass"), kept=music)
    logits = torch.zeros(2, 128)
    out = pick._by_kept_music("pitch", logits, {"track": torch.tensor([1, 0])})
    assert out[0, 62].item() == pytest.approx(math.log(0.25)) and out[0, 60].item() == 0.0
    assert torch.equal(out[1], logits[1])  # nothing sounds in piece 1
    piano = pick._by_kept_music("pitch", logits, {"track": torch.tensor([0, 0])})
    assert torch.equal(piano, logits)  # the Piano's factor is 1
    bass_first = Picker(
        Sampling(tracks=(("Piano", (("harmony", 0.5),)),)),
        torch.Generator(),
        ("Piano", "Bass"),
        kept=music,
    )
    untracked = bass_first._by_kept_music("pitch", logits, {})
    assert untracked[0, 62].item() == pytest.approx(math.log(0.5)) and untracked[1].sum() == 0


def test_the_rules_table_reads_a_step_temperature_from_the_setting_name(tmp_path) -> None:
    """One seed. h1_r1_o1_s0.7: chord 0.5, onset 0.5, bass 0.5: distance 0 + 0.1 + 0.1 = 0.2.
    h1_r1_o1 (the run's step temperature): 0.5, 0.3, 0.6: 0 + 0.1 + 0 = 0.1, chosen."""
    spec = importlib.util.spec_from_file_location(
        "rules", ROOT / "experiments" / "accompaniment" / "rules.py"
    )
    rules = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rules)
    for name, (chord, onset, bass) in {
        "h1_r1_o1_s0.7": (0.5, 0.5, 0.5),
        "h1_r1_o1": (0.5, 0.3, 0.6),
    }.items():
        model = {"key_agreement": 0.9, "chord_agreement": chord}
        model |= {"onset_agreement": onset, "bass_agreement": bass}
        (tmp_path / "s0" / name).mkdir(parents=True)
        report = tmp_path / "s0" / name / "accompaniment.json"
        report.write_text(json.dumps(_report(model, 0.8)))
    text, best = rules.table(rules.collect([tmp_path / "s0"]))
    assert best == "h1_r1_o1"
    assert "| harmony | root (Bass) | on_kept | step temperature | key agreement |" in text
    assert "| 1 | 1 | 1 | 0.7 | 0.900 | 0.500 | 0.500 | 0.500 | 0.800 | 0.200 |" in text
    assert (
        "| 1 | 1 | 1 | run's | 0.900 | 0.500 | 0.300 | 0.600 | 0.800 | 0.100 **(chosen)** |" in text
    )
    assert "| real | | | | 0.900 | 0.500 | 0.400 | 0.600 | 0.800 | |" in text
    assert text.rstrip().endswith("Chosen: harmony 1, root 1 (Bass), on_kept 1.")


def test_the_decoding_table_means_each_variants_seeds_by_hand(tmp_path) -> None:
    """Variant a: onset 0.2 and 0.4 on its two seeds (mean 0.3), Bass share 0.1 and 0.3
    (0.2), its empty bars 0.2 and 0.4 (0.3); variant b, one seed: onset 0.5, share 0.25,
    empty bars 0.1. Real: onset 0.4, share 0.15, empty bars 0.25. Distances (chord and bass
    as real's): a 0.1 + 0.05 = 0.15, b 0.1 + 0.15 = 0.25; a is named."""
    spec = importlib.util.spec_from_file_location(
        "decoding", ROOT / "experiments" / "accompaniment" / "decoding.py"
    )
    decoding = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(decoding)
    variants = {}
    for name, seeds in {"a": [(0.2, 0.1, 0.2), (0.4, 0.3, 0.4)], "b": [(0.5, 0.25, 0.1)]}.items():
        reports = []
        for onset, share, empty in seeds:
            model = {"key_agreement": 0.9, "chord_agreement": 0.5}
            model |= {"onset_agreement": onset, "bass_agreement": 0.6}
            report = _report(model, 0.8)
            report["set"]["tracks"] = {
                "share/Bass": {"gru": {"mean": share}, "real": {"mean": 0.15}},
                "EB/Bass": {"gru": {"mean": empty}, "real": {"mean": 0.25}},
            }
            reports.append(report)
        variants[name] = reports
    text = decoding.table(variants)
    assert "| a | 2 | 0.900 | 0.500 | 0.300 | 0.600 | 0.800 | 0.200 | 0.300 | 0.150 |" in text
    assert "| b | 1 | 0.900 | 0.500 | 0.500 | 0.600 | 0.800 | 0.250 | 0.100 | 0.250 |" in text
    assert "| real | 2 | 0.900 | 0.500 | 0.400 | 0.600 | 0.800 | 0.150 | 0.250 | 0 |" in text
    assert "| decoding | seeds | key agreement |" in text and "share of Bass |" in text
    assert "empty bars of Bass | distance |" in text and "Least distance: a." in text
