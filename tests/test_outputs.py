"""What ``generate`` and ``evaluate`` leave in their folder: one run's files, whole.

A run that fails or is stopped half-way leaves the folder exactly as the previous run left
it; one that ends replaces the previous run's files as a set (``atomic.output_set``). Also:
Ogg audio without ``soundfile`` stops before any work, the progress bar ends at its total,
the notes the files hold are recorded, a silent piece gets no audio player, a checkpoint
without its run folder is evaluated on the data given, and every committed JSON is strict.

Most tests run in-process on the small checkpoints of ``tests/fixtures/checkpoints``; the
one that sends a real SIGTERM to a real generation is marked slow.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from musegen.config_checks import compose_checked
from musegen.data.lpd_io import read_lpd_npz
from musegen.data.pianoroll_notes import NOTE_DTYPE, song_to_notes
from musegen.errors import Terminated, UserError
from musegen.generate import run_generation
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "checkpoints"
PIANO = FIXTURES / "format1_regression_lstm_piano.ckpt"
"""A tiny LSTM trained on Bach's chorales (one track, Piano), saved without its run folder."""


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative name -> bytes)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def temporaries(folder: Path) -> list[Path]:
    return sorted(folder.rglob(".*.tmp"))


def generate(out: Path, *args: str) -> dict:
    argv = [f"ckpt_path={PIANO}", f"out_dir={out}", "primer=none", "audio=false", *args]
    return run_generation(compose_checked("generate", argv), argv)


def evaluate(*args: str) -> dict:
    """``python -m musegen.evaluate <args>``'s work, in this process."""
    from musegen.evaluate import run_evaluation
    from musegen.generation.runs import data_override_args

    argv = data_override_args(list(args))  # data.<key>= as the entry point passes them
    return run_evaluation(compose_checked("evaluate", argv), argv)


def fail_on_call(module: object, name: str, call: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """``module.<name>`` raises ``Terminated`` (as the SIGTERM handler does) on its
    ``call``-th call, after the earlier calls wrote their files."""
    real = getattr(module, name)
    calls = []

    def wrapper(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == call:
            raise Terminated("stopped by SIGTERM; files not yet complete were removed")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)


# --- two runs into one folder --------------------------------------------------------------


def test_a_generation_stopped_half_way_leaves_the_previous_set_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import musegen.generate

    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("the user's own file")  # not generate's: never touched
    first = generate(out, "seed=0", "num_samples=3", "num_notes=24")
    before = snapshot(out)
    assert sorted(before) == ["generation.json", "notes.txt"] + [
        f"sample_{i:03d}.{s}" for i in range(3) for s in ("mid", "npz", "png")
    ]
    fail_on_call(musegen.generate, "write_sample", 2, monkeypatch)  # sample_000 is written
    with pytest.raises(Terminated):
        generate(out, "seed=1", "num_samples=3", "num_notes=24")
    assert snapshot(out) == before  # the old set, byte for byte; nothing of seed 1
    assert not temporaries(out)

    monkeypatch.undo()
    second = generate(out, "seed=1", "num_samples=2", "num_notes=24")
    files = {Path(f).name for s in second["samples"] for f in s["files"].values()}
    assert sorted(p.name for p in out.iterdir()) == sorted(
        {"generation.json", "notes.txt"} | files
    )  # seed 0's sample_002 went with the rest of its set
    assert json.loads((out / "generation.json").read_text())["seed"] == 1
    for record in second["samples"]:
        npz = Path(record["files"]["npz"])
        notes = song_to_notes(read_lpd_npz(npz))
        midi = pretty_midi.PrettyMIDI(record["files"]["mid"])
        assert record["notes_in_files"] == {
            "mid": sum(len(i.notes) for i in midi.instruments),
            "npz": len(notes),
        }
    assert first["samples"][0]["files"]["mid"] == second["samples"][0]["files"]["mid"]
    assert snapshot(out)["sample_000.mid"] != before["sample_000.mid"]  # seed 1's music


def test_an_evaluation_stopped_half_way_leaves_the_previous_report_whole(
    bach_small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``musegen.evaluate`` into a folder holding a report: stopped after its first sample,
    the folder is the old report; finished, the new one replaces all of the old. The callback that
    evaluates at the end of training writes the same way (``EvaluateAfterTest.evaluate``).
    The checkpoint comes without its run folder: the data is given on the command line."""
    import musegen.evaluation.report
    from musegen.data.datamodule import NoteDataModule
    from musegen.evaluation.callback import written_as_one_set

    out = tmp_path / "eval"

    def evaluate_into_out(*args: str) -> dict:
        return evaluate(
            f"ckpt_path={PIANO}",
            f"out_dir={out}",
            f"paths.data_dir={bach_small}",
            "data.source=bach",
            "data.max_songs=24",
            "data.split=test",  # the hash split gives these 24 chorales no test song
            "losses=false",
            "max_songs=2",
            "max_notes=16",
            "scratch_samples=2",
            "scratch_bars=1",
            "reference_samples=4",
            "audio=false",
            *args,
        )

    first = evaluate_into_out("seed=0", "num_samples=1")
    # the checkpoint has no run folder: the data given, on the model's track, was scored
    dm = NoteDataModule(
        "bach", data_dir=str(bach_small), tracks=["Piano"], max_songs=24, split="test"
    )
    dm.prepare_data()
    dm.setup("test")
    split = dm.splits["test"]
    usable = np.flatnonzero(np.diff(split.offsets) > 25)[:2]  # primer_len 25, max_songs 2
    assert first["song_ids"] == [split.song_ids[i] for i in usable]
    before = snapshot(out)
    assert {"evaluation.json", "evaluation.md", "index.html"} <= set(before)
    assert "samples/scratch_000.npz" in before
    fail_on_call(musegen.evaluation.report, "write_sample", 2, monkeypatch)
    with pytest.raises(Terminated):
        evaluate_into_out("seed=1", "num_samples=1")
    assert snapshot(out) == before
    assert not temporaries(out)

    # a finished evaluation replaces every file of the old one, and only those: here a
    # report of one file, staged as the callback stages its own
    (out / "mine.txt").write_text("the user's own file")
    with written_as_one_set(out) as stage:
        (stage / "evaluation.json").write_text("{}")
    assert sorted(p.name for p in out.iterdir()) == ["evaluation.json", "mine.txt"]


@pytest.mark.slow  # ~15 s on 2 cores: two CLI generations, the second stopped by SIGTERM
def test_sigterm_to_a_generation_into_a_used_folder_keeps_the_old_set(tmp_path: Path) -> None:
    out = tmp_path / "out"

    def command(seed: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "musegen.generate",
            f"ckpt_path={PIANO}",
            f"out_dir={out}",
            f"hydra.run.dir={tmp_path / f'hydra{seed}'}",
            "primer=none",
            "num_samples=16",
            "num_notes=48",
            "audio=false",
            f"seed={seed}",
        ]

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command(0), cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    before = snapshot(out)
    proc = subprocess.Popen(command(1), cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)

    def first_sample_written() -> bool:
        """Seed 1's sample_000 is whole: out of the folder it is written in, wherever the
        command keeps it until its set is complete."""
        for mid in out.rglob("sample_000.mid"):
            if mid.parent.name.startswith(".sample_000."):  # its own files, being written
                continue
            if mid.parent != out or mid.read_bytes() != before["sample_000.mid"]:
                return True
        return False

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not first_sample_written():
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "Traceback" not in err, err[-2000:]
    assert snapshot(out) == before
    assert not temporaries(out)


def test_the_swap_is_whole_under_ctrl_c_and_undone_on_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``replace_set``: Ctrl-C during the renames waits until the new set is in; a rename
    that fails half-way puts the old set back."""
    import musegen.atomic as atomic

    def folders() -> tuple[Path, Path]:
        out, stage = tmp_path / "out", tmp_path / "stage"
        for folder, seed in ((out, "old"), (stage, "new")):
            folder.mkdir(exist_ok=True)
            for name in ("a.mid", "b.mid", "run.json"):
                (folder / name).write_text(seed)
        (out / "c.mid").write_text("old")  # the old set was larger
        (out / "mine.txt").write_text("not the command's")
        return out, stage

    def owned(name: str) -> bool:
        return name.endswith((".mid", ".json"))

    real_rename = os.rename
    renames: list[str] = []

    def rename(src: object, dest: object) -> None:
        renames.append(str(src))
        if len(renames) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C with the old set half moved out
            time.sleep(0.01)  # Python would run a handler here
        real_rename(src, dest)

    out, stage = folders()
    monkeypatch.setattr(atomic.os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        atomic.replace_set(stage, out, owned, ("run.json",))
    assert {p.name: p.read_text() for p in out.iterdir()} == {
        "a.mid": "new", "b.mid": "new", "run.json": "new", "mine.txt": "not the command's"
    }  # fmt: skip
    assert renames[0].endswith("run.json") and renames[-1].endswith("run.json")  # first, last

    def failing(src: object, dest: object) -> None:
        if Path(str(src)).parent == stage and Path(str(src)).name == "b.mid":
            raise OSError(28, "No space left on device")
        real_rename(src, dest)

    for p in [*out.iterdir(), *stage.iterdir()]:
        p.unlink()
    out, stage = folders()
    monkeypatch.setattr(atomic.os, "rename", failing)
    with pytest.raises(OSError, match="No space"):
        atomic.replace_set(stage, out, owned, ("run.json",))
    assert {p.name: p.read_text() for p in out.iterdir()} == {
        "a.mid": "old", "b.mid": "old", "c.mid": "old", "run.json": "old",
        "mine.txt": "not the command's",
    }  # fmt: skip
    assert sorted(p.name for p in stage.iterdir()) == ["a.mid", "b.mid", "run.json"]


# --- checks before the work ---------------------------------------------------------------


def test_ogg_audio_without_soundfile_stops_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from musegen.evaluation.callback import EvaluateAfterTest

    monkeypatch.setitem(sys.modules, "soundfile", None)  # `import soundfile` fails
    with pytest.raises(UserError, match=r"^evaluate\.audio_format=ogg: .*soundfile"):
        EvaluateAfterTest(out_dir=tmp_path, audio_format="ogg")  # what training builds first
    EvaluateAfterTest(out_dir=tmp_path, audio_format="ogg", audio=False)  # no audio: no need
    EvaluateAfterTest(out_dir=tmp_path, audio_format="ogg", enabled=False)
    # the command: one line, exit code 2, before the checkpoint (which does not exist) is
    # read; a soundfile.py first on the path stands for the package not being installed
    block = tmp_path / "no-soundfile"
    block.mkdir()
    (block / "soundfile.py").write_text("raise ImportError(\"No module named 'soundfile'\")\n")
    argv = ["ckpt_path=/nowhere/last.ckpt", "audio_format=ogg", f"hydra.run.dir={tmp_path}/h"]
    done = subprocess.run(
        [sys.executable, "-m", "musegen.evaluate", *argv],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(block)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr[-2000:]
    assert lines[0].startswith("error: audio_format=ogg: Ogg audio needs soundfile")
    assert lines[0].endswith("or audio_format=wav")


def test_evaluate_on_a_checkpoint_without_its_run_folder_says_what_to_give(
    tmp_path: Path,
) -> None:
    """No ``.hydra/config.yaml`` beside the checkpoint and no data given: evaluate says which
    data to give (not generate's ``primer=``); given, it is scored (the test above)."""
    from musegen.generation.runs import RunError

    base = [f"ckpt_path={PIANO}", f"out_dir={tmp_path / 'eval'}", "losses=false"]
    with pytest.raises(RunError) as err:
        evaluate(*base)
    message = str(err.value)
    assert message == (
        f"{FIXTURES.parent}: no .hydra/config.yaml beside checkpoints/, so the training data "
        "is unknown; give the data to score it on: data.source=<bach|lpd5|midi> (and "
        "data.root=<folder> for lpd5 and midi); data.split=test makes every song of the "
        "folder a test song"
    )
    with pytest.raises(RunError) as err:  # a folder alone does not say how to read it
        evaluate(*base, f"data.root={tmp_path}")
    assert str(err.value) == message
    # generate keeps its own advice
    with pytest.raises(RunError, match=r"; use primer=none or primer=<file\.mid>, or give the"):
        generate(tmp_path / "gen", "primer=test")


# --- what is written ----------------------------------------------------------------------


def test_the_progress_bar_ends_at_the_total(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """2,500 notes, drawn and reported in chunks of 64: the bar ends at 2500/2500."""
    from musegen.progress import progress_bar

    generate(tmp_path, "num_samples=1", "num_notes=2500")
    err = capsys.readouterr().err
    assert "Generating notes" in err and "2500/2500" in err and "2496/2500" not in err
    with pytest.raises(RuntimeError), progress_bar(100, "Stopped") as bar:
        bar.advance(64)
        raise RuntimeError("a failure mid-way")
    assert "64/100" in capsys.readouterr().err  # a failed block keeps where it stopped


def test_the_notes_the_files_hold_are_recorded(tmp_path: Path) -> None:
    """40 notes of one key at one onset are one note in the MIDI file and in the npz, and a
    pianoroll cannot tell two notes of a key apart when one starts as the other ends: the
    record (``generation.json``'s ``notes_in_files``) says what each file holds."""
    from musegen.render.outputs import notes_in_files, write_sample

    notes = np.zeros(44, dtype=NOTE_DTYPE)
    notes["pitch"], notes["track"], notes["velocity"], notes["duration"] = 60, 1, 80, 1.0
    # after the 40 Cs at step 0: D at 0, E at 48, C at 96, C at 120 (as the one before ends)
    notes["pitch"][40:], notes["time"][40:] = [62, 64, 60, 60], [0, 48, 96, 120]
    notes["step"][40:] = [0.0, 2.0, 2.0, 1.0]  # beats since the note before (24 steps a beat)
    files = write_sample(notes, tmp_path, "dup", primer_len=0, audio=False)
    assert notes_in_files(files) == {"mid": 5, "npz": 4}  # the npz joins the last two Cs


def test_a_silent_piece_gets_no_audio_and_no_player(tmp_path: Path) -> None:
    from musegen.render.audio import audio_unavailable
    from musegen.render.outputs import write_sample
    from musegen.render.page import Media, write_page

    if audio_unavailable():
        pytest.skip(f"no synthesizer here: {audio_unavailable()}")
    files = write_sample(np.empty(0, dtype=NOTE_DTYPE), tmp_path, "empty", primer_len=0)
    assert sorted(files) == ["mid", "npz", "png"] and not list(tmp_path.glob("*.wav"))
    media = [Media("an empty piece", files["png"], files.get("wav"), midi=files["mid"])]
    page = write_page(tmp_path / "index.html", "t", "", media).read_text()
    assert "<audio" not in page and "(no audio)" in page


def test_every_committed_json_is_strict() -> None:
    """docs/evaluation.md promises strict JSON: ``null``, never a bare ``NaN`` or
    ``Infinity``, which Python writes by default and most other parsers refuse."""

    def refuse(constant: str) -> None:
        raise ValueError(f"bare {constant}")

    files = sorted((ROOT / "experiments").rglob("*.json"))
    assert len(files) > 50
    bad = []
    for path in files:
        try:
            json.loads(path.read_text(), parse_constant=refuse)
        except ValueError as err:
            bad.append(f"{path.relative_to(ROOT)}: {err}")
    assert not bad, bad
