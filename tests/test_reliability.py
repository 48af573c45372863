"""Bad inputs and unlucky timing, as a user meets them: one line (exit code 2) for a mistake,
nothing lost, nothing half-written, and nothing called from a run folder someone else wrote.

Each test reproduces one finding of a review of the project's reliability on real files or
real processes. Interruptions at random points are in ``test_faults.py``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import lightning as L
import pytest
import torch
from omegaconf import OmegaConf

from musegen.data.datamodule import NoteDataModule
from musegen.data.sources import DataSourceError
from musegen.models.checkpoint import CheckpointError, check_compatible, read_checkpoint
from musegen.models.config import NoteNetConfig
from musegen.train import compose_config
from musegen.training import train
from tests.conftest import LMD_MIDI, LPD5_FILE, LPD17_FILE, ROOT, need, run_cli, small


def damaged(src: Path, dest: Path) -> Path:
    """``src`` with 200 bytes flipped a third of the way in: a zip whose deflate stream is
    broken (``zlib.error`` on reading), as a bad disk or download leaves it."""
    data = bytearray(src.read_bytes())
    start = len(data) // 3
    data[start : start + 200] = bytes(b ^ 0xFF for b in data[start : start + 200])
    dest.write_bytes(bytes(data))
    return dest


def one_line_error(done: subprocess.CompletedProcess, code: int = 2) -> str:
    """The single stderr line of a process that failed as a user's mistake should."""
    assert done.returncode == code, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


def last_line_error(done: subprocess.CompletedProcess, code: int = 2) -> str:
    """The last stderr line of a command that stopped as it should (training logs first)."""
    assert done.returncode == code, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    return done.stderr.strip().splitlines()[-1]


def quick_run(tmp_path: Path) -> list[str]:
    """A few batches end to end, logs and data in ``tmp_path`` (fresh: nothing built yet)."""
    return [
        "debug=fast",
        "logger=csv",
        "evaluate.enabled=false",
        "trainer.enable_progress_bar=false",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"paths.data_dir={tmp_path / 'data'}",
    ]


# --- 1. run folders ---------------------------------------------------------------------


def test_run_folder_names_differ_within_one_second(tmp_path: Path) -> None:
    a = compose_config([], output_dir=str(tmp_path))
    b = compose_config([], output_dir=str(tmp_path))
    dir_a, dir_b = str(a.hydra.run.dir), str(b.hydra.run.dir)
    assert dir_a != dir_b
    # same time format as before, one random token more
    assert dir_a.rsplit("_", 1)[0].count("_") == dir_b.rsplit("_", 1)[0].count("_")


@pytest.mark.slow  # ~22 s: two CLI trainings at once
def test_two_runs_started_together_get_two_folders_and_share_one_cache(tmp_path: Path) -> None:
    """Two trainings at the same instant (a job array): two run folders, both complete; the
    Bach build and the note cache they both need are built once, with no error."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "musegen.train", *quick_run(tmp_path)]
    procs = [
        subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err.decode()[-3000:]
    runs = sorted((tmp_path / "logs" / "train" / "runs").iterdir())
    assert len(runs) == 2
    metrics = [json.loads((r / "metrics.json").read_text()) for r in runs]
    assert [m["output_dir"] for m in metrics] == [str(r) for r in runs]
    for run in runs:
        lines = (run / "csv" / "metrics.csv").read_text().splitlines()
        assert lines[0].count(",") == lines[-1].count(",")  # one writer per CSV
    entries = [e for e in (tmp_path / "data" / "cache").iterdir() if not e.name.startswith(".")]
    assert len(entries) == 1 and (entries[0] / "meta.json").is_file()
    assert not list((tmp_path / "data").rglob("*.tmp"))


@pytest.mark.slow
def test_a_joblib_multirun_does_not_collide(tmp_path: Path) -> None:
    """Two sweep jobs at once through Hydra's joblib launcher: one folder each, one cache.

    Slow (about 30 s: two worker processes each start Python and torch); the same-second
    collision itself is tested in the default suite by the test above."""
    sweep = ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "model=rnn,gru"]
    done = run_cli("musegen.train", *sweep, *quick_run(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    (sweep,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    models = {json.loads((sweep / job / "metrics.json").read_text())["model"] for job in "01"}
    assert models == {"rnn", "gru"}
    entries = [e for e in (tmp_path / "data" / "cache").iterdir() if not e.name.startswith(".")]
    assert len(entries) == 1


# --- 2. last.ckpt -----------------------------------------------------------------------


class WorseAfterFirstEpoch(L.Callback):
    """Training that gets worse: a learning rate of 5 from the second epoch on."""

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch >= 1:
            for group in trainer.optimizers[0].param_groups:
                group["lr"] = 5.0


def test_last_ckpt_holds_the_last_epoch_when_it_did_not_improve(
    session_data_dir: Path, tmp_path: Path
) -> None:
    cfg = compose_config(
        small(session_data_dir, "trainer.max_epochs=3", "evaluate.enabled=false"),
        output_dir=str(tmp_path),
    )
    metrics = train(cfg, extra_callbacks=[WorseAfterFirstEpoch()])
    with open(tmp_path / "csv" / "metrics.csv") as fh:
        val = [float(r["val/loss"]) for r in csv.DictReader(fh) if r["val/loss"]]
    # the premise: epochs 2 and 3 were worse (the 4th value re-validates the best checkpoint)
    assert len(val) == 4 and val[0] < min(val[1], val[2]) and val[3] == val[0]
    assert Path(metrics["best_ckpt"]).name.startswith("epoch_000")
    last = read_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    assert last["global_step"] == metrics["global_step"] == 12
    assert last["epoch"] == 2


# --- 3. a damaged npz -------------------------------------------------------------------


@pytest.fixture()
def lpd_with_a_damaged_file(tmp_path: Path) -> Path:
    root = tmp_path / "lpd"
    root.mkdir()
    shutil.copy(need(LPD5_FILE), root / "good5.npz")
    shutil.copy(need(LPD17_FILE), root / "good17.npz")
    damaged(LPD5_FILE, root / "damaged.npz")
    return root


def test_a_damaged_npz_is_skipped_and_reported(
    lpd_with_a_damaged_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dm = NoteDataModule(
        source="lpd5",
        root=str(lpd_with_a_damaged_file),
        data_dir=str(tmp_path / "data"),
        split=[0.5, 0.0, 0.5],
        progress=False,
    )
    with caplog.at_level("WARNING"):
        dm.prepare_data()
    meta = json.loads((dm.entry / "meta.json").read_text())
    assert meta["files"] == 3 and len(meta["skipped"]) == 1
    assert meta["skipped"][0].startswith(str(lpd_with_a_damaged_file / "damaged.npz"))
    assert "not a readable npz file" in meta["skipped"][0]
    assert sum(s["songs"] for s in meta["splits"].values()) == 2
    assert "skipped 1 of 3 song files" in caplog.text

    done = run_cli("musegen.data.inspect", str(lpd_with_a_damaged_file))
    assert done.returncode == 0 and "Traceback" not in done.stderr
    out = json.loads(done.stdout)
    assert out["files"] == 2 and [s["path"] for s in out["skipped"]] == [
        str(lpd_with_a_damaged_file / "damaged.npz")
    ]


def test_a_folder_of_only_damaged_files_says_so(tmp_path: Path) -> None:
    root = tmp_path / "bad"
    root.mkdir()
    damaged(need(LPD5_FILE), root / "a.npz")
    cfg = compose_config(
        [*small(tmp_path / "data"), "data=lpd5", f"data.root={root}"], output_dir=str(tmp_path)
    )
    with pytest.raises(DataSourceError, match=r"none of the 1 song files could be read") as info:
        train(cfg)
    assert "\n" not in str(info.value) and "too short" not in str(info.value)


# --- 4. read-only destinations ----------------------------------------------------------


@pytest.mark.parametrize("module", ["musegen.generate", "musegen.evaluate"])
def test_a_read_only_out_dir_stops_before_any_work(
    module: str, read_only_dir: Path, tmp_path: Path
) -> None:
    # The checkpoint does not even exist: the destination is checked before anything loads.
    done = run_cli(
        module,
        "ckpt_path=/nowhere/last.ckpt",
        f"out_dir={read_only_dir}",
        f"paths.log_dir={tmp_path}",  # Hydra's run folder
    )
    line = one_line_error(done)
    assert line.startswith(f"error: out_dir={read_only_dir}: cannot write there")


def test_a_read_only_convert_destination_is_reported_once(read_only_dir: Path) -> None:
    """Once, before any file is converted, not once per file."""
    done = run_cli("musegen.data.convert", str(need(LMD_MIDI)), str(read_only_dir), "--quiet")
    line = one_line_error(done)
    assert line.startswith(f"convert: dest={read_only_dir}: cannot write there")


# --- 5. data=midi on an empty folder ----------------------------------------------------


def test_midi_source_on_an_empty_folder_is_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    cfg = compose_config(
        [*small(tmp_path / "data"), "data=midi", f"data.root={empty}"], output_dir=str(tmp_path)
    )
    with pytest.raises(DataSourceError, match=r"^data\.root=.*no MIDI files") as info:
        train(cfg)
    assert "\n" not in str(info.value)


# --- 7. a run folder is data, not code --------------------------------------------------


@pytest.mark.parametrize(
    "crafted",
    [
        {"root": {"_target_": "pathlib.Path.touch", "_args_": ["PWNED"]}},
        {"_target_": "pathlib.Path.touch", "_args_": ["PWNED"]},
    ],
)
@pytest.mark.parametrize("module", ["musegen.generate", "musegen.evaluate"])
def test_a_crafted_run_config_calls_nothing(
    module: str, crafted: dict, tiny_run: Path, tmp_path: Path
) -> None:
    run = tmp_path / "downloaded-run"
    shutil.copytree(tiny_run, run)
    pwned = tmp_path / "pwned"
    config = OmegaConf.load(run / ".hydra" / "config.yaml")
    payload = json.loads(json.dumps(crafted).replace("PWNED", str(pwned)))
    config.data = OmegaConf.merge(config.data, payload) if "root" in payload else payload
    OmegaConf.save(config, run / ".hydra" / "config.yaml")
    done = run_cli(
        module,
        f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}",
        f"out_dir={tmp_path / 'out'}",
        f"paths.log_dir={tmp_path}",  # Hydra's run folder
    )
    line = one_line_error(done)
    assert "refusing" in line
    assert not pwned.exists()


# --- 8. messages ------------------------------------------------------------------------


def test_a_checkpoint_that_is_not_one_is_named_without_unsafe_advice(tmp_path: Path) -> None:
    random_bytes = tmp_path / "random.ckpt"
    random_bytes.write_bytes(os.urandom(5000))
    evil = tmp_path / "evil.ckpt"

    class Payload:
        def __reduce__(self):
            return (os.system, ("true",))

    torch.save({"state_dict": Payload()}, evil)
    for path, expected in ((random_bytes, "not a checkpoint file"), (evil, "refused")):
        with pytest.raises(CheckpointError, match=expected) as info:
            read_checkpoint(path)
        message = str(info.value)
        assert "weights_only" not in message and "\n" not in message


def test_an_unknown_config_key_is_one_line_exit_2() -> None:
    line = one_line_error(run_cli("musegen.train", "task.loss_weights.foo=1.0"))
    assert line.startswith("error: task.loss_weights.foo=1.0: no key task.loss_weights.foo")


def test_a_sampling_setting_that_is_not_a_number_is_named() -> None:
    from musegen.config_checks import ConfigError, compose_checked
    from musegen.generate import check_settings

    for override, key in (
        ("sampling.temperature=abc", "sampling.temperature"),
        ("sampling.top_k=1.5", "sampling.top_k"),
        ("num_notes=0", "num_notes"),
    ):
        cfg = compose_checked("generate", [override, "ckpt_path=x"])
        with pytest.raises(ConfigError, match=rf"^{key} must be"):
            check_settings(cfg)
    with pytest.raises(ConfigError, match=r"^ckpt_path is required: ckpt_path=<run>"):
        check_settings(compose_checked("generate", []))


def test_resuming_with_other_tracks_names_them(tiny_ckpt: Path) -> None:
    stored = NoteNetConfig.from_dict(read_checkpoint(tiny_ckpt)["musegen"]["network"])
    expected = replace(stored, track_names=("Drums", "Piano"), n_tracks=2)
    with pytest.raises(
        CheckpointError, match=r"data\.tracks=\[Piano\], this run has \[Drums, Piano\]"
    ):
        check_compatible(tiny_ckpt, expected)


# --- 9. evaluating on other music -------------------------------------------------------
@pytest.mark.slow  # ~12 s: an evaluation on the Lakh folder
def test_evaluate_on_a_whole_other_folder(tiny_ckpt: Path, lmd_lpd5: Path, tmp_path: Path) -> None:
    """``data.root=`` (no ``+``) and ``data.split=test``: every song of another collection is
    a test song, although the checkpoint's run split its own data 70/10/20."""
    subset = tmp_path / "lakh"
    subset.mkdir()
    for f in sorted(lmd_lpd5.glob("*.npz"))[:12]:
        shutil.copy(f, subset / f.name)
    out = tmp_path / "eval"
    done = run_cli(
        "musegen.evaluate",
        f"ckpt_path={tiny_ckpt}",
        "data.source=lpd5",
        f"data.root={subset}",
        "data.split=test",
        "data.max_songs=null",
        f"paths.data_dir={tmp_path / 'data'}",
        "max_songs=4",
        "max_notes=32",
        "scratch_samples=4",
        "scratch_bars=2",
        "reference_samples=8",
        "num_samples=0",
        f"out_dir={out}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "evaluation.json").read_text())
    assert report["songs"] == 4 and report["reference"] == "test"
    assert report["test"]["test/pitch_loss"] > 0
    entry = next(p for p in (tmp_path / "data" / "cache").iterdir() if not p.name.startswith("."))
    meta = json.loads((entry / "meta.json").read_text())
    assert meta["splits"]["test"]["songs"] == 12 and meta["splits"]["train"]["songs"] == 0


# --- sweeps, SIGTERM, non-finite losses, the last tracebacks -------------------------------
@pytest.mark.slow  # ~22 s: a CLI sweep (test_compare's sweep also has a failed job)
def test_a_sweep_with_a_failed_job_runs_the_rest_and_compares_them(tmp_path: Path) -> None:
    """The jobs with ``data.seq_len=0`` fail with a user error: each is recorded in its folder,
    the other jobs still run, the comparison names the failures, the sweep's exit code is 1."""
    sweep = tmp_path / "sweep"
    done = run_cli(
        "musegen.train",
        "-m",
        "experiment=compare",
        "model=rnn",
        "seed=1",
        "data.seq_len=0,25",
        f"hydra.sweep.dir={sweep}",
        *quick_run(tmp_path),
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    jobs = sorted(p for p in sweep.iterdir() if p.name.isdigit())
    failed = [j for j in jobs if (j / "failed.json").is_file()]
    finished = [j for j in jobs if (j / "metrics.json").is_file()]
    assert failed and finished and len(failed) + len(finished) == len(jobs)
    for job in failed:
        record = json.loads((job / "failed.json").read_text())
        assert record["error"].startswith("data.seq_len must be") and record["kind"] == "user error"
    for job in finished:
        assert json.loads((job / "metrics.json").read_text())["status"] == "finished"
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {len(failed)} sweep job(s) failed: job {failed[0].name} (")
    md = (sweep / "comparison.md").read_text()
    assert f"{len(jobs)} runs ({len(failed)} failed)" in md
    assert "**failed**: data.seq_len must be" in md


def test_a_job_that_raises_is_recorded_with_its_traceback(tmp_path: Path) -> None:
    from musegen import sweeps

    def bug() -> None:
        raise RuntimeError("a bug in the job")

    # NaN: what musegen.train gives a sweeper (Optuna) for a failed job
    assert math.isnan(sweeps.run_job(bug, tmp_path, failed_value=float("nan")))
    record = json.loads((tmp_path / "failed.json").read_text())
    assert record["error"] == "a bug in the job" and "RuntimeError" in record["traceback"]
    assert sweeps.read_failure(tmp_path) == "a bug in the job"


@pytest.mark.slow  # ~19 s: a CLI training killed and resumed
def test_sigterm_is_exit_code_143_and_one_line(tmp_path: Path) -> None:
    """The CLI, killed as SLURM's time limit kills it: a non-zero exit a script can see."""
    args = [*quick_run(tmp_path), "trainer.max_epochs=50", "trainer.limit_train_batches=5"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "musegen.train", *args, f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = tmp_path / "run" / "csv" / "metrics.csv"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.is_file() and log.read_text().count("\n") > 3):
        time.sleep(0.2)  # training has logged a few steps
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-2000:]
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: stopped by SIGTERM at step ")
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["status"] == "interrupted"


@pytest.mark.slow  # ~15-40 s on 2 cores: a CLI training until the loss overflows
def test_a_diverging_run_stops_in_one_line_and_keeps_no_nan_checkpoint(tmp_path: Path) -> None:
    done = run_cli(
        "musegen.train",
        *quick_run(tmp_path),
        "task.optimizer.lr=1e36",
        "trainer.gradient_clip_val=null",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    line = last_line_error(done)
    assert line.startswith("error: training stopped at step ") and " training loss is " in line
    assert "task.optimizer.lr" in line
    text = (tmp_path / "run" / "metrics.json").read_text()
    assert "NaN" not in text and "Infinity" not in text  # strict JSON
    assert json.loads(text)["status"] == "failed"
    names = [p.name for p in (tmp_path / "run" / "checkpoints").glob("*.ckpt")]
    assert not any("nan" in n or "inf" in n for n in names), names


@pytest.mark.slow  # ~13 s: a CLI training
def test_adam_overflowing_stops_the_same_way(tmp_path: Path) -> None:
    """The step itself gives infinite weights (no loss was infinite yet)."""
    huge = run_cli(
        "musegen.train",
        *quick_run(tmp_path),
        "task.optimizer.lr=3e38",
        "trainer.gradient_clip_val=null",
    )
    assert last_line_error(huge).startswith("error: training stopped at step ")


def test_generate_refuses_weights_that_are_not_finite(tiny_ckpt: Path, tmp_path: Path) -> None:
    checkpoint = torch.load(tiny_ckpt, weights_only=True)
    key = next(k for k in checkpoint["state_dict"] if k.startswith("net.heads"))
    checkpoint["state_dict"][key][0] = float("nan")
    path = tmp_path / "diverged.ckpt"
    torch.save(checkpoint, path)
    done = run_cli(
        "musegen.generate",
        f"ckpt_path={path}",
        f"out_dir={tmp_path / 'out'}",
        f"paths.log_dir={tmp_path}",  # Hydra's run folder
    )
    assert "weights are not finite" in one_line_error(done)


def test_compare_marks_a_failed_or_malformed_run(tmp_path: Path) -> None:
    from musegen.compare.runs import read_run

    nan_run, list_run = tmp_path / "nan", tmp_path / "list"
    nan_run.mkdir()
    (nan_run / "metrics.json").write_text(
        json.dumps({"status": "failed", "error": "training stopped at step 3: ..."})
    )
    list_run.mkdir()
    (list_run / "metrics.json").write_text("[1, 2]")
    assert read_run(nan_run).error.startswith("failed: training stopped")
    assert "not an object" in read_run(list_run).error


@pytest.mark.slow  # ~65 s in all: a CLI training per case
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["trainer.val_check_interval=1000", "trainer.check_val_every_n_epoch=null"],
            "error: trainer.val_check_interval=1000 is more than the 5 training batches",
        ),
        (["trainer.val_check_interval=1000"], "error: trainer.val_check_interval: "),
        (["seed=99999999999999999999"], "error: seed must be an integer in [0, 4294967295]"),
        (["data.batch_size=10000000"], "error: data.batch_size=10000000 is more than the "),
    ],
)
def test_training_settings_that_cannot_work_are_one_line(
    args: list[str], message: str, tmp_path: Path
) -> None:
    done = run_cli("musegen.train", *quick_run(tmp_path), *args)
    assert last_line_error(done).startswith(message)


def test_a_live_run_folder_is_refused_before_hydra_writes_into_it(tmp_path: Path) -> None:
    from musegen.atomic import run_folder

    run = tmp_path / "run"
    with run_folder(run):  # another live run holds it
        done = run_cli("musegen.train", *quick_run(tmp_path), f"hydra.run.dir={run}")
    line = one_line_error(done)
    assert line.startswith(f"error: hydra.run.dir={run}: another run is writing")
    assert not (run / ".hydra").exists()  # nothing of the second run in the first's folder


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tempo=0"], "tempo must be a number in (0, 1000]"),
        (["tempo=-5"], "tempo must be a number in (0, 1000]"),
        (["out_dir="], "out_dir is empty"),
        (["device=cuda"], "device=cuda: no CUDA device on this machine"),
    ],
)
def test_generate_settings_fail_before_decoding(
    args: list[str], message: str, tiny_ckpt: Path, tmp_path: Path
) -> None:
    if "device=cuda" in args and torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    done = run_cli(
        "musegen.generate",
        f"ckpt_path={tiny_ckpt}",
        "num_notes=5",
        *args,
        f"hydra.run.dir={tmp_path / 'h'}",
    )
    assert message in one_line_error(done)


@pytest.mark.slow  # ~12 s: CLI runs on damaged configs
def test_a_broken_run_config_is_one_line(tiny_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    config = run / ".hydra" / "config.yaml"
    for text, message in (
        ("data: [unclosed\n  key: {", "not a readable run config"),
        ("task_name: train\n", "holds no data section"),
    ):
        config.write_text(text)
        done = run_cli(
            "musegen.evaluate",
            f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}",
            f"out_dir={tmp_path / 'out'}",
            f"paths.log_dir={tmp_path}",  # Hydra's run folder
        )
        assert message in one_line_error(done)


@pytest.mark.slow  # ~12 s: an evaluation and a CLI training on one song
def test_evaluate_on_one_test_song_is_one_line(tiny_ckpt: Path, lmd_lpd5: Path, tmp_path: Path):
    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(sorted(lmd_lpd5.glob("*.npz"))[0], one)
    done = run_cli(
        "musegen.evaluate",
        f"ckpt_path={tiny_ckpt}",
        "data.source=lpd5",
        f"data.root={one}",
        "data.split=test",
        "data.max_songs=null",
        f"paths.data_dir={tmp_path / 'data'}",
        f"out_dir={tmp_path / 'out'}",
        f"paths.log_dir={tmp_path}",  # Hydra's run folder
    )
    assert "needs at least 2" in one_line_error(done)
    # training whose end-of-run evaluation could not score its test split stops before it
    # trains, not after
    few = tmp_path / "few"
    few.mkdir()
    for npz in sorted(lmd_lpd5.glob("*.npz"))[:5]:
        shutil.copy(npz, few)
    train = run_cli(
        "musegen.train",
        *small(tmp_path / "data2", "data.source=lpd5", f"data.root={few}", "data.max_songs=null"),
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert "needs at least 2" in last_line_error(train)
    assert not list((tmp_path / "run").glob("checkpoints/*.ckpt"))


@pytest.mark.slow  # ~60 s: a long decode killed mid-way
def test_sigterm_during_generation_leaves_no_temporary(tiny_ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "musegen.generate",
            f"ckpt_path={tiny_ckpt}",
            "primer=none",
            "num_samples=2",
            "num_notes=400000",
            f"out_dir={out}",
            f"hydra.run.dir={tmp_path / 'h'}",
        ],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline and "Generating notes" not in _peek(proc):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "Traceback" not in err, err[-2000:]
    assert not list(out.rglob(".*.tmp")) and not list(out.glob("sample_*"))


def _peek(proc: subprocess.Popen) -> str:
    """What the process has written to stderr so far (without waiting for it to end)."""
    import fcntl

    fd = proc.stderr.fileno()
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
    try:
        chunk = proc.stderr.read() or ""
    except (BlockingIOError, TypeError):
        chunk = ""
    proc._peeked = getattr(proc, "_peeked", "") + chunk
    return proc._peeked


def test_unreadable_midi_files_are_parsed_once(tmp_path: Path) -> None:
    from musegen.data.convert import SKIPPED, convert_tree

    src = tmp_path / "midi"
    shutil.copytree(need(ROOT.parent / "shared" / "data" / "corrupt_midi"), src)
    shutil.copy(sorted(need(LMD_MIDI).glob("*.mid"))[0], src)
    first = convert_tree(src, tmp_path / "out", workers=1, progress=False)
    assert len(first.skipped) == 2 and len(first.converted) == 1
    assert len(json.loads((tmp_path / "out" / SKIPPED).read_text())) == 2
    again = convert_tree(src, tmp_path / "out", workers=1, progress=False)
    assert all(reason.endswith("(remembered)") for _, reason in again.skipped)
    assert len(again.skipped) == 2 and again.existing == 1
