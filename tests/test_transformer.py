"""The Transformer backbone: its key/value cache, decoding with and without it, the trained
context kept to, and training through the task."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from musegen.generation.decode import generate
from musegen.generation.sampling import Picker, Sampling
from musegen.models.backbones.transformer import TransformerBackbone
from musegen.models.config import HeadsConfig, NoteNetConfig, TimingConfig
from musegen.models.network import NoteNet
from musegen.models.time_classes import TimeClasses
from tests.test_note_model import _notes

TRACKS = ("Drums", "Piano", "Guitar", "Bass", "Strings")


def _net(heads: str = "chained", context: int | None = None) -> NoteNet:
    torch.manual_seed(0)
    config = NoteNetConfig(
        {
            "_target_": "musegen.models.backbones.TransformerBackbone",
            "hidden_size": 32,
            "num_layers": 2,
            "num_heads": 2,
            "dropout": 0.0,
        },
        n_tracks=5,
        track_names=TRACKS,
        encoder={"pitch_dim": 8, "track_dim": 4, "position_dim": 4},
        timing=TimingConfig("categorical", TimeClasses(exact_beats=4, max_beats=8)),
        heads=HeadsConfig(heads, width=16),
        context=context,
    )
    return NoteNet(config).eval()


def test_the_cache_gives_what_a_full_pass_gives() -> None:
    """Chunks after a cache, then single steps, equal one pass over the whole sequence."""
    torch.manual_seed(0)
    backbone = TransformerBackbone(12, hidden_size=32, num_layers=2, num_heads=4).eval()
    x = torch.randn(3, 11, 12)
    full, _ = backbone(x)
    first, cache = backbone(x[:, :4])
    second, cache = backbone(x[:, 4:8], cache)  # a chunk attending over the cache
    steps = []
    for t in range(8, 11):
        out, cache = backbone.step(x[:, t], cache)
        steps.append(out)
    torch.testing.assert_close(torch.cat([first, second, torch.stack(steps, 1)], 1), full)
    assert len(cache) == 2 and cache[0][0].shape == (3, 4, 11, 8)  # (B, heads, T, head width)
    # causal: the first notes' outputs do not see the later ones
    later = x.clone()
    later[:, 6:] += 1.0
    torch.testing.assert_close(backbone(later)[0][:, :6], full[:, :6])
    with pytest.raises(ValueError, match=r"model\.net\.hidden_size"):
        TransformerBackbone(12, hidden_size=30, num_heads=4)


def test_same_seed_same_notes_with_the_cache_and_without() -> None:
    """Incremental decoding (one position a note through the cache) draws the notes that
    re-running the whole piece at every note draws."""
    net = _net()

    def draw(mode: str, seed: int = 5) -> dict:
        pick = Picker(Sampling(), torch.Generator().manual_seed(seed), TRACKS)
        return generate(net, _notes(2, 6, seed=1), 30, pick, mode, seq_len=1000, context=None)

    cached, rerun, again = draw("incremental"), draw("window"), draw("incremental")
    for k in ("pitch", "track", "step", "duration", "time"):
        torch.testing.assert_close(cached[k], rerun[k])
        torch.testing.assert_close(cached[k], again[k])
    assert not torch.equal(draw("incremental", 6)["pitch"], cached["pitch"])


def test_positions_never_pass_the_trained_context() -> None:
    """With the network's context (the training window), the cache holds at most that many
    notes: generation never asks for a position training did not see."""
    net = _net(context=8)
    lengths: list[int] = []
    forward = net.backbone.forward

    def spy(x: torch.Tensor, state=None):
        out, cache = forward(x, state)
        lengths.append(cache[0][0].shape[2])
        return out, cache

    net.backbone.forward = spy
    pick = Picker(Sampling(), torch.Generator().manual_seed(0), TRACKS)
    out = generate(net, _notes(2, 12, seed=1), 40, pick)
    assert out["pitch"].shape == (2, 40)
    assert max(lengths) == 8 and min(lengths) == 4
    # context=null carries the cache through the piece: past the trained positions, as
    # docs/generation.md says (12 primer notes, then each drawn note but the last read)
    lengths.clear()
    generate(net, _notes(2, 12, seed=1), 40, pick, context=None)
    assert lengths[0] == 12 and max(lengths) == 12 + 39


@pytest.mark.slow  # ~10 s on 2 cores: CLI training and generation (trained in process too)
def test_the_transformer_trains_and_generates_through_the_cli(
    session_data_dir: Path, tmp_path: Path
) -> None:
    from tests.conftest import run_cli, small

    run = tmp_path / "run"
    done = run_cli(
        "musegen.train",
        *small(
            session_data_dir, "model=transformer", "task.heads=chained", "evaluate.enabled=false"
        ),
        "task.param_budget=300000",
        f"hydra.run.dir={run}",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "gen"
    gen = run_cli(
        "musegen.generate",
        f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}",
        f"paths.data_dir={session_data_dir}",
        "num_samples=2",
        "num_notes=60",
        "audio=false",
        f"out_dir={out}",
        f"hydra.run.dir={tmp_path / 'genrun'}",
    )
    assert gen.returncode == 0, gen.stderr[-3000:]
    assert (out / "sample_001.mid").is_file()
