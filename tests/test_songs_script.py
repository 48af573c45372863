"""experiments/note_length/songs.py's figures, computed by hand: a track's notes a beat and
mean length in one piece, and the rank correlation of the model's with the real songs'."""

from __future__ import annotations

import importlib.util
import json
import math

import numpy as np
import pytest

from musegen.data.pianoroll_notes import NOTE_DTYPE
from tests.conftest import ROOT


def _songs():
    spec = importlib.util.spec_from_file_location(
        "songs", ROOT / "experiments" / "note_length" / "songs.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_tracks_density_and_length_over_the_pieces_span() -> None:
    """Onsets 0, 24, 48 (24 steps a beat), 1, 2 and 0.5 beats: the piece ends at 72 (the
    second note), 3 beats; Piano plays 2 of them (2/3 a beat, 1.5 beats long)."""
    songs = _songs()
    notes = np.zeros(3, dtype=NOTE_DTYPE)
    notes["time"] = [0, 24, 48]
    notes["duration"] = [1.0, 2.0, 0.5]
    notes["track"] = [1, 1, 2]
    notes["pitch"] = 60
    assert songs.texture(notes, 1) == (2, pytest.approx(2 / 3), pytest.approx(1.5))
    assert songs.texture(notes, 2) == (1, pytest.approx(1 / 3), pytest.approx(0.5))
    count, per_beat, length = songs.texture(notes, 3)
    assert (count, per_beat) == (0, 0.0) and math.isnan(length)


def test_the_rank_correlation_counts_the_songs_where_both_play() -> None:
    """Piano on 5 songs, one with 5 model notes (left out): real lengths 1, 2, 3, 4 against
    the model's 1, 3, 2, 4: rho = 1 - 6 (1 + 1) / (4 (16 - 1)) = 0.8. Guitar on 2 songs:
    too few, NaN, and left out of the weighted mean."""
    songs = _songs()

    def row(track: str, real: float, model: float, model_notes: int = 10) -> dict:
        out = {"track": track, "real notes": 10, "model notes": model_notes}
        out |= {"real duration": real, "model duration": model}
        out |= {"real notes per beat": real, "model notes per beat": -model}
        return out

    table = [row("Piano", r, m) for r, m in [(1, 1), (2, 3), (3, 2)]]
    table.append(row("Piano", 4, 4, model_notes=8))  # exactly MIN_NOTES: counted
    table += [row("Piano", 9, 0, model_notes=5), row("Guitar", 1, 1), row("Guitar", 2, 2)]
    corr = songs.correlations(table)
    assert corr["Piano"] == {"songs": 4, "notes per beat": pytest.approx(-0.8),
                             "duration": pytest.approx(0.8)}  # fmt: skip
    assert corr["Guitar"]["songs"] == 2 and math.isnan(corr["Guitar"]["duration"])
    assert corr["Bass"]["songs"] == 0
    weighted = corr["all, weighted"]
    assert weighted["songs"] == 6 and weighted["duration"] == pytest.approx(0.8)


def test_a_track_enters_where_the_primer_does_not_play_it() -> None:
    """Bass silent in 4 primers: the real continuation plays it in 1 (1/4), the model's in
    3 (3/4); a song whose primer plays it is not counted; no song leaves Strings out: nan.
    Over every track, 6 silent primers (Bass 4, Guitar 2): real 1/6, model 4/6."""
    songs = _songs()

    def row(track: str, primer: int, real: int, model: int) -> dict:
        return {"track": track, "primer notes": primer, "real notes": real, "model notes": model}

    table = [row("Bass", 0, r, m) for r, m in [(3, 5), (0, 1), (0, 2), (0, 0)]]
    table += [row("Bass", 4, 0, 0), row("Guitar", 0, 0, 7), row("Guitar", 0, 0, 0)]
    table += [row("Piano", 2, 9, 9), row("Strings", 1, 0, 3)]
    entry = songs.entries(table)
    assert entry["Bass"] == {"songs": 4, "real": 0.25, "model": 0.75}
    assert entry["Guitar"] == {"songs": 2, "real": 0.0, "model": 0.5}
    assert entry["Strings"]["songs"] == 0 and math.isnan(entry["Strings"]["model"])
    assert entry["all"] == {"songs": 6, "real": pytest.approx(1 / 6), "model": pytest.approx(4 / 6)}


def _measure():
    spec = importlib.util.spec_from_file_location(
        "measure", ROOT / "experiments" / "note_length" / "measure.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_table_shows_each_rows_own_real_music_where_it_differs(tmp_path) -> None:
    """measure.py: rows scored against the same real music share one real row; rows whose
    real music differs (another primer) each get their own, named after the row."""
    measure = _measure()
    same = {
        "a": {"cont/oa": 0.9, "cont/oa/real": 0.95},
        "b": {"cont/oa": 0.8, "cont/oa/real": 0.95},
    }
    assert measure.real_rows(same) == {"real vs real": {"cont/oa/real": 0.95}}
    other = {**same, "c": {"cont/oa": 0.7, "cont/oa/real": 0.92}}
    assert list(measure.real_rows(other)) == [
        "real vs real, a", "real vs real, b", "real vs real, c"
    ]  # fmt: skip
    measure.write_table(other, tmp_path / "t.md", "Test songs")
    text = (tmp_path / "t.md").read_text()
    assert "| *real vs real, c* | 0.920 |" in text and "| *real vs real, a* | 0.950 |" in text
    with_mean = {**same, "mean": {"cont/oa": 0.85, "cont/oa/real": 0.95}}
    assert list(measure.real_rows(with_mean)) == ["real vs real"]


def test_choose_scores_each_setting_by_its_distance_from_real(tmp_path, monkeypatch) -> None:
    """choose.py: one setting, seed 1, in two draws (two folders). Every figure at real
    but the Piano's duration at half in the first draw: its distance |log 0.5| / 8 =
    0.0866, the second draw's 0; the row is their mean, 0.0433. The entering share comes
    from ``songs.entries``: Bass silent in the primer, played by the model, not the song."""
    spec = importlib.util.spec_from_file_location(
        "choose", ROOT / "experiments" / "note_length" / "choose.py"
    )
    choose = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(choose)

    def figures(report: dict) -> dict:
        out = {"cont/semitone_clusters": 0.01, "cont/oa": 0.9, "scratch/oa": 0.8}
        for track in choose.PITCHED:
            for figure in ("duration", "notes_per_bar"):
                out[f"cont/{figure}/{track}"] = out[f"cont/{figure}/{track}/real"] = 2.0
        out["cont/duration/Piano"] = report["piano"]
        return out

    monkeypatch.setattr(choose.measure, "figures", figures)
    header = "song,track,primer notes,real notes,model notes,real duration,model duration,"
    header += "real notes per beat,model notes per beat\n"
    folders = [tmp_path / "draw0", tmp_path / "draw1"]
    for folder, piano in zip(folders, (1.0, 2.0), strict=True):
        (folder / "s1_a").mkdir(parents=True)
        (folder / "s1_a" / "evaluation.json").write_text(json.dumps({"piano": piano}))
        (folder / "s1_a.csv").write_text(header + "0,Bass,0,0,3,nan,1,0,1\n")
    found = choose.settings(folders)
    assert set(found) == {"a"} and set(found["a"]) == {"1", "1/1"}
    assert found["a"]["1"]["distance"] == pytest.approx(math.log(2) / 8)
    assert found["a"]["1/1"]["distance"] == 0.0
    assert (found["a"]["1"]["entry"], found["a"]["1"]["entry real"]) == (1.0, 0.0)
    choose.write(tmp_path / "out.md", found, "t")
    row = (tmp_path / "out.md").read_text().splitlines()[-1]
    assert row.startswith("| a | 1,1/1 | 1.00 (0.00) |") and "| 0.043 |" in row


def test_the_primers_own_figure_ranks_against_the_real_continuation() -> None:
    """Against the primer: Piano on 4 songs, one whose primer plays 2 notes (left out,
    under PRIMER_NOTES = 3); primer lengths 3, 1, 2 against real 3, 1, 2: rho 1."""
    songs = _songs()

    def row(real: float, primer: float, primer_notes: int = 3) -> dict:
        out = {"track": "Piano", "real notes": 10, "primer notes": primer_notes}
        out |= {"real duration": real, "primer duration": primer}
        return out | {"real notes per beat": real, "primer notes per beat": -primer}

    table = [row(3, 3), row(1, 1), row(2, 2), row(9, 0, primer_notes=2)]
    corr = songs.correlations(table, "primer", songs.PRIMER_NOTES)
    assert corr["Piano"] == {"songs": 3, "notes per beat": pytest.approx(-1.0),
                             "duration": pytest.approx(1.0)}  # fmt: skip
