"""Velocity as a field: classes chosen from the data, predicted last, drawn, written to
MIDI; old checkpoints without it still load and play."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import symusic
import torch

from musegen.data.midi_to_lpd import midi_to_song
from musegen.data.performance import velocity_counts
from musegen.data.pianoroll_notes import song_to_notes
from musegen.generation.decode import generate, start_notes
from musegen.generation.sampling import Picker, Sampling
from musegen.models.checkpoint import load_network
from musegen.models.config import HeadsConfig, NoteNetConfig, TimingConfig
from musegen.models.losses import LossWeights, note_losses
from musegen.models.network import NoteNet
from musegen.models.time_classes import TimeClasses
from musegen.models.velocity_classes import VelocityClasses
from tests.conftest import run_cli

TRACKS = ("Drums", "Piano", "Guitar", "Bass", "Strings")


def test_classes_of_equal_counts_by_hand() -> None:
    counts = np.zeros(128, dtype=np.int64)
    counts[[40, 64, 80, 100, 127]] = [5, 30, 20, 50, 40]  # 145 notes
    # quantiles at 145/4 = 36.25 (velocity 80), 72.5 (100), 108.75 (127): classes start
    # above them; 128 is past the last value, so 3 classes: [0, 81), [81, 101), [101, 128)
    classes = VelocityClasses.fit(counts, 4)
    assert classes.starts == (81, 101) and classes.values == (64, 100, 127)
    assert classes.encode(np.array([1, 80, 81, 100, 101, 127])).tolist() == [0, 0, 1, 1, 2, 2]
    assert VelocityClasses.fit(np.bincount([90] * 7, minlength=128), 12).values == (90,)
    assert VelocityClasses.from_dict(classes.to_dict()) == classes


def test_velocities_of_a_built_midi_file_come_back_within_a_class_width(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    velocity = rng.choice([23, 45, 46, 64, 70, 88, 90, 100, 101, 115, 127], 200).astype(np.int8)
    score = symusic.Score(480)
    track = symusic.Track("piano", 0, False)
    track.notes = symusic.Note.from_numpy(
        (np.arange(200) * 240).astype(np.int32),
        np.full(200, 200, np.int32),
        (48 + np.arange(200) % 24).astype(np.int8),
        velocity,
    )
    score.tracks.append(track)
    (tmp_path / "v.mid").write_bytes(score.dumps_midi())
    notes = song_to_notes(midi_to_song(tmp_path / "v.mid"))
    assert np.array_equal(np.sort(notes["velocity"]), np.sort(velocity.astype(np.uint8)))
    classes = VelocityClasses.fit(velocity_counts(notes["track"], notes["velocity"]).sum(0), 8)
    back = classes.decode(classes.encode(notes["velocity"]))
    error = np.abs(back - notes["velocity"].astype(np.int64))
    assert np.all(error < classes.width(notes["velocity"]))
    assert classes.size == 8 and 0 < error.max()  # coarse, yet within a class


def _net(
    velocity: VelocityClasses | None, head: str = "shared", kind: str = "chained", grad: float = 0
) -> NoteNet:
    torch.manual_seed(0)
    config = NoteNetConfig(
        {"_target_": "musegen.models.backbones.GRUBackbone", "hidden_size": 16},
        n_tracks=5,
        track_names=TRACKS,
        encoder={"pitch_dim": 8, "track_dim": 4, "position_dim": 4, "velocity_dim": 4},
        timing=TimingConfig("categorical", TimeClasses(exact_beats=4, max_beats=8)),
        heads=HeadsConfig(kind, ("track", "pitch", "step", "duration"), 16, head, grad),
        velocity=velocity,
    )
    return NoteNet(config).eval()


def _notes(batch: int = 2, length: int = 9) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    step = torch.randint(0, 12, (batch, length), generator=g) / 6
    return {
        "pitch": torch.randint(30, 90, (batch, length), generator=g),
        "step": step,
        "duration": torch.randint(1, 24, (batch, length), generator=g) / 12,
        "track": torch.randint(0, 5, (batch, length), generator=g),
        "time": torch.cumsum((step * 24).round().long(), 1),
        "velocity": torch.randint(1, 128, (batch, length), generator=g),
    }


def test_velocity_is_drawn_last_and_scored_beside_the_note() -> None:
    classes = VelocityClasses.uniform(6)
    net = _net(classes)
    assert net.config.fields == ("track", "pitch", "step", "duration", "velocity")
    # a format-4 network (written before the velocity moved last) keeps its order
    old = {**net.config.to_dict(), "format": 4}
    old["heads"] = {k: v for k, v in old["heads"].items() if k != "velocity"}
    old["heads"]["order"] = ["track", "pitch", "step", "duration"]
    again = NoteNetConfig.from_dict(old)
    assert again.fields == ("track", "velocity", "pitch", "step", "duration")
    assert again.heads.velocity == "shared"
    notes = _notes()
    pred, _ = net(notes, targets=notes)
    with torch.no_grad():
        losses = {
            k: float(v)
            for k, v in note_losses(
                pred, notes, LossWeights(velocity=0.5), tables=net.tables
            ).items()
        }
    want = torch.nn.functional.cross_entropy(  # by hand: the classes of the true velocities
        pred["velocity"].flatten(0, 1),
        torch.from_numpy(classes.encode(notes["velocity"].numpy())).flatten(),
    )
    assert losses["velocity_loss"] == pytest.approx(float(want.detach()))
    fields = ("pitch", "step", "duration", "track")
    assert losses["note_nll"] == pytest.approx(sum(losses[f"{f}_loss"] for f in fields))
    total = sum(
        0.05 * losses["pitch_loss"] if f == "pitch" else losses[f"{f}_loss"] for f in fields
    )
    assert losses["loss"] == pytest.approx(total + 0.5 * losses["velocity_loss"])
    # the velocity head reads the note drawn before it: another track, other velocity logits
    other = {**notes, "track": (notes["track"] + 1) % 5}
    assert not torch.allclose(net(other, targets=other)[0]["velocity"], pred["velocity"])
    # and without velocity classes, nothing of it: the old network, the same fields
    assert _net(None).config.fields == ("track", "pitch", "step", "duration")


@pytest.mark.parametrize("kind", ["chained", "independent"])
def test_a_velocity_readout_trains_its_own_two_layers_only(kind: str) -> None:
    """The readout's loss reaches its projection and output layer and nothing else; the
    shared head's reaches the backbone (the control that makes the first check mean
    something)."""
    notes = _notes()
    grads = {}
    for head in ("readout", "shared"):
        net = _net(VelocityClasses.uniform(6), head, kind).train()
        pred, _ = net(notes, targets=notes)
        classes = net.tables.encode("velocity", notes["velocity"])
        torch.nn.functional.cross_entropy(
            pred["velocity"].flatten(0, 1), classes.flatten()
        ).backward()
        grads[head] = {n for n, p in net.named_parameters() if p.grad is not None and p.grad.any()}
    readout = "heads.readout" if kind == "chained" else "heads.velocity"
    assert grads["readout"] == {
        f"{readout}.project.weight",
        f"{readout}.project.bias",
        f"{readout}.out.weight",
        f"{readout}.out.bias",
    }
    assert any(n.startswith("backbone") for n in grads["shared"])


def test_a_readout_passes_the_set_share_of_its_gradient_to_the_backbone() -> None:
    """``velocity_grad`` scales what reaches the state, and nothing else: the backbone's
    gradient at 0.5 is half of that at 1, the readout's own layers' the same, the logits equal."""
    notes = _notes()
    grads, logits = {}, {}
    for share in (0.5, 1.0):
        net = _net(VelocityClasses.uniform(6), "readout", grad=share).train()
        torch.manual_seed(5)  # the same dropout masks
        pred, _ = net(notes, targets=notes)
        classes = net.tables.encode("velocity", notes["velocity"])
        loss = torch.nn.functional.cross_entropy(pred["velocity"].flatten(0, 1), classes.flatten())
        loss.backward()
        grads[share] = {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}
        logits[share] = pred["velocity"].detach()
    assert torch.equal(logits[0.5], logits[1.0])
    backbone = [n for n in grads[1.0] if n.startswith("backbone")]
    assert backbone and set(grads[0.5]) == set(grads[1.0])
    for name in grads[1.0]:
        want = grads[1.0][name] * (0.5 if name.startswith(("backbone", "encoder")) else 1.0)
        assert torch.allclose(grads[0.5][name], want, atol=1e-7), name


@pytest.mark.parametrize("head", ["readout", "shared"])
def test_incremental_decoding_equals_window_decoding_with_velocity(head: str) -> None:
    net = _net(VelocityClasses.uniform(5), head)
    outs = []
    for mode in ("incremental", "window"):
        pick = Picker(Sampling(), torch.Generator().manual_seed(3), TRACKS)
        outs.append(generate(net, start_notes(3), 24, pick, mode=mode, seq_len=64))
    for field in ("pitch", "step", "duration", "track", "velocity"):
        assert torch.equal(outs[0][field], outs[1][field]), field
    assert set(outs[0]["velocity"].unique().tolist()) <= set(VelocityClasses.uniform(5).values)
    without = generate(_net(None), start_notes(1), 4, Picker(Sampling(), torch.Generator()))
    assert "velocity" not in without  # the writer then takes the music's


def test_a_run_with_velocity_classes_writes_drawn_velocities(
    lakh_run: Path, session_data_dir: Path, tmp_path: Path
) -> None:
    """Lakh songs through training and the command line: the classes are fitted on the
    training notes, stored in the checkpoint, and the generated MIDI plays their values."""
    ckpt = lakh_run / "checkpoints" / "last.ckpt"
    classes = load_network(ckpt).config.velocity
    # fitted on Lakh's velocities: up to 6 classes (fewer where one value, 127, holds more
    # than a sixth of the notes), not the equal-width ones of a network built without data
    assert classes is not None and 2 <= classes.size <= 6
    assert classes != VelocityClasses.uniform(classes.size)
    out = tmp_path / "gen"
    done = run_cli(
        "musegen.generate",
        f"ckpt_path={ckpt}",
        f"paths.data_dir={session_data_dir}",
        f"hydra.run.dir={out}",
        "num_samples=1",
        "num_notes=24",
        "audio=false",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((out / "generation.json").read_text())
    assert summary["velocity_source"] == "drawn by the model"
    primer = summary["samples"][0]["primer_notes"]
    score = symusic.Score(str(out / "sample_000.mid"))
    notes = sorted((n.time, n.velocity) for t in score.tracks for n in t.notes)
    assert len(notes) > primer
    last = notes[primer - 1][0]  # the primer's last onset: every later note is drawn
    drawn = {v for t, v in notes if t > last}
    assert drawn and drawn <= set(classes.values), (drawn, classes.values)


def test_checkpoints_without_velocity_keep_their_format() -> None:
    from tests.test_note_model import FIXTURES

    net = load_network(FIXTURES / "format2_categorical_gru_5tracks.ckpt")
    assert net.config.velocity is None and "velocity" not in net.config.fields
    assert net.config.to_dict()["velocity"] is None
