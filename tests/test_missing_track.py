"""Real songs that lack one of the model's tracks, end to end: POP909 is piano only, the
model plays Piano and Bass. Training, the test pass, the evaluation, its report and its page
all finish, and the report says which track the songs lack. A model's tracks in another
order are refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA, need, small

POP909_SONGS = 12


@pytest.fixture(scope="module")
def piano_only_run(session_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from musegen.train import compose_config
    from musegen.training import train

    songs = tmp_path_factory.mktemp("pop909-piano")
    for path in sorted(need(SHARED_DATA / "pop909").glob("*.mid"))[:POP909_SONGS]:
        (songs / path.name).symlink_to(path)
    out = tmp_path_factory.mktemp("piano-bass-run")
    cfg = compose_config(
        small(
            session_data_dir,
            "data=midi",
            f"data.root={songs}",
            "data.tracks=[Piano,Bass]",
            "data.max_songs=null",
            "evaluate.num_samples=1",
            "evaluate.audio=false",
        ),
        output_dir=str(out),
    )
    train(cfg)
    return out


def test_a_track_the_songs_lack_is_named_and_the_run_finishes(piano_only_run: Path) -> None:
    metrics = json.loads((piano_only_run / "metrics.json").read_text())
    assert metrics["status"] == "finished"
    evaluation = piano_only_run / "evaluation"
    report = json.loads((evaluation / "evaluation.json").read_text())
    assert report["absent_tracks"] == ["Bass"] and report["test"]["test/note_nll"] > 0
    text = (evaluation / "evaluation.md").read_text()
    assert "**Bass: no notes in the real songs evaluated here**" in text
    assert "**Bass**; no reference range: the reference excerpts have no notes on it" in text
    page = (evaluation / "index.html").read_text()
    assert "Bass: no notes in the real songs evaluated here" in page


def test_the_models_tracks_in_another_order_are_refused_in_one_line(
    lakh_run: Path, tmp_path: Path
) -> None:
    """A network reads track indices: Bass, Piano, Drums would score the drums as bass."""
    from tests.conftest import run_cli

    proc = run_cli(
        "musegen.evaluate",
        f"ckpt_path={lakh_run / 'checkpoints' / 'last.ckpt'}",
        "data.tracks=[Bass,Piano,Drums]",
        f"out_dir={tmp_path / 'out'}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: data.tracks: the model plays [Drums,Piano,Bass], in this order; got "
        "[Bass,Piano,Drums]: leave data.tracks out (the run's own is the default) or give "
        "the model's"
    ]
    assert not list((tmp_path / "out").glob("*"))  # nothing written
