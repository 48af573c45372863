"""The texture input (models/texture_context.py): each track's density and note length so
far, worked by hand at 24 steps a beat."""

from __future__ import annotations

import math

import pytest
import torch

from musegen.models.texture_context import TextureContext
from tests.test_note_model import _net, _notes

K = 5  # Drums, Piano, Guitar, Bass, Strings


def _hand() -> dict[str, torch.Tensor]:
    """The start note, a 2-beat Piano C4, a sixteenth kick, a half-beat Bass E4 and a
    1-beat Piano D4, from a window whose first onset is bar 5 (step 480)."""
    return {
        "pitch": torch.tensor([[0, 60, 36, 64, 62]]),
        "track": torch.tensor([[1, 1, 0, 3, 1]]),
        "time": torch.tensor([[480, 480, 492, 504, 528]]),
        "duration": torch.tensor([[4.0, 2.0, 0.25, 0.5, 1.0]]),
    }


def _expected() -> torch.Tensor:
    """``(1, 5, 3K)``: played, notes per beat, mean log2 length, per track, after each note."""
    played, density, length = torch.zeros(5, K), torch.zeros(5, K), torch.zeros(5, K)
    # note 0, the start note: nothing counted
    played[1, 1], density[1, 1], length[1, 1] = 1, 1 / 1, 1.0  # onset 480: beat 1 of 1
    played[2, [0, 1]] = 1
    density[2, [0, 1]] = 1 / 1.5  # onset 492: half a beat in, 1.5 beats counted
    length[2, 0], length[2, 1] = -2.0, 1.0  # log2 0.25, log2 2
    played[3, [0, 1, 3]] = 1
    density[3, [0, 1, 3]] = 1 / 2  # onset 504: 2 beats
    length[3, [0, 1, 3]] = torch.tensor([-2.0, 1.0, -1.0])
    played[4, [0, 1, 3]] = 1
    density[4, [0, 1, 3]] = torch.tensor([1 / 3, 2 / 3, 1 / 3])  # onset 528: 3 beats
    length[4, [0, 1, 3]] = torch.tensor([-2.0, (1.0 + 0.0) / 2, -1.0])
    return torch.cat([played, density, length], -1)[None]


def test_the_texture_features_by_hand() -> None:
    context = TextureContext(3, K, 24)
    notes = _hand()
    feature, (count, log_sum, first) = context(**notes)
    torch.testing.assert_close(feature, context.proj(_expected()))
    assert count[0].tolist() == [1, 2, 0, 1, 0]
    assert log_sum[0].tolist() == [-2.0, 1.0, 0.0, -1.0, 0.0]
    assert first.tolist() == [480.0]


def test_a_note_shorter_than_a_step_counts_as_one_step() -> None:
    """log2 of a duration below 1/24 beat would run to -inf; it is read as one step."""
    context = TextureContext(3, K, 24)
    notes = {
        "pitch": torch.tensor([[60]]),
        "track": torch.tensor([[2]]),
        "time": torch.tensor([[0]]),
        "duration": torch.tensor([[0.0]]),
    }
    _, (_, log_sum, _) = context(**notes)
    assert log_sum[0, 2].item() == pytest.approx(math.log2(1 / 24))


def test_reading_in_two_calls_carries_the_counts_and_the_first_onset() -> None:
    """The second call counts its beats from the first call's first onset and adds to its
    counts: the same features as one call."""
    context = TextureContext(3, K, 24)
    notes = _hand()
    whole, _ = context(**notes)
    first, carry = context(**{k: v[:, :2] for k, v in notes.items()})
    rest, _ = context(**{k: v[:, 2:] for k, v in notes.items()}, start=carry)
    torch.testing.assert_close(torch.cat([first, rest], 1), whole)
    alone, _ = context(**{k: v[:, 2:] for k, v in notes.items()})  # counted from 492
    assert not torch.allclose(alone, whole[:, 2:])


def test_the_network_reads_the_texture_beside_the_note() -> None:
    """``task.encoder.texture_dim`` widens the backbone's input by its width, and the state
    carries the texture's sums after the last note: every note read but the start note."""
    net = _net(texture_dim=4)
    assert net.backbone.input_size == net.encoder.out_dim + 4
    assert net.texture.proj.in_features == 3 * K
    notes = _notes(1, 6)
    _, state = net.hidden(notes)
    carried = state[1][2]
    assert carried[0].shape == (1, K) and carried[2].shape == (1,)
    assert carried[0].sum().item() == (notes["pitch"] > 0).sum().item()
    with pytest.raises(ValueError, match=r"^task\.encoder\.texture_dim must be an integer >= 1"):
        TextureContext(0, K, 24)


def test_a_key_of_pitch_1_counts_and_only_the_start_note_does_not() -> None:
    """Pitch 0 is the neutral start note of a piece from scratch; pitch 1 (C#-1) is a key."""
    context = TextureContext(3, K, 24)
    notes = {
        "pitch": torch.tensor([[0, 1, 2]]),
        "track": torch.tensor([[2, 2, 2]]),
        "time": torch.tensor([[0, 0, 24]]),
        "duration": torch.tensor([[1.0, 1.0, 1.0]]),
    }
    count, _, _ = context.sums(**notes)
    assert count[0, :, 2].tolist() == [0, 1, 2]


def test_the_features_take_the_projection_s_precision() -> None:
    """A context kept in float64 reads its features in float64: counts and log lengths
    are built in float32 and cast to the projection's dtype before it."""
    context = TextureContext(3, K, 24).to(torch.float64)
    feature, _ = context(**_hand())
    assert feature.dtype == torch.float64
    torch.testing.assert_close(feature, context.proj(_expected().to(torch.float64)))
