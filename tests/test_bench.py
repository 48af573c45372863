"""The benchmark report and the synthetic LPD-5 tree of the full-size benchmark (the timings
themselves are not tested: they are read as ratios in the report, never asserted)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from musegen.bench.report import Row, write_report
from musegen.data.lpd_io import read_lpd_npz
from musegen.data.pianoroll_notes import song_to_notes
from musegen.data.sources import lpd_files
from musegen.data.tracks import LPD5_TRACKS


def test_report_writes_json_and_markdown_with_ratios(tmp_path: Path) -> None:
    rows = [
        Row("data", "read one file", "ms", 2.0, "ours", 30.0, "muspy", target=">= 10x"),
        Row(
            "generate",
            "notes per second",
            "notes/s",
            900.0,
            "batched",
            30.0,
            "one",
            higher_is_better=True,
        ),
        Row("prepare", "wall time", "s", 120.0, "21,425 songs"),
    ]
    md = write_report(rows, tmp_path, "python -m musegen.bench data")
    payload = json.loads((tmp_path / "bench.json").read_text())
    assert [r["ratio"] for r in payload["rows"]] == [15.0, 30.0, None]
    assert payload["machine"]["cores_usable"] >= 1 and payload["command"].endswith("data")
    text = md.read_text()
    assert "| data | read one file | 2 (ours) | 30 (muspy) | ms | 15.00x | >= 10x |" in text
    assert "30.00x" in text and "120 (21,425 songs)" in text


@pytest.fixture(scope="module")
def real(shared_data: Path):
    from musegen.bench.synthetic_lpd import real_songs

    return real_songs(shared_data)


def test_synthetic_tree_has_lpds_layout_and_real_statistics(real, tmp_path: Path) -> None:
    from musegen.bench.synthetic_lpd import write_tree

    assert len(real) >= 140  # the LPD-5 file and the Lakh files that convert
    root = write_tree(tmp_path / "lpd5", 30, real, seed=0, workers=1)
    files = lpd_files(root)
    assert len(files) == 30
    layout = re.compile(r"([A-Z])/([A-Z])/([A-Z])/TR\1\2\3[A-Z]{3}\d{10}/[0-9a-f]{32}\.npz$")
    assert all(layout.search(f.path.relative_to(root).as_posix()) for f in files)
    assert len({f.song_id for f in files}) == 30

    # each song is a real one moved in time and pitch: its length and per-track note counts
    # are one real song's, its pitch range within 3 semitones of that song's
    lengths = {s.n_steps for s in real}
    counts = {tuple(np.bincount(song_to_notes(s)["track"], minlength=5)) for s in real}
    for f in files:
        song = read_lpd_npz(f.path)
        assert [t.name for t in song.tracks] == list(LPD5_TRACKS)
        assert song.n_steps in lengths
        got = np.bincount(song_to_notes(song)["track"], minlength=5)
        # a note held across the wrap point splits in two; a note moved past 0..127 goes
        assert any(np.all(np.abs(got - np.array(c)) <= 0.02 * np.array(c) + 2) for c in counts)

    # the same seed writes the same songs
    from musegen.bench.synthetic_lpd import song_path

    again = write_tree(tmp_path / "again", 3, real, seed=0, workers=1)
    for i in range(3):
        x = read_lpd_npz(song_path(root, i)[1])
        y = read_lpd_npz(song_path(again, i)[1])
        assert all((a.roll != b.roll).nnz == 0 for a, b in zip(x.tracks, y.tracks, strict=True))


@pytest.mark.slow  # ~20 s on 2 cores: both training loops, timed
def test_training_benchmark_runs_both_loops_on_the_default_task(session_data_dir: Path) -> None:
    """The plain loop must train the task's own objective (its heads, weights, targets), or
    the ratio is void: its first loss equals the task's objective on the same batch, weights
    and dropout masks, computed through the task here."""
    import copy

    import torch

    from musegen.bench.train import make_task, plain_loop, real_batches, run

    args = ["--steps", "2", "--warmup", "1", "--repeats", "1", "--models", "rnn"]
    rows = run([*args, "--data-dir", str(session_data_dir)])
    assert {r.benchmark for r in rows} == {"train"} and rows[0].ours > 0 and rows[0].ratio > 0
    batches = real_batches(2, 16, 25, str(session_data_dir))
    task = make_task("rnn", "all")
    fresh = copy.deepcopy(task)
    torch.manual_seed(0)
    _, losses = plain_loop(task, batches, warmup=1)
    fresh.net.train()
    torch.manual_seed(0)
    expected = fresh._losses(batches[0], "all")[0]["loss"].item()
    assert losses[0] == expected
    assert losses[1] != losses[0]  # the second step saw trained weights


def test_the_bench_draws_the_pieces_own_music_as_experiment_lakh_does() -> None:
    """``make bench`` times the note as ``experiment=lakh`` draws it: its rules of the
    piece's own music are the experiment's, read from the config."""
    from musegen.bench.generate import OWN
    from musegen.config_checks import compose_checked

    composed = compose_checked("train", ["experiment=lakh"]).sampling
    assert OWN == (
        ("track", (("entry", composed.track.entry),)),
        (
            "duration",
            (("cache", composed.duration.cache), ("cache_drawn", composed.duration.cache_drawn)),
        ),
    )


def test_torch_calls_counts_each_call_into_torch_inside_the_block_only() -> None:
    """Five calls by hand: the addition, the sum, the GELU, the indexing and ``normalize``;
    the tensor made before the block is not counted, nor the calls ``normalize`` makes
    inside torch (a norm, a clamp, an expand and a division, written in Python)."""
    import torch

    from musegen.bench.timing import TorchCalls

    x = torch.ones(3)
    with TorchCalls() as calls:
        y = x + 1
        y.sum()
        torch.nn.functional.gelu(y)
        y[0]
        torch.nn.functional.normalize(y, dim=0)
    assert calls.count == 5
    with TorchCalls() as calls:
        pass
    assert calls.count == 0
