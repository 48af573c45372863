"""How an accompaniment fits what it accompanies: the cross-track figures by hand, their
ranking of real accompaniments above broken ones on real songs, and the evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import musegen.evaluation.accompaniment as evaluation
from musegen.data.midi_to_lpd import midi_to_song
from musegen.data.pianoroll_notes import song_to_notes
from musegen.evaluation.samples import bar_excerpt
from musegen.generation.continuation import DecodeOptions
from musegen.generation.runs import load_run
from musegen.metrics.accompaniment import (
    FIGURES,
    bass_agreement,
    chord_agreement,
    figures,
    key_agreement,
    onset_agreement,
)
from musegen.metrics.references import UnigramSampler
from tests.conftest import LMD_MIDI, need, run_cli
from tests.test_page import assert_page_works
from tests.test_performance import _notes


def test_the_figures_by_hand() -> None:
    # kept: a C major chord held over bar 1 (C E G) and an A minor chord in bar 2 (A C E)
    kept = _notes(
        [(0, 60, 96, 80, 1), (0, 64, 96, 80, 1), (0, 67, 96, 80, 1),
         (96, 57, 96, 80, 1), (96, 60, 96, 80, 1), (96, 64, 96, 80, 1)]
    )  # fmt: skip
    # bass: C at 0 (root), G at 48 (in the chord, not the lowest), A at 96 (root), F# at 120
    acc = _notes(
        [(0, 36, 48, 90, 3), (48, 43, 48, 90, 3), (96, 45, 24, 90, 3), (120, 42, 72, 90, 3),
         (12, 38, 1, 100, 0)]
    )  # fmt: skip
    # bar 1: C, G in C major (both); bar 2: A in A minor (its best scale among ties: C major,
    # same notes), F# in neither: 3 of 4 notes, as bars: (1 + 1/2) / 2
    assert key_agreement(kept, acc) == pytest.approx(0.75)
    # C, G, A sounded by the kept tracks at their onsets; F# not: 3 of 4
    assert chord_agreement(kept, acc) == pytest.approx(0.75)
    # onsets 0, 12, 48, 96, 120; the kept tracks start notes at 0 and 96: 2 of 5
    assert onset_agreement(kept, acc) == pytest.approx(0.4)
    # lowest kept note: C (0-95), A (96-191); bass C, G, A, F#: C and A agree, 2 of 4
    assert bass_agreement(kept, acc) == pytest.approx(0.5)
    assert np.isnan(bass_agreement(kept, acc[acc["track"] == 0]))  # no bass


@pytest.fixture(scope="module")
def windows() -> list[tuple[np.ndarray, np.ndarray]]:
    """16 bars (from bar 5) of Lakh songs with Piano or Guitar, a bass and more: their kept
    tracks (Piano, Guitar) and accompaniment."""
    out = []
    for path in sorted(need(LMD_MIDI).glob("*.mid"))[100:150]:
        try:
            song = song_to_notes(midi_to_song(path))
        except ValueError:
            continue
        window = bar_excerpt(song, 4, 16, 96)
        mine = np.isin(window["track"], [1, 2])
        if mine.any() and (window["track"] == 3).any():
            out.append((window[mine], window[~mine]))
    return out


def test_real_accompaniment_ranks_above_the_controls(windows: list) -> None:
    """Another song's accompaniment and unigram notes fall below real on every figure;
    the song's own moved a beat later, on chord and bass agreement (module docstring)."""
    end = 16 * 96
    train = np.concatenate(
        [song_to_notes(midi_to_song(p)) for p in sorted(LMD_MIDI.glob("*.mid"))[:20]]
    )
    accomp = train[np.isin(train["track"], [0, 3, 4])]
    unigram = UnigramSampler.fit({k: accomp[k] for k in accomp.dtype.names})
    rows: dict[str, list[dict[str, float]]] = {
        r: [] for r in ("real", "another", "shifted", "unigram")
    }
    for i, (kept, real) in enumerate(windows):
        shifted = np.array(real, copy=True)
        shifted["time"] += 24
        drawn = unigram.sample(len(real), np.random.default_rng(i))
        for row, acc in (
            ("real", real),
            ("another", windows[(i + 1) % len(windows)][1]),
            ("shifted", shifted[shifted["time"] < end]),
            ("unigram", drawn[drawn["time"] < end]),
        ):
            rows[row].append(figures(kept, acc))
    mean = {r: {f: float(np.nanmean([x[f] for x in v])) for f in FIGURES} for r, v in rows.items()}
    assert len(windows) >= 20
    for figure in FIGURES:
        assert mean["real"][figure] > mean["another"][figure] + 0.1, figure
        assert mean["real"][figure] > mean["unigram"][figure] + 0.1, figure
        assert mean["real"][figure] >= mean["shifted"][figure] - 0.01, figure
    for figure in ("chord_agreement", "bass_agreement"):
        assert mean["real"][figure] > mean["shifted"][figure] + 0.05, figure


def test_evaluate_scores_an_accompaniment(
    lakh_run: Path, session_data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "acc"
    done = run_cli(
        "musegen.evaluate",
        f"ckpt_path={lakh_run / 'checkpoints' / 'last.ckpt'}",
        f"paths.data_dir={session_data_dir}",
        f"hydra.run.dir={out}",
        "accompany=true",
        "keep=[Piano]",
        "accompany_bars=4",
        "max_songs=3",
        "reference_samples=8",
        "num_samples=1",
        "data.split=test",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "accompaniment.json").read_text())
    assert report["keep"] == ["Piano"] and report["accompaniment"] == ["Drums", "Bass"]
    assert set(report["figures"]) == {
        "lstm_gru",
        "real",
        "another song",
        "shifted a beat",
        "unigram",
    }
    assert {s["caption"].split(": ")[1] for s in report["samples"]} == {
        "the kept tracks alone", "with its real accompaniment", "with lstm_gru's accompaniment"
    }  # fmt: skip
    page = (out / "index.html").read_text()
    assert "LUFS" in page and "SoundFont" in page  # how it sounds
    for figure in ("key_agreement", "onset_agreement"):
        model, real = (report["figures"][r][figure]["mean"] for r in ("lstm_gru", "real"))
        model = "–" if model is None else f"{model:.2f}"  # no pitched note drawn: no figure
        line = f"{figure.replace('_', ' ')} {model} (real {real:.2f}, another song "
        assert line in page, figure
    assert_page_works(out / "index.html", min_audio=3)


def test_pairs_after_the_songs_own_first_bars(
    lakh_run: Path, session_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``accompany_from``: each song's own first bars, every track, prime the network; the
    kept notes after them reach it at their own times; every row is scored on the bars
    after, moved to start at 0: the real pair is the song's own notes there, by hand, and
    of the model's piece only its drawn notes inside those bars count (three notes added
    to what it drew: one before them, one inside, one after)."""
    run = load_run(lakh_run / "checkpoints" / "last.ckpt")
    dm = run.datamodule({"data_dir": str(session_data_dir)}, {"split": "test"})
    dm.prepare_data()
    dm.setup("test")
    bar = 4 * dm.resolution
    seen: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    real_accompany = evaluation.accompany

    def spy(net, primer, kept, *args, **kwargs):  # type: ignore[no-untyped-def]
        piece = real_accompany(net, primer, kept, *args, **kwargs)
        added = _notes([(2 * bar - 12, 40, 1, 90, 0), (2 * bar + 24, 38, 24, 90, 3),
                        (4 * bar, 42, 1, 90, 0)])  # fmt: skip
        seen.append((primer, kept, piece))
        return np.concatenate([piece, added])

    monkeypatch.setattr(evaluation, "accompany", spy)
    options = DecodeOptions(resolution=dm.resolution)
    rows, songs = evaluation.pairs(run.net, dm, run.track_ids, [1], 4, 3, options, start=2)
    assert len(songs) >= 2 and len(seen) == len(songs)
    for k, i in enumerate(songs):
        song = dm.splits["test"].song(i)
        first = song[song["time"] < 2 * bar]
        later = song[(song["time"] >= 2 * bar) & (song["time"] < 4 * bar)]
        piano = later["track"] == 1
        kept, real = rows["real"][k]
        assert np.array_equal(kept["time"], later["time"][piano] - 2 * bar)
        assert np.array_equal(real["pitch"], later["pitch"][~piano])
        assert np.array_equal(real["time"], later["time"][~piano] - 2 * bar)
        primer, given, piece = seen[k]
        assert np.array_equal(primer, first)  # every track of bars 1-2
        assert np.array_equal(given["time"], later["time"][piano])  # at their own times
        model_kept, drawn = rows["model"][k]
        assert np.array_equal(model_kept, kept)
        inside = (piece["time"] >= 2 * bar) & (piece["time"] < 4 * bar)
        own = piece[(piece["track"] != 1) & inside]
        assert np.array_equal(drawn["time"], np.append(own["time"] - 2 * bar, 24))
        assert drawn["pitch"][-1] == 38
        moved = real["time"] + dm.resolution
        assert np.array_equal(rows["shifted a beat"][k][1]["time"], moved[moved < 2 * bar])
    with pytest.raises(ValueError, match="accompany_from=4: must be below accompany_bars=4"):
        evaluation.pairs(run.net, dm, run.track_ids, [1], 4, 3, options, start=4)


def test_evaluate_refuses_priming_every_bar(lakh_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "acc"
    done = run_cli(
        "musegen.evaluate",
        f"ckpt_path={lakh_run / 'checkpoints' / 'last.ckpt'}",
        f"hydra.run.dir={out}",
        "accompany=true",
        "accompany_bars=4",
        "accompany_from=4",
    )
    assert done.returncode == 2
    assert done.stderr == (
        "error: accompany_from=4: the bars that prime the model must leave some of "
        "accompany_bars=4 to accompany; set accompany_from below 4\n"
    )
    assert not (out / "accompaniment.json").exists()
