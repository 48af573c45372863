"""The stop rule, the same for every command (``musegen.errors``): SIGTERM ends a command
with exit code 143 and SIGINT (Ctrl-C) with 130, in one line; a training run saves its record
(``metrics.json``, ``"status": "interrupted"``) and ``checkpoints/interrupted.ckpt`` first,
whichever of the two stopped it, and a sweep stops as a whole.

The in-process tests send real signals to this process; the CLI tests (slow) start real
commands and signal them as a terminal (Ctrl-C to the process group) or a scheduler does.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import lightning as L
import pytest
import torch

from musegen import sweeps
from musegen.errors import (
    Interrupted,
    Stopped,
    Terminated,
    reported,
    run_reported,
    stop_signals,
)
from musegen.models.checkpoint import read_checkpoint
from musegen.train import compose_config
from musegen.training import train
from tests.conftest import ROOT, small

STOPS = [
    pytest.param(signal.SIGTERM, Terminated, 143, id="SIGTERM"),
    pytest.param(signal.SIGINT, Interrupted, 130, id="SIGINT"),
]


class SignalAt(L.Callback):
    """A real signal to this process as training step ``step`` ends, as ``scancel`` or a
    Ctrl-C would send it mid-epoch."""

    def __init__(self, step: int, signum: int = signal.SIGTERM) -> None:
        self.step, self.signum = step, signum

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


def _signal_now(signum: int) -> None:
    """Send ``signum`` to this process and give its handler the chance to run."""
    os.kill(os.getpid(), signum)
    time.sleep(5)  # the handler raises long before this ends
    raise AssertionError(f"signal {signum} did not stop the block")


# --- the rule itself --------------------------------------------------------------------


@pytest.mark.parametrize(("signum", "kind", "code"), STOPS)
def test_a_stop_signal_raises_its_stop_and_the_handlers_come_back(
    signum: int, kind: type[Stopped], code: int
) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    with pytest.raises(kind) as stopped, stop_signals() as stop:
        _signal_now(signum)
    assert stopped.value.exit_code == code and stop.received == signum
    assert not isinstance(stopped.value, Exception)  # no `except Exception` takes it
    assert {s: signal.getsignal(s) for s in before} == before


@pytest.mark.parametrize(("signum", "kind", "code"), STOPS)
def test_every_entry_point_ends_a_stop_in_one_line_with_its_code(
    signum: int, kind: type[Stopped], code: int, capfd: pytest.CaptureFixture[str]
) -> None:
    """``reported`` (Hydra commands) and ``run_reported`` (argparse commands) both install
    the rule: no command needs its own handler."""
    with pytest.raises(SystemExit) as exited, reported("prog", interrupted="stopped early"):
        _signal_now(signum)
    assert exited.value.code == code
    assert run_reported(lambda: _signal_now(signum), "prog", "stopped early") == code
    lines = capfd.readouterr().err.splitlines()
    expected = (
        "prog: stopped early"
        if kind is Interrupted
        else "prog: stopped by SIGTERM; files not yet complete were removed"
    )
    assert lines == [expected, expected]


def test_a_signal_the_process_ignores_stays_ignored() -> None:
    """A command started with SIGINT ignored (a background job of a script) keeps it so."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with stop_signals():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)  # nothing happens
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize(("signum", "kind", "code"), STOPS)
def test_a_stop_ends_a_sweep_job_without_a_failure_record(
    signum: int, kind: type[Stopped], code: int, tmp_path: Path
) -> None:
    def stopped() -> None:
        raise kind("stopped at step 3")

    with pytest.raises(kind):
        sweeps.run_job(stopped, tmp_path, failed_value=float("nan"))
    assert not (tmp_path / sweeps.FAILED).exists()


# --- training, in process ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("signum", "stop", "words", "code"),
    [
        (signal.SIGTERM, Terminated, "stopped by SIGTERM", 143),
        (signal.SIGINT, Interrupted, "interrupted by Ctrl-C", 130),
    ],
)
def test_a_stop_during_training_saves_the_record_and_a_checkpoint_that_resumes(
    session_data_dir: Path,
    tmp_path: Path,
    signum: int,
    stop: type[BaseException],
    words: str,
    code: int,
) -> None:
    """SIGTERM (a time limit, a preemption) and Ctrl-C stop alike: after the step in
    progress, ``interrupted.ckpt`` (mid-epoch: step 4 of the first 6) and the record;
    resuming from it ends with the weights of a run never interrupted."""
    base = small(
        session_data_dir,
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=6",
        "model.net.dropout=0.3",
        "evaluate.enabled=false",
        "test=false",
        "seed=5",
    )
    full, stopped, resumed = tmp_path / "full", tmp_path / "stopped", tmp_path / "resumed"
    train(compose_config(base, output_dir=str(full)))
    saved = stopped / "checkpoints" / "interrupted.ckpt"
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    with pytest.raises(stop) as stopped_by:
        train(compose_config(base, output_dir=str(stopped)), extra_callbacks=[SignalAt(4, signum)])
    assert str(stopped_by.value) == f"{words} at step 4; resume with ckpt_path={saved}"
    assert stopped_by.value.exit_code == code
    record = json.loads((stopped / "metrics.json").read_text())
    assert record["status"] == "interrupted" and record["resume_from"] == str(saved)
    assert record["global_step"] == 4 and read_checkpoint(saved)["global_step"] == 4
    assert {s: signal.getsignal(s) for s in handlers} == handlers  # given back

    metrics = train(compose_config([*base, f"ckpt_path={saved}"], output_dir=str(resumed)))
    assert metrics["global_step"] == 12 and metrics["status"] == "finished"
    a = read_checkpoint(full / "checkpoints" / "last.ckpt")["state_dict"]
    b = read_checkpoint(resumed / "checkpoints" / "last.ckpt")["state_dict"]
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert saved.exists()  # another run's folder: its record names the file


def test_a_run_resumed_in_place_removes_its_stop_point_when_done(
    session_data_dir: Path, tmp_path: Path
) -> None:
    """Resumed into its own folder (a requeued job), ``interrupted.ckpt`` goes once training
    has finished: ``last.ckpt`` holds a later state, and nothing older is left to resume."""
    base = small(
        session_data_dir, "trainer.limit_train_batches=4", "evaluate.enabled=false", "test=false"
    )
    run = tmp_path / "run"
    with pytest.raises(Terminated):
        train(compose_config(base, output_dir=str(run)), extra_callbacks=[SignalAt(2)])
    saved = run / "checkpoints" / "interrupted.ckpt"
    assert read_checkpoint(saved)["global_step"] == 2
    metrics = train(compose_config([*base, f"ckpt_path={saved}"], output_dir=str(run)))
    assert metrics["status"] == "finished" and metrics["global_step"] == 4
    assert not saved.exists()
    assert read_checkpoint(run / "checkpoints" / "last.ckpt")["global_step"] == 4


# --- the commands, as a user or a scheduler stops them (slow) ------------------------------


def _quick(tmp_path: Path) -> list[str]:
    """A training of a few batches a epoch, epochs enough to be stopped mid-way."""
    return [
        "debug=fast",
        "logger=csv",
        "evaluate.enabled=false",
        "trainer.enable_progress_bar=false",
        "trainer.max_epochs=50",
        "trainer.log_every_n_steps=1",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"paths.data_dir={tmp_path / 'data'}",
    ]


def _start(argv: list[str], cwd: Path = ROOT) -> subprocess.Popen:
    return subprocess.Popen(
        argv,
        cwd=cwd,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, like a job in a terminal
    )


def _when_logged(run: Path, proc: subprocess.Popen, steps: int = 3) -> None:
    """Wait until training in ``run`` has logged ``steps`` steps."""
    log = run / "csv" / "metrics.csv"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if log.is_file() and log.read_text().count("\n") > steps:
            return
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"no training steps logged in {run}: {proc.communicate()[1][-2000:]}")


def _last_line(err: str) -> str:
    assert "Traceback" not in err, err[-3000:]
    return err.strip().splitlines()[-1]


@pytest.mark.slow  # ~30 s each on 2 cores: a CLI sweep of two jobs, stopped in the first
@pytest.mark.parametrize(("signum", "kind", "code"), STOPS)
def test_a_stop_ends_a_sweep_as_a_whole(
    signum: int, kind: type[Stopped], code: int, tmp_path: Path
) -> None:
    """No job starts after the stop; the stopped job keeps its record and checkpoint. The
    signal goes to the process group, as ``scancel`` or a terminal sends it."""
    sweep = tmp_path / "sweep"
    proc = _start(
        [
            sys.executable,
            "-m",
            "musegen.train",
            "-m",
            "seed=1,2",
            f"hydra.sweep.dir={sweep}",
            *_quick(tmp_path),
            "data.num_workers=1",  # signalled with the group, it must outlive the step
        ]
    )
    _when_logged(sweep / "0", proc)
    os.killpg(proc.pid, signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err[-3000:]
    saved = sweep / "0" / "checkpoints" / "interrupted.ckpt"
    assert _last_line(err).startswith(f"error: {kind.by} at step ")
    assert _last_line(err).endswith(f"; resume with ckpt_path={saved}")
    record = json.loads((sweep / "0" / "metrics.json").read_text())
    assert record["status"] == "interrupted" and record["resume_from"] == str(saved)
    assert read_checkpoint(saved)["global_step"] == record["global_step"] > 0
    assert not (sweep / "1").exists()  # the second job never started
    assert not (sweep / "0" / sweeps.FAILED).exists()


@pytest.mark.slow  # ~20 s on 2 cores: a CLI training, Ctrl-C to its process group
def test_ctrl_c_ends_a_cli_training_with_130_its_record_and_checkpoint(tmp_path: Path) -> None:
    """As a terminal sends it, to every process of the group: the DataLoader's worker too,
    which must not die before the step in progress ends."""
    run = tmp_path / "run"
    proc = _start(
        [
            sys.executable,
            "-m",
            "musegen.train",
            *_quick(tmp_path),
            "data.num_workers=1",
            f"hydra.run.dir={run}",
        ]
    )
    _when_logged(run, proc)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    saved = run / "checkpoints" / "interrupted.ckpt"
    last = _last_line(err)
    assert last.startswith("error: interrupted by Ctrl-C at step ") and str(saved) in last
    record = json.loads((run / "metrics.json").read_text())
    assert record["status"] == "interrupted" and record["resume_from"] == str(saved)
    assert read_checkpoint(saved)["global_step"] == record["global_step"] > 0


# Sends a real signal to the evaluation's own process once its test pass has begun: a
# callback added to the Trainer that ``musegen.evaluate`` builds (the only change to it).
_SIGNAL_IN_TEST_PASS = textwrap.dedent(
    """
    import os, signal
    import lightning as L

    class SignalInTestPass(L.Callback):
        def on_test_batch_start(self, *args):
            os.kill(os.getpid(), int(os.environ["STOP_SIGNAL"]))

    build = L.Trainer.__init__
    def with_signal(self, *args, callbacks=None, **kwargs):
        build(self, *args, callbacks=[*(callbacks or []), SignalInTestPass()], **kwargs)
    L.Trainer.__init__ = with_signal

    import runpy
    runpy.run_module("musegen.evaluate", run_name="__main__", alter_sys=True)
    """
)


@pytest.mark.slow  # ~12 s each on 2 cores: an evaluation stopped in its test pass
@pytest.mark.parametrize(("signum", "kind", "code"), STOPS)
def test_a_stop_during_evaluations_test_pass_is_one_line_and_its_code(
    signum: int,
    kind: type[Stopped],
    code: int,
    tiny_ckpt: Path,
    session_data_dir: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "eval"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _SIGNAL_IN_TEST_PASS,
            f"ckpt_path={tiny_ckpt}",
            f"out_dir={out}",
            f"paths.data_dir={session_data_dir}",
            "max_songs=4",
            "max_notes=32",
            "num_samples=0",
            "audio=false",
            f"hydra.run.dir={tmp_path / 'hydra'}",
        ],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1", "STOP_SIGNAL": str(int(signum))},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == code, done.stderr[-3000:]
    assert "KeyboardInterrupt" not in done.stderr
    expected = "interrupted" if kind is Interrupted else "stopped by SIGTERM"
    assert _last_line(done.stderr).startswith(f"error: {expected}")
    assert not list(out.rglob(".*.tmp")) and not (out / "evaluation.json").exists()


@pytest.mark.slow  # ~20 s on 2 cores: a long decode, Ctrl-C to its process group
def test_ctrl_c_ends_generation_with_130_and_leaves_nothing(tiny_ckpt: Path, tmp_path: Path):
    out = tmp_path / "out"
    proc = _start(
        [
            sys.executable,
            "-m",
            "musegen.generate",
            f"ckpt_path={tiny_ckpt}",
            "primer=none",
            "num_samples=2",
            "num_notes=400000",
            "audio=false",
            f"out_dir={out}",
            f"hydra.run.dir={tmp_path / 'h'}",
        ]
    )
    # Decoding: its progress bar is drawn only at the end on a pipe, so wait instead for
    # more CPU time than starting and loading take (~4 s); 800,000 notes take minutes.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and _cpu_seconds(proc.pid) < 10:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)
    out_text, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out_text + err)[-3000:]
    assert _last_line(err) == "error: interrupted"
    assert not list(out.rglob(".*.tmp")) and not list(out.glob("sample_*"))


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) that process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
