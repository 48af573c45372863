"""The cosine similarity made precise, and its reference rows on real music."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from musegen.data.datamodule import NoteDataModule
from musegen.data.pianoroll_notes import NOTE_DTYPE
from musegen.metrics import references as R
from musegen.metrics import similarity as S

PRIMER = 64
MAX_LEN = 256


def notes_of(pitch: list, step: list, duration: list, track: list) -> np.ndarray:
    """Hand-written notes for arithmetic: steps and durations in beats."""
    notes = np.zeros(len(pitch), dtype=NOTE_DTYPE)
    notes["pitch"], notes["step"], notes["duration"], notes["track"] = pitch, step, duration, track
    notes["velocity"] = 100
    notes["time"] = np.rint(np.cumsum(notes["step"]) * 24)
    return notes


@pytest.fixture(scope="module")
def lmd(lmd_lpd5: Path, tmp_path_factory: pytest.TempPathFactory) -> NoteDataModule:
    """The Lakh MIDI files, all five tracks, split by song (37 test songs)."""
    dm = NoteDataModule(
        source="lpd5",
        root=str(lmd_lpd5),
        data_dir=str(tmp_path_factory.mktemp("sim")),
        progress=False,
        build_workers=1,
    )
    dm.prepare_data()
    dm.setup()
    return dm


@pytest.fixture(scope="module")
def test_songs(lmd: NoteDataModule) -> list[np.ndarray]:
    split = lmd.splits["test"]
    return [split.song(i) for i in range(split.n_songs)]


def test_histograms_by_hand() -> None:
    notes = notes_of(
        pitch=[60, 64, 67, 72, 36],
        step=[0, 0.5, 1 / 12, 1, 0],
        duration=[1, 1 / 24, 0.75, 8, 1 / 24],
        track=[1, 1, 3, 4, 0],  # the last one is a drum: out of the pitch features
    )
    pitch = S.pitch_vector(notes)
    assert pitch.shape == (128,) and pitch.sum() == pytest.approx(1.0)
    assert pitch[[60, 64, 67, 72]].tolist() == [0.25] * 4 and pitch[36] == 0
    pc = S.pitch_class_vector(notes)
    assert pc.shape == (12,) and pc[[0, 4, 7]].tolist() == [0.5, 0.25, 0.25]
    # steps 0, 1/2, 1/12 (float32), 1, 0 -> bins 0, 7, 2, 10, 0
    step = S.step_histogram(notes)
    assert step.shape == (16,) and np.flatnonzero(step).tolist() == [0, 2, 7, 10]
    assert step[0] == 0.4
    # durations 1, 1/24, 3/4, 8, 1/24 -> bins 10, 1, 9, 15, 1
    dur = S.duration_histogram(notes)
    assert dict(zip(np.flatnonzero(dur).tolist(), dur[dur > 0].tolist(), strict=True)) == {
        1: 0.4,
        9: 0.2,
        10: 0.2,
        15: 0.2,
    }


def test_every_edge_opens_its_own_bin_even_in_float32() -> None:
    edges_beats = (S.TIME_EDGES[:-1] / 24).astype(np.float32)
    assert S.time_bins(edges_beats).tolist() == list(range(16))
    assert S.time_bins(np.array([1e6, 1 / 48 - 1e-4])).tolist() == [15, 0]  # huge; < half step


def test_cosine_by_hand() -> None:
    assert S.cosine(np.array([1.0, 0.0]), np.array([1.0, 1.0])) == pytest.approx(1 / math.sqrt(2))
    assert S.cosine(np.array([3.0, 4.0]), np.array([6.0, 8.0])) == pytest.approx(1.0)
    assert math.isnan(S.cosine(np.zeros(3), np.ones(3)))
    assert math.isnan(S.cosine(np.full(3, np.nan), np.ones(3)))
    with pytest.raises(ValueError, match="shapes differ"):
        S.cosine(np.ones(2), np.ones(3))
    a = notes_of([60, 60], [0, 1], [1, 1], [1, 1])
    b = notes_of([60, 64], [0, 1], [1, 1], [1, 1])
    sim = S.similarity(a, b)
    assert sim["pitch"] == pytest.approx(1 / math.sqrt(2))  # (1, 0) vs (1/2, 1/2)
    assert sim["step"] == pytest.approx(1.0) and sim["duration"] == pytest.approx(1.0)
    drums = notes_of([36, 38], [0, 1], [1, 1], [0, 0])
    assert math.isnan(S.similarity(drums, b)["pitch"])  # nothing pitched to compare
    assert math.isnan(S.similarity(b[:0], b)["step"])


def test_transposition_invariant_pitch_class_sees_a_transposed_song() -> None:
    """A C major histogram against the same one a tritone up: the key-bound cosine sees
    two unrelated songs (0.04), the transposition-invariant one the same song (1); a flat
    histogram scores 0.68 both ways, now below any transposition of real music."""
    c_major = np.array([6, 0, 3, 0, 4, 2, 0, 5, 0, 2, 0, 1], dtype=np.float64)
    up = np.roll(c_major, 6)
    assert S.cosine(c_major, up) == pytest.approx(0.0421, abs=1e-4)
    assert S.transposed_cosine(c_major, up) == pytest.approx(1.0)
    flat = np.ones(12)
    assert S.transposed_cosine(flat, c_major) == pytest.approx(0.6812, abs=1e-4)
    assert S.transposed_cosine(flat, c_major) == pytest.approx(S.cosine(flat, c_major))


def test_a_song_is_similar_to_itself(test_songs: list[np.ndarray]) -> None:
    for song in test_songs:
        sim = S.similarity(song, song)
        if not (song["track"] != 0).any():  # drums only: no pitch to compare
            pitch_features = [sim.pop(k) for k in ("pitch", "pitch_class", "pitch_class_ti")]
            assert all(math.isnan(v) for v in pitch_features)
        for value in sim.values():
            assert value == pytest.approx(1.0)

    def oracle(primer: np.ndarray, n: int, index: int) -> np.ndarray:
        return test_songs[index][PRIMER : PRIMER + n]

    result = S.continuation_similarity(test_songs, oracle, PRIMER, MAX_LEN)
    for name in S.FEATURES:
        assert result.mean[name] == pytest.approx(1.0)
        assert result.std[name] == pytest.approx(0.0, abs=1e-9)
        assert result.n[name] > 0.9 * len(test_songs)


def test_continuation_similarity_bookkeeping() -> None:
    songs = [
        notes_of([60 + i % 5] * k, [0.5] * k, [1] * k, [1] * k) for i, k in enumerate([3, 10, 7])
    ]
    calls = []

    def generate(primer: np.ndarray, n: int, index: int) -> np.ndarray:
        calls.append((len(primer), n, index))
        return songs[1][:n]

    result = S.continuation_similarity(songs, generate, primer_len=4, max_len=5)
    assert calls == [(4, 5, 1), (4, 3, 2)]  # song 0 (3 notes) cannot be split: skipped
    assert result.song_index.tolist() == [1, 2] and result.n_skipped == 1
    assert result.per_song["pitch"].tolist() == [1.0, 0.0]  # pitch 61 vs 61; 61 vs 62
    assert result.mean["pitch"] == 0.5 and result.std["pitch"] == 0.5
    assert result.summary()["pitch"] == "0.500 ± 0.500"
    with pytest.raises(ValueError, match="primer_len"):
        S.continuation_similarity(songs, generate, primer_len=0)


def test_reference_rows_are_ordered_on_real_music(
    lmd: NoteDataModule, test_songs: list[np.ndarray]
) -> None:
    rows = R.reference_rows(
        test_songs, lmd.splits["train"].columns, lmd.track_ids, PRIMER, MAX_LEN, seed=0
    )
    assert list(rows) == list(R.REFERENCE_ROWS)
    real, uniform = rows["real vs real"], rows["uniform random"]
    # Two real songs share pitch range, rhythm and note lengths that random notes lack.
    # (Not pitch class: a flat pitch-class histogram has a cosine of ~0.65 with any tonal
    # one, above two songs in different keys, so that feature cannot separate them.)
    for name in ("pitch", "step", "duration"):
        assert real.mean[name] > uniform.mean[name] + 0.1, name
    # a sampler that knows the training statistics beats one that knows nothing
    for name in ("pitch", "step", "duration"):
        assert rows["unigram"].mean[name] > uniform.mean[name], name
    again = R.reference_rows(
        test_songs, lmd.splits["train"].columns, lmd.track_ids, PRIMER, MAX_LEN, seed=0
    )
    assert again["unigram"].mean == rows["unigram"].mean  # seeded


def test_reference_continuations(lmd: NoteDataModule, test_songs: list[np.ndarray]) -> None:
    columns = lmd.splits["train"].columns
    primer = test_songs[0][:PRIMER]
    for gen in (
        R.UnigramSampler.fit(columns).continuation(seed=3),
        R.UniformSampler.fit(columns, lmd.track_ids).continuation(seed=3),
        R.other_song(test_songs, PRIMER),
        R.repeat_primer(),
    ):
        cont = gen(primer, 100, 0)
        assert cont.dtype == NOTE_DTYPE and len(cont) == 100
        steps = np.rint(cont["step"].astype(np.float64) * 24).astype(np.int64)
        assert cont["time"].tolist() == (primer["time"][-1] + np.cumsum(steps)).tolist()
        assert set(np.unique(cont["track"]).tolist()) <= set(lmd.track_ids)
        assert (cont["duration"] > 0).all() and (cont["velocity"] > 0).all()
    repeated = R.repeat_primer()(primer, 150, 0)
    for field in ("pitch", "step", "duration", "track"):
        assert repeated[field].tolist() == np.resize(primer[field], 150).tolist()
    # real vs real takes the next song's continuation, and its end when that is too short
    nxt = R.other_song(test_songs, PRIMER)(primer, 50, 0)
    assert nxt["pitch"].tolist() == test_songs[1]["pitch"][PRIMER : PRIMER + 50].tolist()
    last = R.other_song(test_songs, PRIMER)(primer, len(test_songs[1]), 0)
    assert last["pitch"].tolist() == test_songs[1]["pitch"].tolist()
    # the unigram sampler draws values seen in training only
    uni = R.UnigramSampler.fit(columns).sample(2000, np.random.default_rng(0))
    assert set(np.unique(uni["pitch"]).tolist()) <= set(np.unique(columns["pitch"]).tolist())
    with pytest.raises(ValueError, match="at least 2 songs"):
        R.other_song(test_songs[:1], PRIMER)


def test_unigram_counts_in_chunks_equal_one_pass(
    lmd: NoteDataModule, monkeypatch: pytest.MonkeyPatch
) -> None:
    columns = lmd.splits["train"].columns
    whole = R.UnigramSampler.fit(columns)
    monkeypatch.setattr(R, "CHUNK", 997)  # many uneven chunks over the memory map
    chunked = R.UnigramSampler.fit(columns)
    for name in R.UnigramSampler.FIELDS:
        np.testing.assert_array_equal(chunked.values[name], whole.values[name])
        np.testing.assert_allclose(chunked.probs[name], whole.probs[name])
    steps = np.rint(np.asarray(columns["step"], dtype=np.float64) * 24).astype(np.int64)
    vals, counts = np.unique(steps, return_counts=True)
    np.testing.assert_array_equal(whole.values["step"], vals)
    np.testing.assert_allclose(whole.probs["step"], counts / counts.sum())
    uniform = R.UniformSampler.fit(columns, lmd.track_ids)
    assert uniform.step_range == (int(steps.min()), int(steps.max()))
