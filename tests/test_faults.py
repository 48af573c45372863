"""Fault injection: every writer of a file that a later run reads, killed at random points.

For each writer (MIDI conversion, the Bach build, the note cache, training's checkpoints and
``metrics.json``, generation's samples, evaluation's report) a real process is started and
interrupted twice in the same output folder:

1. SIGKILL the moment its first temporary appears (the writer is mid-file);
2. SIGINT (Ctrl-C, to the whole process group as a terminal sends it) at a random time
   within the span of an uninterrupted run;

after each, nothing half-written may be readable (every file under its final name parses).
Then it runs once more, to the end: no temporary may survive, and the result must equal an
uninterrupted run's. A Ctrl-C must end in at most a couple of lines, never a traceback.

The random times come from ``random.Random(FAULT_SEED)`` (``MUSEGEN_FAULT_SEED`` to vary them);
a failure names the seed and the time. These tests start about 30 processes, about 3 minutes
on 2 cores, so they are in the slow suite (``make test-slow``), except the MIDI conversion's,
which runs in the default suite.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from musegen.data.lpd_io import read_lpd_npz
from musegen.data.pianoroll_notes import song_to_notes
from musegen.models.checkpoint import read_checkpoint
from tests.conftest import LMD_MIDI, ROOT, need, small

FAULT_SEED = int(os.environ.get("MUSEGEN_FAULT_SEED", "2026"))


@dataclass
class Writer:
    """One writer under test: its command and how to read what it leaves in ``out``."""

    name: str
    command: Callable[[Path], list[str]]  # the argv, given the output folder
    watch: Callable[[Path], list[Path]]  # folders where its temporaries appear
    read: Callable[[Path], dict]  # everything it wrote under final names, parsed
    resume: Callable[[Path], list[str]] | None = None  # argv to run again, if not the same
    cli: bool = True  # a command-line entry point (Ctrl-C must be one line, no traceback)


def _temporaries(out: Path) -> list[Path]:
    return sorted(out.rglob(".*.tmp")) if out.exists() else []


def _start(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        argv,
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, like a job in a terminal
    )


def _finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    """Exit code and everything printed (stdout, where Hydra sends logs, then stderr)."""
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out.decode(errors="replace") + err.decode(errors="replace")


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:  # already done
        pass


def _first_temporary(proc: subprocess.Popen, folders: list[Path], deadline: float) -> bool:
    """Poll (every millisecond) until a temporary exists in ``folders``; False if the
    process ended first."""
    while time.monotonic() < deadline and proc.poll() is None:
        for folder in folders:
            try:
                with os.scandir(folder) as entries:
                    if any(e.name.startswith(".") and e.name.endswith(".tmp") for e in entries):
                        return True
            except FileNotFoundError:
                continue
        time.sleep(0.001)
    return False


def _check_interrupt_output(code: int, err: str, when: str) -> None:
    if code == 0:  # it finished before the signal landed: nothing to check
        return
    assert "Traceback" not in err, f"{when}: Ctrl-C gave a traceback:\n{err[-3000:]}"
    lines = [ln for ln in err.splitlines() if "interrupt" in ln.lower()]
    assert lines, f"{when}: exit {code} without saying it was interrupted:\n{err[-2000:]}"


def exercise(writer: Writer, tmp_path: Path) -> None:
    """Reference run, SIGKILL at the first temporary, SIGINT at a random time, final run."""
    rng = random.Random(f"{FAULT_SEED}-{writer.name}")
    ref_out = tmp_path / "reference"
    start = time.monotonic()
    code, err = _finish(_start(writer.command(ref_out)))
    span = time.monotonic() - start
    assert code == 0, err[-3000:]
    reference = writer.read(ref_out)
    assert reference, f"{writer.name}: the uninterrupted run wrote nothing"

    out = tmp_path / "interrupted"
    proc = _start(writer.command(out))
    killed = _first_temporary(proc, writer.watch(out), time.monotonic() + 300)
    _signal_group(proc, signal.SIGKILL)
    _finish(proc)
    writer.read(out)  # whatever is there under a final name parses

    delay = rng.uniform(0.3, 1.0) * span
    when = f"{writer.name}: SIGINT after {delay:.2f} s (seed {FAULT_SEED})"
    proc = _start((writer.resume or writer.command)(out))
    time.sleep(delay)
    _signal_group(proc, signal.SIGINT)
    code, err = _finish(proc)
    if writer.cli:
        _check_interrupt_output(code, err, when)
    writer.read(out)

    code, err = _finish(_start((writer.resume or writer.command)(out)))
    assert code == 0, f"{writer.name}: the run after the interruptions failed:\n{err[-3000:]}"
    assert not _temporaries(out), f"{writer.name}: temporaries survived: {_temporaries(out)}"
    _assert_same(writer.read(out), reference, writer.name)
    assert killed, f"{writer.name}: no temporary ever appeared to kill the writer at"


def _assert_same(got: dict, expected: dict, name: str) -> None:
    assert got.keys() == expected.keys(), f"{name}: {sorted(got)} vs {sorted(expected)}"
    for key, value in expected.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(got[key], value, err_msg=f"{name}: {key}")
        else:
            assert got[key] == value, f"{name}: {key}"


# --- the writers ------------------------------------------------------------------------


def _read_npz_tree(out: Path) -> dict:
    return {
        str(p.relative_to(out)): song_to_notes(read_lpd_npz(p))
        for p in sorted(out.rglob("*.npz"))
        if not p.name.startswith(".")
    }


def convert_writer() -> Writer:
    src = need(LMD_MIDI)
    return Writer(
        "convert",
        command=lambda out: [
            sys.executable,
            "-m",
            "musegen.data.convert",
            str(src),
            str(out),
            "--workers",
            "2",
        ],
        watch=lambda out: [out],
        read=_read_npz_tree,
    )


def bach_writer() -> Writer:
    code = (
        "import sys; from musegen.data.bach import build_bach; "
        "build_bach(sys.argv[1], max_songs=16, workers=2, progress=False)"
    )
    return Writer(
        "bach",
        command=lambda out: [sys.executable, "-c", code, str(out)],
        watch=lambda out: [out],
        read=_read_npz_tree,
        cli=False,
    )


def cache_writer(lpd_root: Path) -> Writer:
    code = (
        "import sys; from musegen.data.datamodule import NoteDataModule; "
        "NoteDataModule(source='lpd5', root=sys.argv[1], data_dir=sys.argv[2], "
        "build_workers=2, progress=False).prepare_data()"
    )

    def read(out: Path) -> dict:
        cache = out / "cache"
        found = {}
        for entry in sorted(cache.iterdir()) if cache.exists() else []:
            if entry.name.startswith("."):
                continue
            meta = json.loads((entry / "meta.json").read_text())  # a visible entry is whole
            for split, counts in meta["splits"].items():
                offsets = np.fromfile(entry / split / "offsets.bin", dtype=np.int64)
                assert offsets[-1] == counts["notes"] and len(offsets) == counts["songs"] + 1
                for column in sorted((entry / split).glob("*.bin")):
                    found[f"{split}/{column.name}"] = np.fromfile(column, dtype=np.uint8)
        return found

    return Writer(
        "note cache",
        command=lambda out: [sys.executable, "-c", code, str(lpd_root), str(out)],
        watch=lambda out: [out / "cache"],
        read=read,
        cli=False,
    )


def train_writer(data_dir: Path) -> Writer:
    base = [
        *small(data_dir, "trainer.max_epochs=3", "trainer.limit_train_batches=8"),
        "evaluate.enabled=false",
        "model.net.dropout=0.3",
        "seed=3",
    ]

    def command(out: Path) -> list[str]:
        return [sys.executable, "-m", "musegen.train", *base, f"hydra.run.dir={out}"]

    def resume(out: Path) -> list[str]:
        last = out / "checkpoints" / "last.ckpt"
        return command(out) + ([f"ckpt_path={last}"] if last.exists() else [])

    def read(out: Path) -> dict:
        found = {}
        for ckpt in sorted((out / "checkpoints").glob("*.ckpt")):
            state = read_checkpoint(ckpt)  # every checkpoint under its name loads
            if ckpt.name == "last.ckpt":
                for key, value in state["state_dict"].items():
                    found[f"last/{key}"] = value.numpy()
        if (out / "metrics.json").exists():
            metrics = json.loads((out / "metrics.json").read_text())
            found["global_step"] = metrics["global_step"]
            if metrics["status"] == "interrupted":  # a Ctrl-C's record: where it stopped
                assert (out / "checkpoints" / "interrupted.ckpt").exists() or (
                    metrics["resume_from"] is None
                )
            else:
                found["test/pitch_loss"] = metrics["test/pitch_loss"]
        return found

    return Writer(
        "train",
        command=command,
        resume=resume,
        watch=lambda out: [out / "checkpoints", out],
        read=read,
    )


def _sample_sets(out: Path) -> dict:
    """Each sample's npz notes; a sample's MIDI, npz and PNG exist together or not at all."""
    import pretty_midi
    from PIL import Image

    found = {}
    stems = {p.stem for p in out.glob("*.npz") if not p.name.startswith(".")}
    stems |= {p.stem for p in out.glob("*.mid") if not p.name.startswith(".")}
    for stem in sorted(stems):
        files = {s: out / f"{stem}.{s}" for s in ("mid", "npz", "png")}
        assert all(f.exists() for f in files.values()), f"a partial sample set: {stem}"
        pretty_midi.PrettyMIDI(str(files["mid"]))
        Image.open(files["png"]).verify()
        found[stem] = song_to_notes(read_lpd_npz(files["npz"]))
    return found


def generate_writer(ckpt: Path) -> Writer:
    def read(out: Path) -> dict:
        found = _sample_sets(out)
        if (out / "generation.json").exists():
            summary = json.loads((out / "generation.json").read_text())
            found["generation.json"] = [s["notes"] for s in summary["samples"]]
        return found

    return Writer(
        "generate",
        command=lambda out: [
            sys.executable,
            "-m",
            "musegen.generate",
            f"ckpt_path={ckpt}",
            f"out_dir={out}",
            "primer=none",
            "num_samples=6",
            "num_notes=300",
            "audio=false",
            f"hydra.run.dir={out}/hydra",
        ],
        watch=lambda out: [out],
        read=read,
    )


def evaluate_writer(ckpt: Path, data_dir: Path) -> Writer:
    def read(out: Path) -> dict:
        found = {f"samples/{k}": v for k, v in _sample_sets(out / "samples").items()}
        if (out / "evaluation.json").exists():
            report = json.loads((out / "evaluation.json").read_text())
            found["similarity"] = json.dumps(report["similarity"], sort_keys=True)
            found["kinds"] = json.dumps(report["kinds"], sort_keys=True)
        if (out / "evaluation.md").exists():
            found["md"] = (out / "evaluation.md").read_text().count("\n")
        return found

    return Writer(
        "evaluate",
        command=lambda out: [
            sys.executable,
            "-m",
            "musegen.evaluate",
            f"ckpt_path={ckpt}",
            f"out_dir={out}",
            f"paths.data_dir={data_dir}",
            "max_songs=8",
            "max_notes=64",
            "num_samples=2",
            "audio=false",
            f"hydra.run.dir={out}/hydra",
        ],
        watch=lambda out: [out, out / "samples"],
        read=read,
    )


# --- the tests --------------------------------------------------------------------------


def test_convert_survives_kill_and_ctrl_c(tmp_path: Path) -> None:
    exercise(convert_writer(), tmp_path)


@pytest.mark.slow
def test_bach_build_survives_kill_and_ctrl_c(tmp_path: Path) -> None:
    exercise(bach_writer(), tmp_path)


@pytest.mark.slow
def test_note_cache_survives_kill_and_ctrl_c(lmd_lpd5: Path, tmp_path: Path) -> None:
    exercise(cache_writer(lmd_lpd5), tmp_path)


@pytest.mark.slow
def test_training_checkpoints_and_metrics_survive_kill_and_ctrl_c(
    session_data_dir: Path, tmp_path: Path
) -> None:
    exercise(train_writer(session_data_dir), tmp_path)


@pytest.mark.slow
def test_generated_samples_survive_kill_and_ctrl_c(tiny_ckpt: Path, tmp_path: Path) -> None:
    exercise(generate_writer(tiny_ckpt), tmp_path)


@pytest.mark.slow
def test_evaluation_report_survives_kill_and_ctrl_c(
    tiny_ckpt: Path, session_data_dir: Path, tmp_path: Path
) -> None:
    exercise(evaluate_writer(tiny_ckpt, session_data_dir), tmp_path)


def _descendants(pid: int) -> list[int]:
    """The processes under ``pid`` (its children, theirs, ...)."""
    try:
        import psutil
    except ImportError:  # read every process's parent from /proc
        parents = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
        found, frontier = [], {pid}
        while frontier:
            frontier = {child for child, parent in parents.items() if parent in frontier}
            found += sorted(frontier)
        return found
    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie has ended: in a container nobody may reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_workers_end_when_their_parent_is_killed(tmp_path: Path) -> None:
    """``kill -9`` of ``convert`` mid-way: its worker processes, and the resource tracker of
    ``multiprocessing`` that they keep open, end within seconds instead of waiting, blocked,
    for jobs that never come (the same pool builds the Bach files and the note cache)."""
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [*convert_writer().command(out), "--quiet"],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,  # no pipe that a process left behind could hold open
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    watched: list[int] = []
    while time.monotonic() < deadline and proc.poll() is None:
        watched = [pid for pid in _descendants(proc.pid) if _running(pid)]
        if len(watched) >= 3 and any(out.rglob("*.npz")):  # both workers busy, the tracker
            break
        time.sleep(0.05)
    assert proc.poll() is None and len(watched) >= 3, "the conversion ended before its kill"
    proc.kill()  # the parent only, as `kill -9 <pid>` or the kernel's OOM killer does
    proc.wait()
    deadline = time.monotonic() + 5
    while any(_running(pid) for pid in watched) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in watched if _running(pid)]
    for pid in left:  # leave nothing behind for the next test
        os.kill(pid, signal.SIGKILL)
    assert not left, f"still running 5 s after their parent was killed: {left}"


def test_stale_temporaries_of_dead_writers_go_and_live_ones_stay(tmp_path: Path) -> None:
    """``clean_stale`` removes a killed process's temporaries and keeps a running one's."""
    from musegen.atomic import HOST_TAG, clean_stale

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale_file = tmp_path / f".a.npz.{HOST_TAG}-{dead}.abc123.tmp"
        stale_dir = tmp_path / f".0123abcd.{HOST_TAG}-{dead}.xyz789.tmp"
        live_file = tmp_path / f".b.npz.{HOST_TAG}-{sleeper.pid}.def456.tmp"
        foreign = tmp_path / f".c.npz.00000000-{dead}.ghi012.tmp"  # another machine's
        other = tmp_path / ".notes.tmp"  # not named by musegen: never touched
        stale_file.write_bytes(b"half")
        stale_dir.mkdir()
        (stale_dir / "train").mkdir()
        for path in (live_file, foreign, other):
            path.write_bytes(b"x")
        removed = clean_stale(tmp_path)
        assert sorted(removed) == sorted([stale_file, stale_dir])
        assert live_file.exists() and foreign.exists() and other.exists()
        old = time.time() - 2 * 24 * 3600
        os.utime(foreign, (old, old))  # a day-old foreign temporary is abandoned
        assert clean_stale(tmp_path) == [foreign]
    finally:
        sleeper.kill()
        sleeper.wait()
    shutil.rmtree(tmp_path, ignore_errors=True)
