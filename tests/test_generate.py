"""Generation and evaluation from a real (tiny) checkpoint trained on Bach chorales."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pretty_midi
import pytest
import torch

from musegen.data.lpd_io import read_lpd_npz
from musegen.data.pianoroll_notes import song_to_notes
from musegen.data.tracks import LPD5_TRACKS
from musegen.generation.decode import generate
from musegen.generation.notes import midi_primer
from musegen.generation.runs import load_run
from musegen.generation.sampling import Picker, Sampling, filter_logits
from musegen.generation.sampling import sample as draw_from
from musegen.models.cell_step import rnn_step
from tests.conftest import CORRUPT_MIDI, LMD_MIDI, need

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def ckpt(tiny_ckpt: Path) -> Path:
    return tiny_ckpt


def _cli(module: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_same_seed_same_notes_and_incremental_equals_full_rerun(ckpt: Path) -> None:
    run = load_run(ckpt)
    g = torch.Generator().manual_seed(0)
    primer = {
        "pitch": torch.randint(50, 70, (3, 8), generator=g),
        "step": torch.rand(3, 8, generator=g),
        "duration": torch.rand(3, 8, generator=g),
        "track": torch.zeros(3, 8, dtype=torch.int64),
    }
    sampling = Sampling(temperature=0.9, top_p=0.95)

    def draw(seed: int, mode: str = "incremental", seq_len: int | None = None) -> dict:
        return generate(
            run.net,
            primer,
            30,
            Picker(sampling, torch.Generator().manual_seed(seed)),
            mode=mode,
            seq_len=seq_len,
            context=None,  # the state carried through the whole piece, as the window sees it
        )

    a, b, c = draw(1), draw(1), draw(2)
    for k in a:
        torch.testing.assert_close(a[k], b[k])
    assert not torch.equal(a["pitch"], c["pitch"])
    # re-running the whole history (a window longer than the piece) gives the same music
    full = draw(1, mode="window", seq_len=1000)
    torch.testing.assert_close(full["pitch"], a["pitch"])
    torch.testing.assert_close(full["step"], a["step"], atol=1e-5, rtol=1e-5)


def test_generation_runs_without_onednn_and_restores_it(ckpt: Path) -> None:
    """oneDNN is off while notes are drawn (its per-call cost dominated batch-1 decoding)
    and the process's setting comes back afterwards, also when decoding fails."""
    run = load_run(ckpt)
    primer = {k: torch.zeros(1, 4, dtype=torch.int64) for k in ("pitch", "track")}
    primer.update({k: torch.zeros(1, 4) for k in ("step", "duration")})
    seen: list[bool] = []

    class Spy(Picker):
        def __call__(self, field: str, logits: torch.Tensor, drawn: dict) -> torch.Tensor:
            seen.append(torch.backends.mkldnn.enabled)
            return super().__call__(field, logits, drawn)

    before = torch.backends.mkldnn.enabled
    assert before  # PyTorch's default on CPU builds
    generate(run.net, primer, 3, Spy(Sampling(), torch.Generator().manual_seed(0)))
    assert seen and not any(seen)
    assert torch.backends.mkldnn.enabled is before
    with pytest.raises(ValueError, match="num_notes"):
        generate(run.net, primer, 0, Spy(Sampling(), torch.Generator().manual_seed(0)))
    assert torch.backends.mkldnn.enabled is before


def test_cell_step_equals_the_fused_module() -> None:
    torch.manual_seed(0)
    for rnn in (
        torch.nn.LSTM(6, 8, 2, batch_first=True),
        torch.nn.GRU(6, 8, 2, batch_first=True),
        torch.nn.RNN(6, 8, 1, batch_first=True, nonlinearity="relu"),
    ):
        x = torch.randn(3, 5, 6)
        ref, _ = rnn(x)
        state, outs = None, []
        for t in range(5):
            out, state = rnn_step(rnn, x[:, t], state)
            outs.append(out)
        torch.testing.assert_close(torch.stack(outs, 1), ref, atol=1e-6, rtol=1e-5)


def test_top_k_and_top_p_keep_the_likeliest() -> None:
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = torch.isfinite(filter_logits(logits, Sampling(top_k=2)))
    assert kept.tolist() == [[True, True, False, False]]
    kept = torch.isfinite(filter_logits(logits, Sampling(top_p=0.8)))
    assert kept.tolist() == [[True, True, False, False]]
    kept = torch.isfinite(filter_logits(logits, Sampling(top_p=0.81)))
    assert kept.tolist() == [[True, True, True, False]]
    for bad, message in (
        ({"temperature": 0}, "temperature must be a number > 0, got 0"),
        ({"top_k": -1}, "top_k must be an integer >= 0 (0: off), got -1"),
        ({"top_p": 0}, "top_p must be in (0, 1] (1: off), got 0"),
    ):
        with pytest.raises(ValueError) as info:
            Sampling(**bad)
        assert str(info.value) == message


@pytest.mark.slow  # ~12 s: CLI round trips (generate from the CLI: test_demo, kept)
def test_cli_writes_parseable_samples_with_the_requested_notes(
    ckpt: Path, session_data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "gen"
    proc = _cli(
        "musegen.generate",
        f"ckpt_path={ckpt}",
        f"paths.data_dir={session_data_dir}",
        f"hydra.run.dir={out}",
        "num_samples=3",
        "num_notes=40",
        "seed=3",
        "audio=false",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((out / "generation.json").read_text())
    assert len(summary["samples"]) == 3
    for i, sample in enumerate(summary["samples"]):
        midi = pretty_midi.PrettyMIDI(str(out / f"sample_{i:03d}.mid"))
        n_notes = sum(len(inst.notes) for inst in midi.instruments)
        assert n_notes == sample["primer_notes"] + 40 == 25 + 40
        assert all(inst.program == 0 and not inst.is_drum for inst in midi.instruments)
        assert (out / f"sample_{i:03d}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / f"sample_{i:03d}.npz").is_file()
    # the same seed again gives the same files' music
    again = tmp_path / "again"
    proc = _cli(
        "musegen.generate",
        f"ckpt_path={ckpt}",
        f"paths.data_dir={session_data_dir}",
        f"hydra.run.dir={again}",
        "num_samples=3",
        "num_notes=40",
        "seed=3",
        "audio=false",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for i in range(3):
        a = pretty_midi.PrettyMIDI(str(out / f"sample_{i:03d}.mid")).instruments[0].notes
        b = pretty_midi.PrettyMIDI(str(again / f"sample_{i:03d}.mid")).instruments[0].notes
        assert [(n.pitch, n.start, n.end) for n in a] == [(n.pitch, n.start, n.end) for n in b]


@pytest.mark.slow  # ~11 s: three CLI round trips (a primer: also test_demo, test_accompaniment)
def test_primer_from_scratch_and_from_a_midi_file(ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "none"
    proc = _cli(
        "musegen.generate",
        f"ckpt_path={ckpt}",
        f"hydra.run.dir={out}",
        "primer=none",
        "num_samples=2",
        "num_notes=16",
        "audio=false",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((out / "generation.json").read_text())["samples"][0]["primer_notes"] == 0
    song = next(p for p in sorted(need(LMD_MIDI).glob("*.mid")) if p.stat().st_size > 20000)
    out = tmp_path / "midi"
    proc = _cli(
        "musegen.generate",
        f"ckpt_path={ckpt}",
        f"hydra.run.dir={out}",
        f"primer={song}",
        "num_samples=1",
        "num_notes=16",
        "audio=false",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((out / "generation.json").read_text())["samples"][0]
    assert summary["primer_notes"] == 25 and summary["notes"] == 16
    # the sample starts with the file's first 25 Piano notes (the tiny model's one track),
    # read here with pretty_midi, not with the code under test: LPD's Piano is programs 0-7
    midi = pretty_midi.PrettyMIDI(str(song))
    piano = sorted(
        (round(midi.time_to_tick(n.start) * 24 / midi.resolution), n.pitch)
        for inst in midi.instruments
        if not inst.is_drum and inst.program < 8
        for n in inst.notes
    )
    first = sorted(set(piano))[:25]  # (onset in steps, pitch) of the first 25 notes
    written = song_to_notes(read_lpd_npz(out / "sample_000.npz"))
    last = first[-1][0]
    head = {(t, p) for t, p in zip(written["time"], written["pitch"], strict=True) if t < last}
    assert head == {(t, p) for t, p in first if t < last}
    assert set(first) <= set(zip(written["time"].tolist(), written["pitch"].tolist(), strict=True))
    # and midi_primer, which the command calls, agrees with that reading
    expected, tempo, given = midi_primer(song, [LPD5_TRACKS.index("Piano")], 25)
    assert list(zip(expected["time"].tolist(), expected["pitch"].tolist(), strict=True)) == first
    assert given and tempo["qpm"][0] == pytest.approx(round(midi.get_tempo_changes()[1][0], 6))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["num_notes=0"], "error: num_notes must be an integer >= 1, got 0"),
        (["context=1"], "error: context must be trained, null or an integer >= 2, got 1"),
        (["sampling.top_p=1.5"], "error: sampling.top_p must be in (0, 1] (1: off), got 1.5"),
        (["ckpt_path=/nowhere/last.ckpt"], "error: /nowhere/last.ckpt: no such checkpoint file"),
    ],
)
def test_bad_settings_fail_in_one_line_and_write_nothing(
    ckpt: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "samples"
    base = [f"ckpt_path={ckpt}", f"hydra.run.dir={tmp_path / 'run'}", f"out_dir={out}"]
    proc = _cli("musegen.generate", *base, *args)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [message]
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.slow  # ~10 s: CLI round trips (bad settings in one line: the default suite)
def test_corrupt_checkpoint_and_empty_primer_fail_clearly(ckpt: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(ckpt.read_bytes()[:5000])
    out = tmp_path / "samples"
    proc = _cli(
        "musegen.generate", f"ckpt_path={bad}", f"hydra.run.dir={tmp_path / 'r'}", f"out_dir={out}"
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert str(bad) in proc.stderr
    # a damaged MIDI file as primer
    broken = sorted(need(CORRUPT_MIDI).glob("*.mid"))[0]
    proc = _cli(
        "musegen.generate",
        f"ckpt_path={ckpt}",
        f"hydra.run.dir={tmp_path / 'r2'}",
        f"out_dir={out}",
        f"primer={broken}",
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.slow  # ~9 s: a whole evaluation (test_evaluate_gives_a_checkpoint_...: kept)
def test_evaluate_writes_the_report(ckpt: Path, session_data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    proc = _cli(
        "musegen.evaluate",
        f"ckpt_path={ckpt}",
        f"paths.data_dir={session_data_dir}",
        f"hydra.run.dir={out}",
        "max_songs=6",
        "max_notes=48",
        "scratch_samples=6",
        "scratch_bars=2",
        "reference_samples=12",
        "num_samples=1",
        "audio=false",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = (out / "evaluation.json").read_text()
    assert "NaN" not in text  # strict JSON: null where a value is undefined
    report = json.loads(text)
    assert {"lstm_gru", "real vs real", "unigram", "uniform random", "repeat primer"} <= set(
        report["similarity"]
    )
    assert "test/note_nll" in report["test"] and "test/pitch_loss" in report["test"]
    # one track: no scrambled row; from scratch: no primer to repeat
    for kind, rows in (("continuation", 6), ("scratch", 5)):
        scored = report["kinds"][kind]
        assert len(scored["overlap"]) == rows
        model = scored["overlap"]["lstm_gru"]["mean"]
        # the model's own summary is a number in [0, 1] with its spread, not a NaN or null
        assert 0.0 <= model["oa"] <= 1.0 and model["oa_std"] >= 0.0, model
        assert scored["tracks"]["share/Piano"]["lstm_gru"]["mean"] == 1.0  # a Piano model
    md = (out / "evaluation.md").read_text()
    assert md.startswith("# Evaluation of lstm_gru") and "mean OA" in md and "**Piano**" in md
    assert (out / "index.html").is_file()


def test_evaluate_gives_a_checkpoint_the_figures_its_run_ended_with(
    tiny_run: Path, session_data_dir: Path, tmp_path: Path
) -> None:
    """``musegen.evaluate`` on a run's tested checkpoint, with nothing on the command line
    but where to write: the run's own sampling and evaluation settings, so the same figures
    as training's end-of-run evaluation; an override on top changes what it names."""
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    ended = json.loads((tiny_run / "evaluation" / "evaluation.json").read_text())
    best = tiny_run / metrics["best_ckpt"]
    out = tmp_path / "again"
    common = (f"ckpt_path={best}", f"paths.data_dir={session_data_dir}", "audio=false")
    proc = _cli("musegen.evaluate", *common, f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    again = json.loads((out / "evaluation.json").read_text())
    assert again["settings"] == {**ended["settings"], "audio": False}
    assert again["settings_from"]["max_notes"] == "run"  # the tiny run's 64, not the default
    assert again["settings_from"]["audio"] == "command line"
    for kind in ("continuation", "scratch"):
        assert again["kinds"][kind]["overlap"] == ended["kinds"][kind]["overlap"]
        assert again["kinds"][kind]["tracks"] == ended["kinds"][kind]["tracks"]
    assert again["test"] == pytest.approx(ended["test"], rel=1e-6)


@pytest.mark.slow  # ~13 s: an evaluation of the validation songs (of the test songs: kept)
def test_evaluate_split_val_continues_the_validation_songs(
    ckpt: Path, session_data_dir: Path, tmp_path: Path
) -> None:
    """``split=val``, where sampling is tuned: the songs continued are validation songs, never
    test songs; the reference stays the training songs; no test pass runs."""
    out = tmp_path / "eval"
    args = ["max_songs=3", "max_notes=32", "scratch_samples=3", "scratch_bars=2"]
    proc = _cli(
        "musegen.evaluate",
        f"ckpt_path={ckpt}",
        f"paths.data_dir={session_data_dir}",
        f"hydra.run.dir={out}",
        "split=val",
        *args,
        "reference_samples=6",
        "num_samples=0",
        "audio=false",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "evaluation.json").read_text())
    dm = load_run(ckpt).datamodule({"data_dir": str(session_data_dir)})
    dm.prepare_data()
    dm.setup("test")
    val, test = dm.splits["val"].song_ids, dm.splits["test"].song_ids
    assert (
        report["settings"]["split"] == "val"
        and report["test"] == {}
        and report["reference"] == "train"
    )
    assert report["song_ids"] and set(report["song_ids"]) <= set(val)
    assert not set(report["song_ids"]) & set(test)
    assert "validation songs" in (out / "evaluation.md").read_text()
    bad = _cli("musegen.evaluate", f"ckpt_path={ckpt}", "split=train", f"hydra.run.dir={out}")
    assert bad.returncode == 2
    assert bad.stderr == "error: split must be one of test, val, got 'train'\n"


def test_training_ends_with_the_evaluation(ckpt: Path) -> None:
    """The run's own evaluation: report, samples, and scalars in metrics.json and the CSV."""
    run_dir = ckpt.parent.parent
    report = json.loads((run_dir / "evaluation" / "evaluation.json").read_text())
    assert "real vs real" in report["similarity"] and report["samples"]
    samples = run_dir / "evaluation" / "samples"
    for stem in ("continuation_000", "real_continuation_000", "scratch_000", "real_scratch_000"):
        assert (samples / f"{stem}.mid").is_file() and (samples / f"{stem}.wav").is_file()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in ("eval/oa", "eval/oa/real_vs_real", "eval/scratch/oa", "eval/sim_pitch"):
        assert key in metrics, key
    assert metrics["eval/oa/real_vs_real"] > metrics["eval/oa/uniform_random"]
    header = (run_dir / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "eval/oa" in header and "eval/out_of_range/Piano/real_vs_real" in header


@pytest.mark.slow  # ~12 s: a training, W&B offline (compare --wandb: the default suite)
def test_wandb_offline_run_gets_metrics_and_pianorolls(
    session_data_dir: Path, tmp_path: Path
) -> None:
    """The default logger list (CSV + W&B offline) works with no account and no network."""
    out = tmp_path / "run"
    proc = _cli(
        "musegen.train",
        f"paths.data_dir={session_data_dir}",
        f"hydra.run.dir={out}",
        "data.max_songs=40",
        "data.progress=false",
        "trainer=cpu",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1",
        "trainer.num_sanity_val_steps=0",
        "model.net.hidden_size=16",
        "evaluate.max_songs=2",
        "evaluate.max_notes=16",
        "evaluate.num_samples=1",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = list((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    assert list(runs[0].glob("files/media/images/samples/*.png"))
    assert "eval/sim_pitch" in json.loads((out / "metrics.json").read_text())
    (log,) = runs[0].glob("run-*.wandb")  # the run's records: its tags are stored as text
    for tag in (b"model=lstm_gru", b"timing=categorical", b"seed=12345"):
        assert tag in log.read_bytes(), tag


def test_sampler_draws_the_softmax_distribution() -> None:
    """Inverse-CDF draws follow the filtered softmax (200,000 draws: within 0.005)."""
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    logits = probs.log().repeat(200_000, 1)
    g = torch.Generator().manual_seed(0)
    freq = torch.bincount(draw_from(logits, Sampling(), g), minlength=4) / 200_000
    torch.testing.assert_close(freq, probs, atol=5e-3, rtol=0)
    freq = torch.bincount(draw_from(logits, Sampling(top_k=2), g), minlength=4) / 200_000
    torch.testing.assert_close(freq, torch.tensor([0.625, 0.375, 0.0, 0.0]), atol=5e-3, rtol=0)
    hot = torch.bincount(draw_from(logits, Sampling(temperature=0.01), g), minlength=4)
    assert hot[0] == 200_000


def test_primer_without_notes_on_the_models_tracks(
    ckpt: Path, lmd_lpd5: Path, tmp_path: Path
) -> None:
    """A real drum part alone cannot prime a Piano model: one line, nothing written."""
    from musegen.data.lpd_io import read_lpd_npz
    from musegen.data.notes_to_midi import notes_to_midi
    from musegen.data.pianoroll_notes import song_to_notes

    song = next(
        s
        for s in (song_to_notes(read_lpd_npz(p)) for p in sorted(lmd_lpd5.rglob("*.npz")))
        if (s["track"] == 0).sum() > 20
    )
    drums = tmp_path / "drums_only.mid"
    notes_to_midi(song[song["track"] == 0], drums)
    out = tmp_path / "samples"
    proc = _cli(
        "musegen.generate",
        f"ckpt_path={ckpt}",
        f"hydra.run.dir={tmp_path / 'r'}",
        f"out_dir={out}",
        f"primer={drums}",
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "no notes on the model's tracks" in proc.stderr
    assert not out.exists() or not any(out.iterdir())
