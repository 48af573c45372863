"""``musegen.compare`` on a real sweep: two backbones x two seeds, plus a job that failed."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

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


@pytest.mark.slow  # ~9 s: CLI round trips of musegen.compare
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


@pytest.mark.slow  # ~15 s on 2 cores: an offline wandb run of the table
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


# --- run folders written by hand: each case in a few lines, no training --------------------


def write_run(
    folder: Path,
    overrides: list[str],
    metrics: str | None = None,
    log: str | None = None,
    config: dict | None = None,
) -> Path:
    """A run folder as ``musegen.train`` leaves it: ``.hydra/overrides.yaml``, and the
    ``metrics.json`` text, ``train.log`` and ``.hydra/config.yaml`` given."""

    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if config is not None:
        (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    if metrics is not None:
        (folder / "metrics.json").write_text(metrics)
    if log is not None:
        (folder / "train.log").write_text(log)
    return folder


def finished(**values: float | None) -> str:
    return json.dumps({"status": "finished", "n_params": 1000, **values})


def markdown_row(md: str, first_cell: str) -> str:
    (row,) = [line for line in md.splitlines() if line.startswith(f"| {first_cell} |")]
    return row


def test_a_nan_loss_is_marked_and_the_mean_says_how_many_runs_it_covers(tmp_path: Path) -> None:
    """Three finished seeds, one with ``test/loss`` null (strict JSON) and one with a bare
    NaN (as files written before strict JSON hold it): the row's mean covers one run and
    says so, and the two runs are marked in the runs table."""
    runs = tmp_path / "runs"
    write_run(runs / "0", ["seed=1"], finished(**{"test/loss": 4.25, "test/pitch_loss": 2.0}))
    write_run(runs / "1", ["seed=2"], finished(**{"test/loss": None, "test/pitch_loss": 3.0}))
    nan = finished(**{"test/loss": 0.0, "test/pitch_loss": 4.0}).replace("0.0", "NaN")
    write_run(runs / "2", ["seed=3"], nan)
    result = compare([runs], out=tmp_path / "out")
    md = result.files["comparison.md"].read_text()
    # parameters, test loss (one run of three), pitch (all three: mean 3, sample std 1)
    assert markdown_row(md, "all runs") == (
        "| all runs | 3/3 | 1,000 ± 0 | 4.2500 (1 of 3 runs) | 3.0000 ± 1.0000 |"
    )
    assert markdown_row(md, "`0`").endswith("| ok |")
    for run in ("1", "2"):
        assert markdown_row(md, f"`{run}`").endswith(
            "| ok; **not finite** (left out of the means): test/loss |"
        )
    assert "3 runs (0 failed, 2 with a loss that is not finite)" in md
    with result.files["comparison.csv"].open() as fh:
        (row,) = list(csv.DictReader(fh))
    assert (row["test/loss_mean"], row["test/loss_std"], row["test/loss_n"]) == ("4.25", "", "1")
    assert (row["test/pitch_loss_std"], row["test/pitch_loss_n"]) == ("1.0", "3")


def test_runs_that_all_failed_give_the_report_and_exit_code_1(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A config error (its one line is in the log) and a crash whose traceback went to the
    console: both listed with their reason; nothing finished, so exit code 1."""
    from musegen.compare.main import main

    runs, out = tmp_path / "runs", tmp_path / "out"
    error = "[2026-01-01 10:00:00,000][musegen][ERROR] - error: data.seq_len must be >= 1, got 0"
    write_run(runs / "0", ["data.seq_len=0"], log=f"{error}\n")
    last = "[2026-01-01 10:00:01,000][musegen.train][INFO] - data: {'source': 'bach'}"
    write_run(runs / "1", ["data.seq_len=25"], log=f"[...][INFO] - started\n{last}\n")
    assert main([str(runs), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        "musegen.compare: none of the 2 runs finished (2 failed, 0 running): nothing to "
        "compare; each run's reason is in comparison.md"
    )
    md = (out / "comparison.md").read_text()
    assert f"| **failed**: {error} |" in markdown_row(md, "`0`")
    assert markdown_row(md, "`1`").endswith(
        "| **failed**: did not finish (no metrics.json; its log names no error: killed, or a "
        f"crash whose traceback went to the console only); last log line: {last} |"
    )
    write_run(runs / "2", ["data.seq_len=50"], finished(**{"test/loss": 3.5}))
    assert main([str(runs), "--out", str(out)]) == 0  # one finished: a comparison


def test_same_names_a_key_of_the_configs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from musegen.compare.main import main

    runs = tmp_path / "runs"
    for name, transpose in (("a", 0), ("b", 3)):
        config = {"seed": 1, "data": {"transpose": transpose}}
        write_run(runs / name, ["seed=1"], finished(**{"test/loss": 3.0}), config=config)
    assert main([str(runs), "--out", str(tmp_path / "out"), "--same", "nonsense.key"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "musegen.compare: --same nonsense.key: no run's .hydra/config.yaml has this key; "
        "the config keys that split rows here: data.transpose"
    ]
    assert not (tmp_path / "out").exists()  # refused before anything was written
    assert main([str(runs), "--out", str(tmp_path / "out"), "--same", "data.transpose"]) == 0


def test_a_live_run_is_running_not_failed(tmp_path: Path) -> None:
    """A run whose ``.run.lock`` a live process holds (here: this one, through the lock a
    training run takes) is listed as running; once the lock is gone, as failed."""
    from musegen.atomic import run_folder

    runs = tmp_path / "runs"
    write_run(runs / "0", ["seed=1"], finished(**{"test/pitch_loss": 2.0}))
    live = write_run(runs / "1", ["seed=2"], log="[...][INFO] - epoch 0\n")
    with run_folder(live):
        result = compare([runs], out=tmp_path / "out")
    md = result.files["comparison.md"].read_text()
    assert markdown_row(md, "`1`") == "| `1` | all runs | 2 | – | running |"
    assert "2 runs (0 failed, 1 running)" in md
    with result.files["comparison.csv"].open() as fh:
        (row,) = list(csv.DictReader(fh))
    assert (row["n_runs"], row["n_failed"], row["n_running"]) == ("1", "0", "1")
    after = compare([runs], out=tmp_path / "out")
    assert "did not finish" in after.groups[0].runs[1].error


def write_evaluation(run: Path, song: str) -> None:
    """``<run>/evaluation``: one continuation and one piece from scratch, each beside its
    real music (MIDI, npz, PNG; no audio), as ``evaluation.json`` lists them."""
    from musegen.data.pianoroll_notes import NOTE_DTYPE
    from musegen.metrics import REAL_ROW
    from musegen.render.outputs import write_sample

    folder = run / "evaluation"
    records = []
    for kind in ("continuation", "scratch"):
        for row, prefix in (("model", kind), (REAL_ROW, f"real_{kind}")):
            notes = np.zeros(4, dtype=NOTE_DTYPE)
            notes["pitch"], notes["track"], notes["velocity"] = [60, 62, 64, 65], 1, 80
            notes["step"], notes["duration"] = 1.0, 1.0
            notes["time"] = np.arange(4) * 24
            files = write_sample(notes, folder / "samples", f"{prefix}_000", 0, audio=False)
            records.append(
                {
                    "kind": kind,
                    "row": row,
                    "index": 0,
                    "song": song,
                    "primer_len": 0,
                    "caption": f"{row}: a piece of {song}",
                }
                | {k: v.relative_to(folder).as_posix() for k, v in files.items()}
            )
    report = {"samples": records, "settings": {"split": "test"}, "track_ids": [1]}
    (folder / "evaluation.json").write_text(json.dumps(report))


def test_rows_that_differ_in_many_settings_get_their_listening_page(tmp_path: Path) -> None:
    """Two runs that differ in twelve long settings: each row's label is over 255
    characters, longer than a file name may be; the page's copies are named by position."""
    from tests.test_page import local_links

    runs = tmp_path / "runs"
    for i in range(2):
        overrides = [
            f"task.heads.some_long_setting_name_{k}=value_{i}_{'x' * 20}" for k in range(12)
        ]
        metrics = finished(**{"test/loss": 3.0 + i})
        write_run(runs / str(i), [*overrides, "seed=1"], metrics, config={"seed": 1})
        write_evaluation(runs / str(i), "song_a")
    result = compare([runs], out=tmp_path / "out")
    assert len(result.groups) == 2 and min(len(g.label) for g in result.groups) > 255
    listen = tmp_path / "out" / "listen"
    assert sorted(p.name for p in listen.iterdir()) == sorted(
        f"{kind}_0_{who}.{suffix}"
        for kind in ("continuation", "scratch")
        for who in ("real", "01", "02")
        for suffix in ("mid", "png")
    )
    page = result.files["index.html"]
    text = page.read_text()
    assert all(f"{g.label}, seed 1:" in text for g in result.groups)  # captions keep labels
    assert all(p.is_file() for p in local_links(page))


def test_records_kept_without_their_samples_give_the_table_and_no_page(tmp_path: Path) -> None:
    """Runs as ``experiments/keep_runs.py`` keeps them: ``evaluation.json`` lists samples
    whose files were not kept. The table is written; a listening page is not (nothing to
    play), where a page of the run that kept its files is."""

    runs = tmp_path / "runs"
    for i in range(2):
        write_run(runs / str(i), [f"model={MODELS[i]}", "seed=1"], finished(**{"test/loss": 3.0}))
        write_evaluation(runs / str(i), "song_a")
    shutil.rmtree(runs / "0" / "evaluation" / "samples")
    only_one = compare([runs], out=tmp_path / "one")
    assert "index.html" in only_one.files
    assert {p.name for p in (tmp_path / "one" / "listen").iterdir()} == {
        f"{kind}_0_{who}.{suffix}"
        for kind in ("continuation", "scratch")
        for who in ("real", "01")
        for suffix in ("mid", "png")
    }
    shutil.rmtree(runs / "1" / "evaluation" / "samples")
    none = compare([runs], out=tmp_path / "none")
    assert (tmp_path / "none" / "comparison.md").is_file()
    assert "index.html" not in none.files and not (tmp_path / "none" / "index.html").exists()
