"""``musegen.compare`` on a real sweep: two backbones x two seeds, plus a job that failed."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from musegen.compare import compare
from musegen.compare.runs import read_curve
from tests.conftest import MODELS, run_cli, small
from tests.test_page import assert_page_works

BUDGET = 100_000


@pytest.fixture(scope="module")
def sweep(session_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``train experiment=compare`` shrunk (the five backbones x two seeds, one timing head,
    a few batches), then one job that failed (a bad ``task.timing``) written into the same
    sweep folder as a launcher would. The comparison the sweep's own callback wrote is kept
    beside the folder as ``callback.md``."""
    root = tmp_path_factory.mktemp("sweep") / "sweep"
    args = small(
        session_data_dir, "evaluate.max_songs=2", "evaluate.max_notes=16", "evaluate.num_samples=1"
    )
    done = run_cli(
        "musegen.train",
        "experiment=compare",
        "task.timing=categorical",
        "seed=1,2",
        f"task.param_budget={BUDGET}",
        f"hydra.sweep.dir={root}",
        *args,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (root.parent / "callback.md").write_text((root / "comparison.md").read_text())
    bad = run_cli(
        "musegen.train",
        "experiment=compare",
        "hydra.mode=RUN",
        "model=gru",
        "seed=1",
        f"task.param_budget={BUDGET}",
        f"hydra.run.dir={root / '10'}",
        "task.timing=bogus",
        *args,
    )
    assert bad.returncode == 2 and "task.timing" in bad.stderr
    return root


def test_the_compare_experiment_runs_and_aggregates_the_five_models(sweep: Path) -> None:
    """One command: every backbone x seed in its own folder, each sized to the budget and
    recording its seed and sweep; the sweep's callback wrote a 4-row table and the plots."""
    records = [json.loads((sweep / str(j) / "metrics.json").read_text()) for j in range(10)]
    assert sorted((r["model"], r["seed"]) for r in records) == sorted(
        (m, s) for m in MODELS for s in (1, 2)
    )
    assert {r["sweep_id"] for r in records} == {sweep.name}
    for r in records:
        assert abs(r["n_params"] - BUDGET) < 0.1 * BUDGET, r
        assert r["train_notes_per_s"] > 0 and f"seed={r['seed']}" in r["overrides"]
    md = (sweep.parent / "callback.md").read_text()
    assert "python -m musegen.train experiment=compare" in md
    rows = [line for line in md.splitlines() if line.startswith("| model=")]
    assert len({line.split("|")[1] for line in rows}) == 5, rows
    assert "## The paper's numbers" in md and "4.2135" in md
    for png in ("val_loss.png", "test_metrics.png"):
        assert (sweep / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rows_seeds_and_failed_run(sweep: Path) -> None:
    result = compare([sweep])
    labels = {g.label: g for g in result.groups}
    assert set(result.keys) == {"model", "task.timing"}
    assert {f"model={m}, timing=categorical" for m in MODELS} <= set(labels)
    rnn = labels["model=rnn, timing=categorical"]
    assert len(rnn.ok) == 2 and not rnn.failed
    # seeds collapse to mean +- sample std of the runs' own metrics.json values
    values = [json.loads((r.path / "metrics.json").read_text())["test/loss"] for r in rnn.ok]
    mean, std, n = rnn.stat("test/loss")
    assert n == 2 and mean == pytest.approx(np.mean(values))
    assert std == pytest.approx(np.std(values, ddof=1)) and std > 0  # seeds really differ
    failed = [r for g in result.groups for r in g.failed]
    assert len(failed) == 1 and "task.timing" in failed[0].error

    record = json.loads((rnn.ok[0].path / "metrics.json").read_text())
    assert record["commit"] and "CPUs" in record["machine"]  # which code ran where
    md = (sweep / "comparison.md").read_text()
    assert record["machine"] in md
    assert "**failed**" in md and "model=gru" in md and "± " in md
    for png in ("val_loss.png", "test_metrics.png"):
        assert (sweep / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with (sweep / "comparison.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 and {"test/pitch_loss_mean", "eval/sim_pitch_mean"} <= set(rows[0])
    row = next(r for r in rows if r["model"] == "rnn")
    assert (row["n_runs"], row["n_failed"]) == ("2", "0")
    assert float(row["test/loss_mean"]) == pytest.approx(mean)


def test_killed_run_and_cut_csv(sweep: Path, tmp_path: Path) -> None:
    """A run killed mid-way (no metrics.json, its CSV cut inside a line) is a failed row and
    its curve keeps the whole lines; the others still make the table."""
    import shutil

    runs = tmp_path / "runs"
    for job in ("0", "2"):  # rnn and lstm, seed 1
        shutil.copytree(sweep / job, runs / job)
    killed = runs / "2"
    (killed / "metrics.json").unlink()
    log = next(killed.glob("csv/**/metrics.csv"))
    text = log.read_text()
    header = text.splitlines()[0].split(",")
    log.write_text(text[: len(text) - 7])  # a write cut short
    result = compare([runs], out=tmp_path / "out")
    assert [len(g.ok) for g in result.groups] == [1, 0]
    assert "did not finish" in result.groups[1].runs[0].error
    curve = read_curve(killed)
    assert curve and all(np.isfinite(v) for _, v in curve)  # whole lines kept, the cut one not
    whole = text[: len(text) - 7].rsplit("\n", 1)[0]
    kept = [r for r in whole.splitlines()[1:] if r.split(",")[header.index("val/loss")]]
    assert len(curve) == len(kept)


def test_bad_paths_are_one_line(tmp_path: Path) -> None:
    missing = run_cli("musegen.compare", str(tmp_path / "nope"))
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    empty = run_cli("musegen.compare", str(tmp_path))
    assert empty.returncode == 2 and "no run folders" in empty.stderr


def test_runs_with_the_same_overrides_but_other_configs_stay_apart(
    sweep: Path, tmp_path: Path
) -> None:
    """Two runs of one command line whose configs differ (a config file edited in between)
    are two rows keyed by the differing value, never one row of 'seeds'."""
    import shutil

    import yaml

    runs = tmp_path / "runs"
    shutil.copytree(sweep / "0", runs / "a")
    shutil.copytree(sweep / "0", runs / "b")
    config_file = runs / "b" / ".hydra" / "config.yaml"
    config = yaml.safe_load(config_file.read_text())
    config["data"]["transpose"] = 3
    config_file.write_text(yaml.safe_dump(config))
    result = compare([runs], out=tmp_path / "out")
    assert result.keys == ["data.transpose"]
    assert sorted(g.label for g in result.groups) == ["transpose=0", "transpose=3"]
    # unless the caller vouches for the key (a new key that keeps the old behaviour)
    same = compare([runs], out=tmp_path / "same", same=["data.transpose"])
    assert same.keys == [] and len(same.groups) == 1 and len(same.groups[0].runs) == 2


def test_the_table_goes_to_wandb_offline(sweep: Path, tmp_path: Path) -> None:
    """``compare --wandb``: the table is logged in an offline W&B run, no account needed."""
    done = run_cli("musegen.compare", str(sweep), "--out", str(tmp_path), "--wandb", "g1")
    assert done.returncode == 0, done.stderr[-2000:]
    (run_dir,) = (tmp_path / "wandb").glob("offline-run-*")
    tables = list(run_dir.glob("files/media/table/comparison_*.table.json"))
    assert len(tables) == 1
    table = json.loads(tables[0].read_text())
    assert len(table["data"]) == len(MODELS) + 1  # a row per backbone and the failed job
    assert "test/pitch_loss_mean" in table["columns"]


def test_the_comparison_has_the_overlap_and_a_listening_page(sweep: Path) -> None:
    """comparison.md leads with the evaluation's summary (every row's mean OA beside the
    controls'), and index.html plays each row's samples beside the real music, from the
    copies in listen/ (the page stands alone without the runs)."""
    md = (sweep / "comparison.md").read_text()
    overlap = md.split("## Distribution overlap with real music")[1].split("\n## ")[0]
    for row in ("model=gru", "*real vs real*", "*key broken*", "*unigram*", "*repeat primer*"):
        assert row in overlap, row
    assert "Share of notes outside the real pitch range" in md
    listen = sweep / "listen"
    for kind in ("continuation", "scratch"):  # the real piece, then every run of every row
        assert {p.suffix for p in listen.glob(f"{kind}_0_real.*")} == {".ogg", ".png", ".mid"}
        assert len(list(listen.glob(f"{kind}_0_[0-9][0-9].ogg"))) == 10  # 5 rows x 2 seeds
    page = (sweep / "index.html").read_text()
    assert page.count("seed 1:") == page.count("seed 2:") == 10  # captions in words
    assert "loudness-normalised to -23 LUFS" in page and "What to listen for" in page
    assert_page_works(sweep / "index.html", min_audio=22)  # (1 real + 10 runs) x 2 kinds
