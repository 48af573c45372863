"""The chained heads' two code paths agree: generation's ``draw`` picks, field by field, what
training's ``forward`` scores highest given the same earlier fields.

``forward`` (teacher forcing) and ``draw`` (generation) each build the conditioning context
on their own; a test that checks each against itself lets one path drift (an embedding added
one field too early or too late in ``draw``) while the loss and the samples both look fine.
A cold picker makes a draw the argmax, so ``draw(h)`` must equal the argmax of
``forward(h, drawn)`` for every field, for every order of the fields.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from musegen.fields import CLASSED_FIELDS, NOTE_FIELDS, VELOCITY
from musegen.generation.sampling import Picker, Sampling
from musegen.models.config import HeadsConfig, NoteNetConfig, TimingConfig
from musegen.models.heads import ChainedHeads
from musegen.models.time_classes import ClassTables, TimeClasses
from musegen.models.velocity_classes import VelocityClasses

TRACKS = ("Drums", "Piano", "Guitar", "Bass", "Strings")
GRU = {"_target_": "musegen.models.backbones.GRUBackbone", "hidden_size": 24}
CLASSES = TimeClasses(exact_beats=4, max_beats=8)
COLD = Sampling(temperature=1e-6)  # every value but the largest logit gets probability 0
ORDERS = list(itertools.permutations(NOTE_FIELDS))


def _heads(
    order: tuple[str, ...], velocity: VelocityClasses | None, head: str = "shared"
) -> ChainedHeads:
    config = NoteNetConfig(
        GRU,
        n_tracks=len(TRACKS),
        track_names=TRACKS,
        timing=TimingConfig("categorical", CLASSES),
        heads=HeadsConfig("chained", order, 16, head),
        velocity=velocity,
    )
    torch.manual_seed(0)
    return ChainedHeads(config, 24, ClassTables(CLASSES, velocity)).eval()


@pytest.mark.parametrize("velocity", [None, "shared", "readout"])
@pytest.mark.parametrize("order", ORDERS, ids=["-".join(o) for o in ORDERS])
def test_a_cold_draw_is_the_argmax_of_forward_given_the_fields_drawn(order, velocity) -> None:
    classes = None if velocity is None else VelocityClasses.uniform(4)
    heads = _heads(order, classes, velocity or "shared")
    expected_order = order if classes is None else (*order, VELOCITY)
    assert heads.order == expected_order  # velocity, where modelled, last
    h = torch.randn(16, 24, generator=torch.Generator().manual_seed(1))  # (B, H)
    with torch.no_grad():
        note = heads.draw(h, Picker(COLD, torch.Generator().manual_seed(0), TRACKS))
        logits = heads(h, note)  # teacher forcing on the fields just drawn
    assert set(note) == set(expected_order)
    for field in expected_order:
        drawn = heads.tables.encode(field, note[field]) if field in CLASSED_FIELDS else note[field]
        assert torch.equal(logits[field].argmax(-1), drawn), field


def test_the_last_field_reads_every_field_drawn_before_it() -> None:
    """The premise of the test above: a field's logits move with each earlier field's value,
    so a draw that skipped one earlier field would pick another value."""
    heads = _heads(("track", "pitch", "step", "duration"), None)
    h = torch.randn(16, 24, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        note = heads.draw(h, Picker(COLD, torch.Generator().manual_seed(0), TRACKS))
        base = heads(h, note)["duration"].argmax(-1)
        for field, other in (("track", (note["track"] + 1) % 5), ("pitch", note["pitch"] + 7)):
            moved = heads(h, {**note, field: other})["duration"].argmax(-1)
            assert not torch.equal(moved, base), field
        later = {**note, "step": note["step"] + 0.5}
        assert not torch.equal(heads(h, later)["duration"].argmax(-1), base)


def test_the_chance_that_a_pitch_can_be_placed_equals_the_step_head_read_through_forward() -> None:
    """``_placeable``: for each key that must wait, the step head's probability of a step at
    least that long given that pitch, here summed from ``forward``'s teacher-forced step
    logits one pitch at a time; 0 (log 1) for the keys free now."""
    heads = _heads(("track", "pitch", "step", "duration"), None)
    h = torch.randn(3, 24, generator=torch.Generator().manual_seed(2))
    wait = torch.zeros(3, 128, dtype=torch.int64)
    wait[0, 60], wait[0, 64], wait[2, 40] = 30, 5, 96
    track = torch.tensor([1, 2, 3])
    with torch.no_grad():
        context = heads.project(h) + heads.embed["track"](track)
        got = heads._placeable(context, wait)
        values = heads.tables.step_values
        for row, key in ((0, 60), (0, 64), (2, 40)):
            note = {"track": track, "pitch": torch.full((3,), key), "step": torch.zeros(3)}
            note["duration"] = torch.ones(3)
            step = heads(h, note)["step"][row].log_softmax(-1)
            want = step[values >= wait[row, key]].logsumexp(-1)
            assert float(got[row, key]) == pytest.approx(float(want), abs=1e-5)
    got[0, 60] = got[0, 64] = got[2, 40] = 0.0
    assert torch.equal(got, torch.zeros(3, 128))
