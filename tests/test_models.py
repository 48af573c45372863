"""The network pieces without Lightning: backbones, encoder, heads, losses, sizing, loading."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from musegen.models import CheckpointError, NoteNet, NoteNetConfig, load_network, teacher_forcing
from musegen.models.checkpoint import read_checkpoint
from musegen.models.losses import LossWeights, mse_positive_pressure, note_losses
from musegen.models.network import resolve_backbone
from musegen.models.sizing import count_parameters, size_for_budget
from tests.conftest import LPD5_FILE, MODELS, ROOT, need

BACKBONES = {
    name: OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "model" / f"{name}.yaml").net)
    for name in MODELS
}
"""Every backbone's config as ``conf/model/<name>.yaml`` has it: a new model is tested too."""


def _net(name: str, hidden: int = 24, n_tracks: int = 1, dropout: float = 0.0) -> NoteNet:
    cfg = {**BACKBONES[name], "hidden_size": hidden, "dropout": dropout}
    return NoteNet(NoteNetConfig(cfg, n_tracks=n_tracks, encoder={"pitch_dim": 8, "track_dim": 4}))


@pytest.fixture(scope="module")
def real_windows() -> dict[str, torch.Tensor]:
    """64 windows of 17 notes from one real LPD-5 song, all five tracks (8151 notes)."""
    from musegen.data.lpd_io import read_lpd_npz
    from musegen.data.pianoroll_notes import song_to_notes

    notes = song_to_notes(read_lpd_npz(need(LPD5_FILE)))
    starts = np.arange(64) * 90  # (64,)
    rows = starts[:, None] + np.arange(17)  # (64, 17)
    return {
        "pitch": torch.from_numpy(notes["pitch"][rows].astype(np.int64)),
        "step": torch.from_numpy(notes["step"][rows]),
        "duration": torch.from_numpy(notes["duration"][rows]),
        "track": torch.from_numpy(notes["track"][rows].astype(np.int64)),
    }


@pytest.mark.parametrize("name", list(BACKBONES))
def test_backbone_state_carries_across_chunks(name: str) -> None:
    """Two chunks fed with the carried state equal one pass: what incremental decoding needs."""
    torch.manual_seed(0)
    backbone = _net(name).backbone.eval()
    x = torch.randn(3, 10, backbone.input_size)
    full, _ = backbone(x)
    first, state = backbone(x[:, :4])
    second, _ = backbone(x[:, 4:], state)
    assert full.shape == (3, 10, 24)
    torch.testing.assert_close(torch.cat([first, second], 1), full)


@pytest.mark.parametrize("name", list(BACKBONES))
def test_step_matches_full_forward(name: str) -> None:
    torch.manual_seed(0)
    net = _net(name, n_tracks=5).eval()
    notes = {
        "pitch": torch.randint(0, 128, (2, 6)),
        "step": torch.rand(2, 6),
        "duration": torch.rand(2, 6),
        "track": torch.randint(0, 5, (2, 6)),
    }
    full, _ = net(notes)
    hidden, _ = net.hidden(notes)
    state, steps = None, []
    for t in range(6):
        h, state = net.step({k: v[:, t] for k, v in notes.items()}, state)
        steps.append(h)
    assert full["pitch"].shape == (2, 6, 128) and full["track"].shape == (2, 6, 5)
    assert full["step"].shape == (2, 6) and full["duration"].shape == (2, 6)
    torch.testing.assert_close(torch.stack(steps, 1), hidden)
    torch.testing.assert_close(net.heads(torch.stack(steps, 1))["pitch"], full["pitch"])


def test_one_track_has_no_track_head_or_embedding() -> None:
    net = _net("lstm", n_tracks=1)
    assert net.heads.track is None and net.encoder.track_emb is None
    pred, _ = net(
        {
            "pitch": torch.zeros(1, 3, dtype=torch.long),
            "step": torch.zeros(1, 3),
            "duration": torch.zeros(1, 3),
        }
    )
    assert "track" not in pred


def test_teacher_forcing_shifts_by_one() -> None:
    batch = {k: torch.arange(12).reshape(2, 6) for k in ("pitch", "step", "duration", "track")}
    inputs, targets = teacher_forcing(batch)
    assert inputs["pitch"].tolist() == [[0, 1, 2, 3, 4], [6, 7, 8, 9, 10]]
    assert targets["pitch"].tolist() == [[1, 2, 3, 4, 5], [7, 8, 9, 10, 11]]


def test_mse_positive_pressure_by_hand() -> None:
    pred = torch.tensor([-1.0, 0.5, 2.0])
    target = torch.tensor([0.0, 1.0, 2.0])
    # mean((y - yhat)^2) = (1 + 0.25 + 0) / 3; mean(max(-yhat, 0)) = (1 + 0 + 0) / 3
    expected = 1.25 / 3 + 10 * (1 / 3)
    assert mse_positive_pressure(pred, target).item() == pytest.approx(expected)
    assert mse_positive_pressure(pred, target, pressure=0.0).item() == pytest.approx(1.25 / 3)


def test_regressed_timing_accuracy_rounds_on_the_runs_grid() -> None:
    """0.3 beats against 0.25: one step apart on LPD's 24-step grid (rint 7.2 = 7 vs 6), the
    same step on a 4-step grid (rint 1.2 = 1 vs 1)."""
    pred = {
        "pitch": torch.zeros(1, 128),
        "step": torch.tensor([0.3]),
        "duration": torch.tensor([1.0]),
    }
    target = {
        "pitch": torch.zeros(1, dtype=torch.long),
        "step": torch.tensor([0.25]),
        "duration": torch.tensor([1.0]),
    }
    assert note_losses(pred, target, LossWeights())["step_acc"].item() == 0.0
    assert note_losses(pred, target, LossWeights(), resolution=4)["step_acc"].item() == 1.0
    assert _net("gru").resolution == 24  # its bar's 96 steps over 4 beats


def test_note_losses_weighted_total() -> None:
    torch.manual_seed(0)
    net = _net("gru", n_tracks=3)
    notes = {
        "pitch": torch.randint(0, 128, (4, 5)),
        "step": torch.rand(4, 5),
        "duration": torch.rand(4, 5),
        "track": torch.randint(0, 3, (4, 5)),
    }
    pred, _ = net(notes)
    parts = note_losses(pred, notes, LossWeights())
    expected = (
        0.05 * parts["pitch_loss"]
        + parts["step_loss"]
        + parts["duration_loss"]
        + parts["track_loss"]
    )
    torch.testing.assert_close(parts["loss"], expected)
    # an untrained 128-way head is near the uniform cross-entropy ln(128)
    assert abs(parts["pitch_loss"].item() - math.log(128)) < 0.5
    with pytest.raises(ValueError, match=r"task\.loss_weights"):
        LossWeights.from_mapping({"loudness": 1.0})
    assert LossWeights.from_mapping({"velocity": 0.5}).velocity == 0.5


@pytest.mark.parametrize("name", list(BACKBONES))
@pytest.mark.parametrize("budget", [300_000, 800_000])
def test_param_budget_sizes_each_backbone(name: str, budget: int) -> None:
    """Every backbone lands within 1% of the budget: a coarse width (the Transformer's, a
    multiple of twice its heads) is completed by its finer argument (``budget_fill``)."""
    config = NoteNetConfig({**BACKBONES[name], "hidden_size": 64, "dropout": 0.0}, n_tracks=5)
    sized = size_for_budget(config, budget)
    hidden = sized.net["hidden_size"]
    multiple = getattr(resolve_backbone(config.net["_target_"]), "hidden_multiple", None)
    step = multiple(**{k: v for k, v in config.net.items() if k[0] != "_"}) if multiple else 1
    assert hidden % step == 0  # a width the backbone accepts
    assert abs(count_parameters(sized) - budget) <= 0.01 * budget, sized.net
    NoteNet(sized)  # and it builds
    with pytest.raises(ValueError, match="param_budget"):
        size_for_budget(config, 100)


@pytest.mark.parametrize("name", list(BACKBONES))
def test_loss_goes_down_on_real_notes(name: str, real_windows: dict) -> None:
    """A few Adam steps on real LPD-5 notes (five tracks) lower the paper's loss."""
    torch.manual_seed(0)
    net = _net(name, hidden=48, n_tracks=5)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    inputs, targets = teacher_forcing(real_windows)
    losses = []
    for _ in range(30):
        pred, _ = net(inputs)
        loss = note_losses(pred, targets, LossWeights())["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.85 * losses[0], losses


def test_resolve_backbone_refuses_outside_targets() -> None:
    for target in ("os.system", "builtins.eval", "musegen.models.backbones.os"):
        with pytest.raises(ValueError, match=r"model\.net\._target_"):
            resolve_backbone(target)


def _fake_checkpoint(net: NoteNet) -> dict:
    return {
        "state_dict": {f"net.{k}": v for k, v in net.state_dict().items()},
        "musegen": {"format": 3, "network": net.config.to_dict()},
    }


def test_load_network_round_trip(tmp_path) -> None:
    torch.manual_seed(0)
    net = _net("lstm_gru", n_tracks=5).eval()
    path = tmp_path / "model.ckpt"
    torch.save(_fake_checkpoint(net), path)
    loaded = load_network(path, expect=BACKBONES["lstm_gru"]["_target_"])
    assert not loaded.training
    notes = {
        "pitch": torch.tensor([[60, 62]]),
        "step": torch.tensor([[0.0, 1.0]]),
        "duration": torch.tensor([[1.0, 1.0]]),
        "track": torch.tensor([[1, 1]]),
    }
    torch.testing.assert_close(loaded(notes)[0]["pitch"], net(notes)[0]["pitch"])
    with pytest.raises(CheckpointError, match="expected"):
        load_network(path, expect=BACKBONES["gru"]["_target_"])


def test_corrupt_and_untrusted_checkpoints(tmp_path) -> None:
    net = _net("rnn")
    good = tmp_path / "good.ckpt"
    torch.save(_fake_checkpoint(net), good)
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_network(truncated)
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match=str(garbage.name)):
        load_network(garbage)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_network(tmp_path / "missing.ckpt")

    # A pickle that would call a function when loaded: weights-only loading refuses it.
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": Evil()}, evil)
    with pytest.raises(CheckpointError, match="weights-only"):
        read_checkpoint(evil)

    not_ours = tmp_path / "other.ckpt"
    torch.save({"state_dict": {}}, not_ours)
    with pytest.raises(CheckpointError, match="not a musegen"):
        load_network(not_ours)

    # A config naming a class outside the backbones package is refused before any import.
    hostile = _fake_checkpoint(net)
    hostile["musegen"]["network"]["net"]["_target_"] = "os.system"
    path = tmp_path / "hostile.ckpt"
    torch.save(hostile, path)
    with pytest.raises(CheckpointError, match="cannot rebuild"):
        load_network(path)
