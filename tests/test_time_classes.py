"""Categorical step and duration on LPD's time grid (``task.timing=categorical``), beside the
paper's regression: the class set, sampling every categorical field, exact grid times, both
kinds of checkpoint, and training that lowers every field's loss."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from musegen.data.lpd_io import read_lpd_npz
from musegen.data.midi_to_lpd import midi_to_song
from musegen.data.note_timing import to_grid
from musegen.data.notes_to_midi import notes_to_midi
from musegen.data.pianoroll_notes import notes_to_song, song_to_notes
from musegen.generation.continuation import DecodeOptions, continue_primers
from musegen.generation.runs import load_run
from musegen.generation.sampling import Picker, Sampling, sample
from musegen.metrics.musical import on_grid_rate
from musegen.models.checkpoint import load_network
from musegen.models.task import load_task
from musegen.models.time_classes import ClassTables, TimeClasses
from musegen.train import compose_config
from musegen.training import train
from tests.conftest import LPD5_FILE, need, small

CLASSES = TimeClasses()


def _grids(files: list[Path]) -> dict[str, np.ndarray]:
    notes = [song_to_notes(read_lpd_npz(f)) for f in files]
    return {
        "step": np.concatenate([np.diff(n["time"], prepend=n["time"][:1]) for n in notes]),
        "duration": np.concatenate([to_grid(n["duration"], 24) for n in notes]),
    }


@pytest.mark.parametrize("source", ["lpd5 file", "bach"])
def test_every_step_and_duration_round_trips_exactly(source: str, bach_small: Path) -> None:
    files = (
        [need(LPD5_FILE)]
        if source == "lpd5 file"
        else sorted((bach_small / "bach" / "lpd5").glob("*.npz"))
    )
    for field, grid in _grids(files).items():
        assert grid.size > 1000
        back = CLASSES.decode(field, CLASSES.encode(field, grid))
        np.testing.assert_array_equal(back, grid)
        assert CLASSES.coverage(field, grid) == {"exact": grid.size, "inexact": 0, "overflow": 0}


def test_the_class_set_and_what_does_not_fit() -> None:
    steps, durations = CLASSES.values("step"), CLASSES.values("duration")
    assert steps[:3].tolist() == [0, 1, 2] and durations[:2].tolist() == [1, 2]
    assert steps[384] == 384 and steps[385:].tolist() == list(range(480, 1537, 96))
    assert durations.size == 384 + 12 and CLASSES.size("step") == 385 + 12
    grid = np.array([0, 383, 384, 400, 431, 432, 433, 500, 1536, 1537, 5000])
    got = CLASSES.decode("step", CLASSES.encode("step", grid)).tolist()
    # nearest class, ties to the shorter; past the end: the last class
    assert got == [0, 383, 384, 384, 384, 384, 480, 480, 1536, 1536, 1536]
    assert CLASSES.coverage("step", grid) == {"exact": 4, "inexact": 5, "overflow": 2}


def test_lakh_durations_overflow_is_counted(lmd_lpd5: Path) -> None:
    grid = _grids(sorted(lmd_lpd5.glob("*.npz")))["duration"]
    counts = CLASSES.coverage("duration", grid)
    assert counts["overflow"] == int(np.count_nonzero(grid > 1536)) > 0
    assert counts["exact"] + counts["inexact"] + counts["overflow"] == grid.size
    assert counts["exact"] > 0.999 * grid.size


def test_tensor_tables_match_the_numpy_mapping() -> None:
    tables = ClassTables(CLASSES)
    beats = torch.tensor([0.0, 1 / 24, 0.5, 1.0 / 3, 17.0, 100.0])
    classes = tables.encode("step", beats)
    expected = CLASSES.encode("step", np.rint(beats.double().numpy() * 24).astype(np.int64))
    assert classes.tolist() == expected.tolist()
    decoded = tables.decode("step", classes)
    assert (torch.round(decoded.double() * 24) == torch.tensor([0, 1, 12, 8, 384, 1536])).all()


def test_sampling_a_field_is_seeded_and_a_cold_temperature_is_the_argmax(
    tiny_ckpt: Path,
) -> None:
    """On a trained network's step and duration logits for real windows."""
    net = load_network(tiny_ckpt)
    notes = song_to_notes(read_lpd_npz(need(LPD5_FILE)), [1])
    rows = np.arange(40)[:, None] + np.arange(25)  # 40 windows of 25 Piano notes
    window = {
        "pitch": torch.from_numpy(notes["pitch"][rows].astype(np.int64)),
        "step": torch.from_numpy(notes["step"][rows]),
        "duration": torch.from_numpy(notes["duration"][rows]),
        "track": torch.zeros(rows.shape, dtype=torch.int64),
        "time": torch.from_numpy(notes["time"][rows]),
    }
    with torch.no_grad():
        pred, _ = net(window, targets=window)  # chained heads read fields drawn before
    for logits in (pred["step"][:, -1], pred["duration"][:, -1]):  # (40, n_classes)
        draws = [sample(logits, Sampling(), torch.Generator().manual_seed(7)) for _ in range(2)]
        assert torch.equal(draws[0], draws[1])
        # a barely trained net has near ties; with the best 0.05 ahead, 1e-3 is the argmax
        best = logits.argmax(-1, keepdim=True)
        clear = logits.scatter_add(-1, best, torch.full_like(best, 0.05, dtype=logits.dtype))
        cold = sample(clear, Sampling(temperature=1e-3), torch.Generator().manual_seed(3))
        assert torch.equal(cold, best[:, 0])


def test_each_field_can_have_its_own_rule(tmp_path: Path) -> None:
    from musegen.config_checks import ConfigError, compose_checked

    cfg = compose_checked("generate", ["sampling.top_p=0.9", "sampling.step.temperature=0.5"])
    rules = Sampling.from_config(cfg.sampling)
    # the default's semitone-clash rule (0.1) rides along in every field's rule
    assert rules.rule("step") == Sampling(temperature=0.5, top_p=0.9, clash=0.1)
    assert rules.rule("pitch") == rules.rule("track") == Sampling(top_p=0.9, clash=0.1)
    bad = compose_checked("generate", ["sampling.duration.top_k=-1"])
    with pytest.raises(ConfigError, match=r"^sampling\.duration\.top_k must be"):
        Sampling.from_config(bad.sampling)
    # a track's rule under any spelling is reported under its LPD-5 name, and once
    # (the composed default lists every track with null settings beside it)
    cfg = compose_checked("generate", ["+sampling.tracks.bass.temperature=0.7"])
    rules = Sampling.from_config(cfg.sampling)
    assert rules.to_dict()["tracks"] == {"Bass": {"temperature": 0.7}}
    assert rules.rule("pitch", "Bass") == Sampling(temperature=0.7, clash=0.1)
    with pytest.raises(ConfigError, match=r"^sampling\.tracks\.bass: Bass has a rule already"):
        Sampling.from_config({"tracks": {"Bass": {"top_k": 4}, "bass": {"temperature": 0.7}}})


@pytest.fixture(scope="module")
def regression_ckpt(session_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("regression")
    cfg = compose_config(
        small(
            session_data_dir,
            "task.heads=independent",
            "task.timing=regression",
            "evaluate.enabled=false",
        ),
        output_dir=str(out),
    )
    train(cfg)
    return out / "checkpoints" / "last.ckpt"


def _continuations(ckpt: Path, n: int = 64) -> tuple[list[np.ndarray], torch.Tensor]:
    run = load_run(ckpt)
    primer = song_to_notes(read_lpd_npz(need(LPD5_FILE)), [1])[:25]  # real Piano notes
    notes = continue_primers(
        run.net, [primer, primer], n, run.track_ids, DecodeOptions(seed=5, seq_len=25)
    )
    return notes, run.net


def test_categorical_notes_land_on_the_grid_and_survive_midi(
    tiny_ckpt: Path, regression_ckpt: Path, tmp_path: Path
) -> None:
    """Categorical steps are whole grid steps before any rounding; a regression's are not.
    Either way, the generated piece's MIDI file converted back is its LPD-5 file's notes."""
    from musegen.generation.decode import generate

    for ckpt, on_grid in ((tiny_ckpt, True), (regression_ckpt, False)):
        net = load_network(ckpt)
        primer = {
            "pitch": torch.full((2, 8), 60),
            "step": torch.full((2, 8), 0.5),
            "duration": torch.full((2, 8), 0.5),
            "track": torch.zeros(2, 8, dtype=torch.int64),
        }
        out = generate(net, primer, 40, Picker(Sampling(), torch.Generator().manual_seed(0)))
        grid = out["step"].double() * 24
        assert bool(torch.allclose(grid, grid.round(), atol=1e-4)) is on_grid
    notes, _ = _continuations(tiny_ckpt)
    for i, piece in enumerate(notes):
        song = notes_to_song(piece)
        expected = song_to_notes(song)
        path = notes_to_midi(expected, tmp_path / f"piece{i}.mid")
        again = song_to_notes(midi_to_song(path))
        np.testing.assert_array_equal(
            again[["time", "pitch", "duration", "track"]],
            expected[["time", "pitch", "duration", "track"]],
        )


def test_both_kinds_of_checkpoint_load_and_generate(
    tiny_ckpt: Path, regression_ckpt: Path, tmp_path: Path
) -> None:
    assert load_network(tiny_ckpt).categorical and not load_network(regression_ckpt).categorical
    for ckpt in (tiny_ckpt, regression_ckpt):
        notes, _ = _continuations(ckpt, 16)
        assert [len(n) for n in notes] == [16, 16]
        assert load_task(ckpt).net.config.timing.kind in ("categorical", "regression")
    # a checkpoint written before categorical timing existed: no timing entry, format 1
    old = torch.load(regression_ckpt, weights_only=True)
    del old["musegen"]["network"]["timing"]
    old["musegen"]["format"] = 1
    old["hyper_parameters"]["loss_weights"] = {"pitch": 0.05, "step": 1.0, "duration": 1.0}
    for key in ("timing", "time_classes"):
        old["hyper_parameters"].pop(key, None)
    torch.save(old, tmp_path / "old.ckpt")
    net = load_network(tmp_path / "old.ckpt")
    assert not net.categorical
    task = load_task(tmp_path / "old.ckpt")
    assert task.weights.pitch == 0.05 and not task.net.categorical


def test_every_fields_loss_falls_in_50_steps(session_data_dir: Path, tmp_path: Path) -> None:
    cfg = compose_config(
        small(
            session_data_dir,
            "trainer.limit_train_batches=50",
            "trainer.log_every_n_steps=10",
            "evaluate.enabled=false",
            "task.optimizer.lr=0.003",
        ),
        output_dir=str(tmp_path),
    )
    metrics = train(cfg)  # one epoch of 50 steps; val/* after it
    for field in ("pitch", "step", "duration"):
        assert math.isfinite(metrics[f"train/{field}_loss"])
    # an untrained head's cross-entropy is about log(classes): 50 steps go far below it
    assert metrics["val/step_loss"] < math.log(CLASSES.size("step")) - 2
    assert metrics["val/duration_loss"] < math.log(CLASSES.size("duration")) - 2
    assert metrics["val/pitch_loss"] < math.log(128) - 0.5
    assert metrics["data/step_inexact"] == metrics["data/step_overflow"] == 0


def test_on_grid_rates_by_hand() -> None:
    from musegen.data.pianoroll_notes import NOTE_DTYPE

    notes = np.zeros(4, dtype=NOTE_DTYPE)
    notes["time"] = [0, 12, 30, 48]  # a beat, an eighth, neither, a beat
    notes["step"] = np.diff(notes["time"], prepend=0) / 24
    notes["duration"] = 0.5
    notes["track"] = 1
    assert on_grid_rate(notes, 24, 1) == 0.5
    assert on_grid_rate(notes, 24, 2) == 0.75
    assert math.isnan(on_grid_rate(notes[:0], 24, 1))
