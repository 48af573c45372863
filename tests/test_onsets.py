"""Where the next note starts: the onset counted from the bar line (``onset: position``), a
musical vocabulary of note values, and steps that wait for a key still sounding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from musegen.generation.continuation import DecodeOptions, continue_primers
from musegen.generation.decode import generate
from musegen.generation.sampling import Picker, Sampling
from musegen.generation.sounding import SoundingKeys
from musegen.metrics.tracks import same_pitch_overlap
from musegen.models.config import HeadsConfig, NoteNetConfig, TimingConfig
from musegen.models.losses import LossWeights, note_losses
from musegen.models.network import NoteNet
from musegen.models.objective import teacher_forcing
from musegen.models.time_classes import ClassTables, TimeClasses
from tests.test_performance import _notes

TRACKS = ("Drums", "Piano", "Guitar", "Bass", "Strings")


def _net(
    onset: str = "gap",
    vocabulary: str = "exact",
    seed: int = 0,
    order: tuple[str, ...] = ("track", "pitch", "step", "duration"),
) -> NoteNet:
    torch.manual_seed(seed)
    classes = TimeClasses(exact_beats=8, max_beats=16, vocabulary=vocabulary, onset=onset)
    config = NoteNetConfig(
        {"_target_": "musegen.models.backbones.GRUBackbone", "hidden_size": 16},
        n_tracks=5,
        track_names=TRACKS,
        encoder={"pitch_dim": 8, "track_dim": 4, "position_dim": 4},
        timing=TimingConfig("categorical", classes),
        heads=HeadsConfig("chained", order, 16),
    )
    return NoteNet(config).eval()


def test_an_onset_counted_from_the_bar_line_by_hand() -> None:
    tables = ClassTables(TimeClasses(onset="position"))
    # the previous note at step 30 of its bar (time 126 = bar 1 + 30), the next 70 later:
    # counted from that bar line, class 100; as a gap it would be class 70
    targets = {"step": torch.tensor([70 / 24]), "before": torch.tensor([126])}
    assert int(tables.classes_of("step", targets)[0]) == 100
    assert int(ClassTables(TimeClasses()).classes_of("step", targets)[0]) == 70
    placed = tables.place({"step": torch.tensor([100 / 24])}, torch.tensor([126]))
    assert float(placed["step"][0]) * 24 == pytest.approx(70)
    with pytest.raises(ValueError, match="vocabulary=exact"):
        TimeClasses(onset="position", vocabulary="musical")


def test_the_loss_scores_the_onset_class_and_the_note_nll_is_of_the_same_events() -> None:
    net = _net("position")
    batch = {k: v for k, v in _batch().items()}
    inputs, targets = teacher_forcing(batch)
    assert torch.equal(targets["before"], inputs["time"])
    pred, _ = net(inputs, targets=targets)
    losses = note_losses(pred, targets, LossWeights(), tables=net.tables)
    onset = torch.round(targets["step"] * 24).long() + targets["before"] % 96
    want = torch.nn.functional.cross_entropy(pred["step"].flatten(0, 1), onset.flatten())
    assert float(losses["step_loss"]) == pytest.approx(float(want))


def _batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(2)
    step = torch.randint(0, 40, (2, 8), generator=g)
    time = torch.cumsum(step, 1) + 17
    return {
        "pitch": torch.randint(30, 90, (2, 8), generator=g),
        "step": step / 24,
        "duration": torch.randint(1, 30, (2, 8), generator=g) / 24,
        "track": torch.randint(0, 5, (2, 8), generator=g),
        "time": time,
        "velocity": torch.full((2, 8), 90),
    }


def test_decoding_with_onset_positions_keeps_time_order_and_equals_the_window_rerun() -> None:
    net = _net("position")
    with torch.no_grad():  # a network that wants the bar line before the previous note
        net.heads.out["step"].bias.zero_()
        net.heads.out["step"].bias[0] = 8.0
    primer = {k: v[:1, :5] for k, v in _batch().items()}
    outs = []
    for mode in ("incremental", "window"):
        keys = SoundingKeys(net.tables.step_values, 24, 5, bar=96, repeats=True)
        pick = Picker(Sampling(), torch.Generator().manual_seed(4), TRACKS, keys=keys)
        outs.append(generate(net, primer, 30, pick, mode=mode, seq_len=64))
    for field in outs[0]:
        assert torch.equal(outs[0][field], outs[1][field]), field
    time = torch.cat([primer["time"][:, -1:], outs[0]["time"]], 1)
    assert (time.diff(dim=1) >= 0).all()  # never before the previous onset
    assert (outs[0]["step"] == 0).any()  # the favoured class, where the bar line allowed it


def test_the_musical_vocabulary_by_hand() -> None:
    classes = TimeClasses(vocabulary="musical")
    values = classes.values("duration")
    assert values[:9].tolist() == [1, 3, 4, 6, 8, 12, 16, 18, 24]  # ... 2/3, 3/4, 1 beat
    # 20 steps: 18 is nearer than 24; 21: a tie, to the shorter; 22: 24; 15: 16
    got = classes.decode("duration", classes.encode("duration", np.array([20, 21, 22, 15])))
    assert got.tolist() == [18, 18, 24, 16]


def _insistent(net: NoteNet, **also: tuple[int, float]) -> NoteNet:
    """Make ``net`` draw track 1, pitch 60, a step of 6 and a duration of 48 steps (class 47)
    whatever it reads, each at logit 30 against -30; ``also`` gives a field's second choice,
    ``pitch=(62, 20.0)``."""
    with torch.no_grad():
        for field, index in (("track", 1), ("pitch", 60), ("step", 6), ("duration", 47)):
            out = net.heads.out[field]
            out.weight.zero_()
            out.bias.fill_(-30.0)
            out.bias[index] = 30.0
        for field, (index, logit) in also.items():
            net.heads.out[field].bias[index] = logit
    return net


def test_no_note_restarts_a_key_still_sounding_on_its_track() -> None:
    """A network that repeats one key with long notes at short steps: with the mask every
    note waits for its key, without it 8 of 10 collide; the MIDI writer would cut them."""
    net = _insistent(_net(seed=3), step=(48, 25.0))  # a step of two beats, less likely
    primer = [_notes([(0, 60, 24, 80, 1)])]
    held = continue_primers(net, primer, 10, list(range(5)), DecodeOptions(seed=0))[0]
    free = continue_primers(
        net, primer, 10, list(range(5)), DecodeOptions(seed=0, no_repeats=False)
    )[0]
    assert np.all(np.diff(free["time"]) == 6) and same_pitch_overlap(free, 1) > 0.5
    piece = np.concatenate([primer[0], held])
    assert same_pitch_overlap(piece, 1) == 0.0
    assert np.all(held["step"] * 24 == 48)  # each waits the 48 steps of the one before


@pytest.mark.parametrize("onset", ["gap", "position"])
def test_with_the_step_drawn_first_a_sounding_key_is_skipped_and_time_does_not_wait(
    onset: str,
) -> None:
    """The same insistent network, its step drawn before its pitch: the mask moves the pitch
    off the sounding key (to the next most likely, 62) and leaves every step as drawn."""
    order = ("track", "step", "pitch", "duration")
    net = _insistent(_net(onset, seed=3, order=order), pitch=(62, 25.0))
    primer = [_notes([(0, 60, 24, 80, 1)])]  # key 60 sounds for one beat
    held = continue_primers(net, primer, 10, list(range(5)), DecodeOptions(seed=0))[0]
    piece = np.concatenate([primer[0], held])
    assert same_pitch_overlap(piece, 1) == 0.0
    step, pitch = held["step"] * 24, held["pitch"].tolist()
    assert pitch[0] == 62  # 60 sounds until step 24: the next most likely key
    if onset == "gap":  # 6 steps after the previous onset, every time: no wait
        assert np.all(step == 6)
        assert 60 not in pitch[:3] and pitch[3] == 60 and held["time"][3] == 24  # free again
        assert pitch.index(62, 1) == 8 and held["time"][8] == 54  # after its 48 steps
    else:  # the onset class is step 6 of the bar: after it, every note joins that onset
        assert step.tolist() == [6] + [0] * 9
        assert 60 not in pitch and len(set(pitch)) == 10  # no key struck twice at one onset
    free = continue_primers(
        net, primer, 10, list(range(5)), DecodeOptions(seed=0, no_repeats=False)
    )[0]
    assert np.all(free["pitch"] == 60)  # unmasked: the favoured key, over and over


def test_the_pitch_is_drawn_given_that_its_note_can_be_placed() -> None:
    """The insistent network with a second choice of pitch (62) and a long step it almost
    never takes: drawn alone, pitch 60 would win and its note wait 48 steps for its key; drawn
    given that the note can be placed, ``p(60) P(step >= 24 | 60)`` = e^-15 against p(62) =
    e^-10, so the first note takes 62 and starts 6 steps on, as the network draws steps."""
    net = _insistent(_net(seed=3), pitch=(62, 20.0), step=(48, 15.0))
    primer = [_notes([(0, 60, 24, 80, 1)])]  # key 60 sounds until step 24
    held = continue_primers(net, primer, 1, list(range(5)), DecodeOptions(seed=0))[0]
    assert held["pitch"].tolist() == [62] and (held["step"] * 24).tolist() == [6]
    with torch.no_grad():
        net.heads.out["step"].bias[48] = 25.0  # now waiting is likely enough: e^-5 > e^-10
    held = continue_primers(net, primer, 1, list(range(5)), DecodeOptions(seed=0))[0]
    assert held["pitch"].tolist() == [60] and (held["step"] * 24).tolist() == [48]


@pytest.mark.parametrize("bar", [None, 96])
def test_the_smallest_step_each_key_allows_by_hand(bar: int | None) -> None:
    """The last onset at 126 (step 30 of its bar), key 60 of track 1 sounding until 150: its
    note may start 24 steps on, a silent key's now. Counted from the bar line, both add 30."""
    keys = SoundingKeys(torch.arange(0, 400), 24, 2, bar=bar)
    keys.start(
        {
            "pitch": torch.tensor([[60, 64]]),
            "track": torch.tensor([[1, 0]]),
            "time": torch.tensor([[102, 126]]),
            "duration": torch.tensor([[2.0, 1.0]]),  # 60: 102 + 48 = 150
        }
    )
    wait = keys.waits({"track": torch.tensor([1])})
    offset = 0 if bar is None else 30
    assert int(wait[0, 60]) == 24 + offset and int(wait[0, 61]) == offset
    assert int(keys.waits({"track": torch.tensor([0])})[0, 64]) == 24 + offset  # 126 + 24
    assert SoundingKeys(torch.arange(0, 400), 24, 2, repeats=True).waits({}) is None


def test_the_keys_a_semitone_from_a_sounding_key_by_hand() -> None:
    """A primer at 24 steps a beat: Piano C4 0..48 and E4 24..30, a kick on 60 (the drums'
    keys name instruments), Bass G2 12..100; the last onset is 24."""
    keys = SoundingKeys(torch.arange(0, 97), 24, 5)
    keys.start(
        {
            "pitch": torch.tensor([[60, 60, 43, 64]]),
            "track": torch.tensor([[1, 0, 3, 1]]),
            "time": torch.tensor([[0, 0, 12, 24]]),
            "duration": torch.tensor([[2.0, 1 / 24, 100 / 24 - 0.5, 0.25]]),
        }
    )
    near = keys.clashes({}, unpitched=0)[0]  # at the last onset, 24: C4, G2, E4 sound
    assert near.nonzero().flatten().tolist() == [42, 44, 59, 61, 63, 65]
    # with the drums' keys counted as pitches, their kick at 60 until 1: silent at 24 anyway
    assert torch.equal(keys.clashes({}, unpitched=None)[0], near)
    # at a drawn onset of 36 (step class 12): E4 has ended, C4 and G2 still sound
    later = keys.clashes({"step": torch.tensor([12])}, unpitched=0)[0]
    assert later.nonzero().flatten().tolist() == [42, 44, 59, 61]
    # a drum note held past the onset counts only when the drums are not named
    keys.played({"pitch": torch.tensor([50]), "track": torch.tensor([0]),
                 "time": torch.tensor([24]), "duration": torch.tensor([4.0])})  # fmt: skip
    assert keys.clashes({}, unpitched=0)[0].nonzero().flatten().tolist() == [42, 44, 59, 61, 63, 65]
    assert keys.clashes({}, unpitched=None)[0][[49, 51]].all()


def test_the_clash_rule_scales_a_clashing_keys_probability_on_pitched_tracks_only() -> None:
    keys = SoundingKeys(torch.arange(0, 97), 24, 5)
    primer = {
        "pitch": torch.tensor([[60], [60]]),
        "track": torch.tensor([[1], [1]]),
        "time": torch.tensor([[0], [0]]),
        "duration": torch.tensor([[4.0], [4.0]]),
    }
    logits = torch.zeros(2, 128)
    drawn = {"track": torch.tensor([3, 0])}  # a bass note, a drum note

    def picked(rule: Sampling, seed: int = 0) -> Picker:
        pick = Picker(rule, torch.Generator().manual_seed(seed), TRACKS, keys=keys)
        pick.start(primer)
        return pick

    pick = picked(Sampling(fields=(("pitch", (("clash", 0.25),)),)))
    got = pick._without_clashes(logits, drawn)
    assert got[0, 59] == got[0, 61] == pytest.approx(np.log(0.25))  # B3, C#4 beside C4
    assert got[0, 60] == 0 and (got[0, :59] == 0).all() and (got[0, 62:] == 0).all()
    assert torch.equal(got[1], logits[1])  # the drum row: untouched
    # a track's own rule wins for its rows
    rule = Sampling(clash=0.5, tracks=(("Bass", (("clash", 0.0),)),))
    got = picked(rule)._without_clashes(logits, drawn)
    assert torch.isneginf(got[0, [59, 61]]).all() and torch.equal(got[1], logits[1])
    got = picked(rule)._without_clashes(logits, {"track": torch.tensor([1, 2])})
    assert torch.allclose(got[:, [59, 61]], torch.full((2, 2), float(np.log(0.5))))
    # drawn with clash 0, never beside the sounding key; 1 draws as without the rule
    draws = [picked(Sampling(clash=0.0), s)("pitch", logits, drawn)[0].item() for s in range(300)]
    assert 59 not in draws and 61 not in draws and len(set(draws)) > 60
    off = picked(Sampling(clash=1.0), 7)("pitch", logits, drawn)
    assert torch.equal(off, picked(Sampling(), 7)("pitch", logits, drawn))
    assert not picked(Sampling(clash=1.0))._clash and picked(Sampling(clash=0.9))._clash


def _held(pitches, tracks, times, durations, n_tracks=5, **kw) -> SoundingKeys:
    keys = SoundingKeys(torch.arange(0, 97), 24, n_tracks, **kw)
    primer = {
        "pitch": torch.tensor([pitches]),
        "time": torch.tensor([times]),
        "duration": torch.tensor([durations], dtype=torch.float32),
    }
    if tracks is not None:
        primer["track"] = torch.tensor([tracks])
    keys.start(primer)
    return keys


def test_the_clash_rule_without_track_names_and_its_guard() -> None:
    """Without track names (or with one track) every row takes the pitch's rule, and a held
    drum note of a named model never marks keys; with clash 0 a row whose only keys clash is
    drawn as the network says rather than from nothing."""
    logits = torch.zeros(2, 128)
    one = _held([60], None, [0], [4.0], n_tracks=1)
    got = Picker(Sampling(clash=0.5), torch.Generator(), keys=one)._without_clashes(logits, {})
    assert torch.allclose(got[:, [59, 61]], torch.full((2, 2), float(np.log(0.5))))
    five = _held([60], [1], [0], [4.0])
    drawn = {"track": torch.tensor([3, 0])}
    got = Picker(Sampling(clash=0.5), torch.Generator(), keys=five)._without_clashes(logits, drawn)
    assert torch.allclose(got[:, [59, 61]], torch.full((2, 2), float(np.log(0.5))))  # no names
    drum = _held([50, 60], [0, 1], [0, 0], [4.0, 4.0])
    named = Picker(Sampling(clash=0.5), torch.Generator(), TRACKS, keys=drum)
    got = named._without_clashes(logits, {"track": torch.tensor([1, 1])})
    assert (got[:, [49, 51]] == 0).all() and (got[:, [59, 61]] < 0).all()
    # the guard: row 0 can only play B3 or C#4, both beside the held C4
    only = torch.full((2, 128), float("-inf"))
    only[0, [59, 61]] = 0.0
    only[1, [59, 61, 70]] = 0.0
    forbid = Picker(Sampling(clash=0.0), torch.Generator(), TRACKS, keys=drum)
    got = forbid._without_clashes(only, {"track": torch.tensor([1, 1])})
    assert torch.equal(got[0], only[0])  # nothing left: as the network says
    assert torch.isfinite(got[1]).nonzero().flatten().tolist() == [70]


def test_held_keys_guards_and_bar_counted_onsets_by_hand() -> None:
    # a key held past the longest step: every step would restart it, so the longest stays
    keys = _held([60], [1], [0], [100.0])
    drawn = {"pitch": torch.tensor([60]), "track": torch.tensor([1])}
    out = keys.mask_steps(torch.zeros(1, 97), drawn)
    assert torch.isfinite(out[0]).nonzero().flatten().tolist() == [96]
    # a key with no length still sounds for one step
    short = _held([60], [1], [10], [0.0])
    assert int(short.until[0, 128 + 60]) == 11
    # every key of the Piano held (two pieces): none is masked, the Guitar's keys are
    every = SoundingKeys(torch.arange(0, 97), 24, 5)
    every.start(
        {
            "pitch": torch.arange(128).repeat(2, 1),
            "track": torch.ones(2, 128, dtype=torch.int64),
            "time": torch.zeros(2, 128, dtype=torch.int64),
            "duration": torch.full((2, 128), 8.0),
        }
    )
    step = {"step": torch.tensor([1, 1]), "track": torch.tensor([1, 1])}
    assert torch.isfinite(every.mask_pitches(torch.zeros(2, 128), step)).all()
    step["track"] = torch.tensor([1, 2])
    assert torch.isfinite(every.mask_pitches(torch.zeros(2, 128), step)).all()
    # onsets counted from the bar line before the last note (bar of 96 steps, last at 130)
    bar = _held([60], [1], [130], [20 / 24], bar=96)
    assert bar.onset(torch.tensor([40])).tolist() == [136] and bar.onset(
        torch.tensor([10])
    ).tolist() == [130]
    # the C4 sounds until 150: its steps count from 96, so the first allowed one is 54
    out = bar.mask_steps(torch.zeros(1, 97), drawn)
    assert int(torch.isfinite(out[0]).nonzero()[0]) == 54
