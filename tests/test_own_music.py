"""The draw rules that follow a piece's own music (``generation.own_music``): ``entry`` (a
track that has not played yet) and ``cache`` (durations mixed with the track's own so far),
by hand on the logits, then on a real song continued by ``pretrained:lakh``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from unittest import mock

import numpy as np
import pytest
import torch

import musegen.generation.sampling as sampling_module
from musegen import pretrained
from musegen.checks import ConfigError
from musegen.data.midi_to_lpd import midi_to_song
from musegen.data.pianoroll_notes import song_to_notes
from musegen.generation.accompany import accompany
from musegen.generation.continuation import DecodeOptions, continue_primers
from musegen.generation.decode import start_notes
from musegen.generation.own_music import OwnMusic
from musegen.generation.sampling import Picker, Sampling
from musegen.models.checkpoint import load_network
from tests.conftest import LMD_MIDI, need
from tests.test_accompany import _regression_net

TRACKS = ["Drums", "Piano", "Guitar", "Bass", "Strings"]
QUARTER = 4  # the hand-made duration classes: a class per quarter beat, 8 of them


def _encode(beats: torch.Tensor) -> torch.Tensor:
    return torch.round(beats * QUARTER).long().clamp(0, 7)


def _notes(track: list[int], duration: list[float]) -> dict[str, torch.Tensor]:
    """One piece, ``(1, n)``: the tracks and durations given, pitch 60."""
    n = len(track)
    return {
        "pitch": torch.full((1, n), 60),
        "track": torch.tensor([track]),
        "duration": torch.tensor([duration]),
        "time": torch.arange(n)[None, :],
    }


def _seen(pick: Picker, field: str, logits: torch.Tensor, drawn: Mapping) -> torch.Tensor:
    """The logits the picker hands to ``sample`` for ``field``."""
    seen: list[torch.Tensor] = []

    def keep(logits: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        seen.append(logits)
        return torch.zeros(logits.shape[0], dtype=torch.int64)

    with mock.patch.object(sampling_module, "sample", keep):
        pick(field, logits, drawn)
    return seen[0]


def test_the_counts_of_a_primer_and_of_each_placed_note_by_hand() -> None:
    """Piano (1) plays 0.5, 0.5 and 1 beat and Bass (3) 2 beats: the tracks heard, the
    classes counted per track; a note placed later adds one. The start note of a piece
    from scratch (pitch 0, duration 0) counts for nothing; a placed note of duration 0 (a
    regressed draw, written one step long) and a primer note of duration 0 on a real key
    count."""
    own = OwnMusic(5, _encode, 8)
    own.start(_notes([1, 1, 3, 1], [0.5, 0.5, 2.0, 1.0]))
    assert own.notes.tolist() == [[0, 3, 0, 1, 0]]
    assert own.absent().tolist() == [[True, False, True, False, True]]
    assert own.durations(torch.tensor([1])).tolist() == [[0, 0, 2, 0, 1, 0, 0, 0]]
    assert own.durations(torch.tensor([3])).tolist() == [[0, 0, 0, 0, 0, 0, 0, 1]]
    own.played({k: v[:, 0] for k, v in _notes([2], [0.25]).items()})
    assert own.absent().tolist() == [[True, False, False, False, True]]
    assert own.durations(torch.tensor([2])).tolist() == [[0, 1, 0, 0, 0, 0, 0, 0]]
    scratch = OwnMusic(5, _encode, 8)
    scratch.start(start_notes(2))  # track 0, duration 0
    assert scratch.absent().all() and scratch.counts.sum() == 0
    scratch.played({k: v[:, 0].expand(2) for k, v in _notes([4], [0.0]).items()})
    assert scratch.notes.tolist() == [[0, 0, 0, 0, 1]] * 2
    short = OwnMusic(5, _encode, 8)
    short.start(_notes([2], [0.0]))  # pitch 60: a real note, however short
    assert short.notes.tolist() == [[0, 0, 1, 0, 0]]


def test_the_counter_of_each_shipped_network_and_of_a_regressed_one() -> None:
    """Five tracks (Lakh) or one (POP909), and the network's own duration classes: a
    Piano note of one beat is counted in the class ``tables.encode`` gives it. Durations
    regressed (no classes): tracks counted, durations not."""
    lakh = load_network(pretrained.resolve("pretrained:lakh")).eval()
    pop = load_network(pretrained.resolve("pretrained:pop909")).eval()
    own = OwnMusic.of(lakh)
    assert (own.n_tracks, own.n_classes) == (5, lakh.tables.size("duration")) == (5, 396)
    own.start(_notes([1], [1.0]))
    one_beat = int(lakh.tables.encode("duration", torch.tensor([1.0]))[0])
    expected = torch.zeros(1, 396)
    expected[0, one_beat] = 1
    assert torch.equal(own.durations(torch.tensor([1])), expected)
    assert OwnMusic.of(pop).n_tracks == 1
    regressed = OwnMusic.of(_regression_net())
    assert regressed.encode is None and regressed.n_tracks == 5
    regressed.start(_notes([3], [1.0]))
    assert regressed.counts is None and regressed.absent().tolist() == [[True] * 3 + [False, True]]


def test_entry_weighs_only_the_tracks_not_heard_yet() -> None:
    """``entry=0.1`` after a primer on Piano and Bass: log(0.1) added to the logits of Drums,
    Guitar and Strings, nothing to Piano and Bass; once Guitar plays, Guitar is free. Before
    any note (from scratch) every track is weighed alike: the draw is the network's."""
    own = OwnMusic(5, _encode, 8)
    pick = Picker(
        Sampling.from_config({"track": {"entry": 0.1}}), torch.Generator(), TRACKS, own=own
    )
    pick.start(_notes([1, 3], [1.0, 1.0]))
    low = math.log(0.1)
    out = _seen(pick, "track", torch.zeros(1, 5), {})
    assert torch.allclose(out, torch.tensor([[low, 0.0, low, 0.0, low]]))
    pick.played({k: v[:, 0] for k, v in _notes([2], [1.0]).items()})
    out = _seen(pick, "track", torch.zeros(1, 5), {})
    assert torch.allclose(out, torch.tensor([[low, 0.0, 0.0, 0.0, low]]))
    pick.start(start_notes(1))
    out = _seen(pick, "track", torch.zeros(1, 5), {})
    probs = out.softmax(-1)
    assert torch.allclose(probs, torch.full((1, 5), 0.2))
    never = Picker(
        Sampling.from_config({"track": {"entry": 0.0}}), torch.Generator(), TRACKS, own=own
    )
    never.start(start_notes(1))  # every track absent: left as the network has it
    assert torch.equal(_seen(never, "track", torch.zeros(1, 5), {}), torch.zeros(1, 5))


def test_an_accompaniment_draws_its_tracks_without_entry() -> None:
    """With kept tracks (``given``) the drawn tracks are the user's choice: Drums and Bass
    silent beside a kept Piano are not held back (else the kept music would come sooner)."""
    rules = Sampling.from_config({"track": {"entry": 0.1}})
    own = OwnMusic(5, _encode, 8)
    pick = Picker(rules, torch.Generator(), TRACKS, ["Drums", "Bass"], given=["Piano"], own=own)
    assert pick.own is None  # no rule reads it
    pick.start(_notes([1], [1.0]))
    pick.wait(torch.tensor([True]))
    out = _seen(pick, "track", torch.zeros(1, 5), {})
    inf = float("-inf")
    assert torch.equal(out, torch.tensor([[0.0, 0.0, inf, 0.0, inf]]))


def test_cache_mixes_the_network_with_the_tracks_own_durations_by_hand() -> None:
    """Piano played 0.5 beat twice and 1 beat once: q = 2/3 on class 2, 1/3 on class 4.
    The network says 1/8 for every class; at ``cache=0.6`` the duration's probabilities are
    0.4/8 + 0.6 q. Guitar played one note of 2 beats: q all on class 7. Bass sets its own 0
    (left alone); a track with no notes yet keeps p; a drum note never mixes."""
    rules = Sampling.from_config(
        {"duration": {"cache": 0.6}, "tracks": {"Bass": {"duration": {"cache": 0.0}}}}
    )
    own = OwnMusic(5, _encode, 8)
    pick = Picker(rules, torch.Generator(), TRACKS, own=own)
    primer = _notes([1, 1, 1, 3, 0, 0, 2], [0.5, 0.5, 1.0, 1.0, 0.25, 0.25, 2.0])
    pick.start({k: v.expand(5, -1) for k, v in primer.items()})  # five pieces alike
    flat = torch.zeros(5, 8)
    out = _seen(pick, "duration", flat, {"track": torch.tensor([1, 3, 2, 0, 4])})
    piano = torch.full((8,), 0.4 / 8)
    piano[2] += 0.6 * 2 / 3
    piano[4] += 0.6 * 1 / 3
    assert torch.allclose(out[0].exp(), piano)
    guitar = torch.full((8,), 0.4 / 8)
    guitar[7] += 0.6
    assert torch.allclose(out[2].exp(), guitar)
    for row in (1, 3, 4):  # Bass at 0, the drums, Strings silent
        assert torch.allclose(out[row].exp(), torch.full((8,), 1 / 8))


def test_the_cache_reaches_every_track_of_a_model_without_track_names() -> None:
    """A picker given no track names (a model stored without them) still mixes the
    durations of a note on the counter's fifth track with that track's own."""
    own = OwnMusic(5, _encode, 8)
    pick = Picker(Sampling(cache=1.0), torch.Generator(), own=own)
    pick.start(_notes([4], [2.0]))
    out = _seen(pick, "duration", torch.zeros(1, 8), {"track": torch.tensor([4])})
    assert torch.equal(out.exp(), torch.tensor([[0.0] * 7 + [1.0]]))


def test_the_rules_are_counted_only_where_used_and_checked_by_name() -> None:
    """No rule set: the picker keeps no counts (the draw costs nothing more). Out of range,
    or ``entry`` as a track's own setting (it weighs every silent track alike): one line
    naming the setting."""
    own = OwnMusic(5, _encode, 8)
    assert Picker(Sampling(), torch.Generator(), TRACKS, own=own).own is None
    assert Picker(Sampling(entry=0.5), torch.Generator(), TRACKS, own=own).own is own
    assert Picker(Sampling(cache=0.5), torch.Generator(), TRACKS, own=own).own is own
    drums_only = Sampling.from_config({"tracks": {"Drums": {"duration": {"cache": 0.5}}}})
    assert Picker(drums_only, torch.Generator(), TRACKS, own=own).own is None
    with pytest.raises(ConfigError, match=r"sampling\.track\.entry must be a number in \[0, 1\]"):
        Sampling.from_config({"track": {"entry": 1.5}})
    with pytest.raises(
        ConfigError, match=r"sampling\.duration\.cache must be a number in \[0, 1\]"
    ):
        Sampling.from_config({"duration": {"cache": -0.1}})
    fix = "entry weighs every silent track alike; set sampling.track.entry"
    with pytest.raises(ConfigError) as info:
        Sampling.from_config({"tracks": {"bass": {"entry": 0.0}}})
    assert str(info.value) == f"sampling.tracks.bass.entry: {fix}"
    with pytest.raises(ConfigError) as info:
        Sampling.from_config({"tracks": {"Strings": {"track": {"entry": 0.5}}}})
    assert str(info.value) == f"sampling.tracks.Strings.track.entry: {fix}"


@pytest.fixture(scope="module")
def lakh() -> tuple[torch.nn.Module, np.ndarray]:
    """``pretrained:lakh`` and the first 40 notes of a real Lakh song (Piano and Drums)."""
    files = sorted(need(LMD_MIDI).glob("*.mid"))
    song = song_to_notes(midi_to_song(files[1]))
    return load_network(pretrained.resolve("pretrained:lakh")).eval(), song[:40]


def test_a_real_continuation_without_entry_plays_only_the_primers_tracks(lakh) -> None:
    """``entry=0``: no track the primer does not play ever enters; at 1, the same song and
    seed brings one in (the network's habit that the rule is for)."""
    net, primer = lakh
    heard = set(np.unique(primer["track"]).tolist())
    options = DecodeOptions(seed=0, sampling=Sampling.from_config({"track": {"entry": 0.0}}))
    out = continue_primers(net, [primer], 120, list(range(5)), options)[0]
    assert set(np.unique(out["track"]).tolist()) <= heard
    plain = continue_primers(net, [primer], 120, list(range(5)), DecodeOptions(seed=0))[0]
    assert set(np.unique(plain["track"]).tolist()) - heard


@pytest.mark.parametrize("name", ["lakh", "pop909"])
def test_a_real_continuation_with_a_full_cache_plays_only_durations_heard(lakh, name) -> None:
    """``cache=1``: every pitched note's duration is one its track played before it in the
    piece, primer included (checked note by note against the piece so far): five tracks
    (the track drawn first), and one (``pretrained:pop909``: its heads draw no track) on
    the song's Piano."""
    net, primer = lakh
    track_ids = list(range(5))
    if name == "pop909":
        net = load_network(pretrained.resolve("pretrained:pop909")).eval()
        primer, track_ids = primer[primer["track"] == 1], [1]
    options = DecodeOptions(seed=0, sampling=Sampling.from_config({"duration": {"cache": 1.0}}))
    out = continue_primers(net, [primer], 120, track_ids, options)[0]
    piece = np.concatenate([primer, out])
    steps = np.round(piece["duration"] * 24).astype(int)
    for i in range(len(primer), len(piece)):
        track = piece["track"][i]
        before = steps[:i][piece["track"][:i] == track]
        if track != 0 and before.size:
            assert steps[i] in before, (i, track, steps[i])


def test_a_drawn_note_counts_at_cache_drawn_and_a_kept_one_at_one_by_hand() -> None:
    """Piano (1) played 0.5 beat in the primer. At ``cache_drawn=0`` a drawn Piano note of
    1 beat still makes the Piano heard (one more note) but leaves q at the primer's 0.5
    (class 2); a kept note fed in a drawn one's place (an accompaniment's) counts 1; the
    Bass's own 0.5 counts its drawn 2 beats at a half."""
    rules = Sampling.from_config(
        {
            "duration": {"cache": 1.0, "cache_drawn": 0.0},
            "tracks": {"Bass": {"duration": {"cache_drawn": 0.5}}},
        }
    )
    own = OwnMusic(5, _encode, 8)
    pick = Picker(rules, torch.Generator(), TRACKS, own=own)
    pick.start({k: v.expand(2, -1) for k, v in _notes([1, 3], [0.5, 1.0]).items()})
    note = {k: v[:, 0].expand(2) for k, v in _notes([1], [1.0]).items()}
    pick.played(note)
    assert own.notes.tolist() == [[0, 2, 0, 1, 0]] * 2
    assert own.durations(torch.tensor([1, 1])).tolist() == [[0, 0, 1, 0, 0, 0, 0, 0]] * 2
    pick.played(note, fed=torch.tensor([True, False]))  # row 0's note is a kept one
    assert own.durations(torch.tensor([1, 1])).tolist() == [
        [0, 0, 1, 0, 1, 0, 0, 0],
        [0, 0, 1, 0, 0, 0, 0, 0],
    ]
    pick.played({k: v[:, 0].expand(2) for k, v in _notes([3], [2.0]).items()})
    assert own.durations(torch.tensor([3, 3])).tolist() == [[0, 0, 0, 0, 1, 0, 0, 0.5]] * 2
    out = _seen(pick, "duration", torch.zeros(2, 8), {"track": torch.tensor([1, 3])})
    assert torch.allclose(out[1].exp(), torch.tensor([0, 0, 0, 0, 2 / 3, 0, 0, 1 / 3]))
    with pytest.raises(
        ConfigError,
        match=r"sampling\.duration\.cache_drawn must be a number in \[0, 1\] \(1: every note",
    ):
        Sampling.from_config({"duration": {"cache_drawn": 2}})


def test_a_real_continuation_with_a_cache_of_the_primer_plays_only_its_durations(lakh) -> None:
    """``cache=1, cache_drawn=0``: every pitched note on a track the primer plays takes a
    duration the primer's notes of that track take, and the counter's durations stay the
    primer's alone while every drawn note is counted as heard; at ``cache_drawn=1`` (and
    ``cache=0.5``, so that the drawn durations are not the primer's by construction) every
    drawn note's duration is counted too."""
    net, primer = lakh
    steps = np.round(primer["duration"] * 24).astype(int)

    def continued(cache: float, drawn_weight: float) -> tuple[np.ndarray, OwnMusic]:
        own = OwnMusic.of(net)
        rules = {"duration": {"cache": cache, "cache_drawn": drawn_weight}}
        options = DecodeOptions(seed=0, sampling=Sampling.from_config(rules))
        with mock.patch.object(OwnMusic, "of", return_value=own):
            out = continue_primers(net, [primer], 120, list(range(5)), options)[0]
        return out, own

    out, own = continued(1.0, 0.0)
    assert own.notes.sum() == len(primer) + len(out) and own.counts.sum() == len(primer)
    pitched = out[(out["track"] != 0) & np.isin(out["track"], primer["track"])]
    assert len(pitched) > 20
    for duration, track in zip(pitched["duration"], pitched["track"], strict=True):
        assert round(duration * 24) in steps[primer["track"] == track], (track, duration)
    out, own = continued(0.5, 1.0)
    assert own.counts.sum() == own.notes.sum() == len(primer) + len(out)


def test_an_accompaniments_kept_notes_count_in_the_cache_at_one(lakh) -> None:
    """In an accompaniment at ``cache_drawn=0`` the kept notes the decoder feeds count in
    the cache as the primer's do and the drawn ones not: the counter's durations are the
    primer's and the kept notes', its notes every one placed."""
    net, song = lakh
    primer, later = song[:10], song[10:40]
    kept = later[later["track"] == 1]  # the song's Piano, kept
    assert len(kept) > 5
    own = OwnMusic.of(net)
    rules = Sampling.from_config({"duration": {"cache": 0.5, "cache_drawn": 0.0}})
    options = DecodeOptions(seed=0, sampling=rules, tracks=("Drums", "Bass"))
    with mock.patch.object(OwnMusic, "of", return_value=own):
        piece = accompany(net, primer, kept, list(range(5)), options)
    assert own.counts.sum() == len(primer) + len(kept)
    bass = 3
    assert not (primer["track"] == bass).any() and (piece["track"] == bass).any()
    assert own.notes[0, bass] > 0 and own.durations(torch.tensor([bass])).sum() == 0
