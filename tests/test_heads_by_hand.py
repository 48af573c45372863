"""The heads, the losses and the context inputs on small cases whose answer is known by hand.

Each test pins one thing a head design promises and that the model-level tests pass over:
what a field's logits read (the velocity readout's earlier fields and gradient share, the
chained track's probability of an allowed track, a key that must wait one step), what a
draw hands back with a single track (the one track, as int64, on the device of the hidden
state), what it hands the picker (the fields drawn so far, as the ``Pick`` protocol says),
and what the loss reports (the pressure asked for, the accuracy per position, no track
accuracy).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from musegen.fields import CLASSED_FIELDS as CLASSED
from musegen.fields import VELOCITY
from musegen.generation.sampling import Picker, Sampling
from musegen.models.config import HeadsConfig, NoteNetConfig, TimingConfig
from musegen.models.heads import ChainedHeads, IndependentHeads
from musegen.models.heads.base import VelocityReadout
from musegen.models.losses import LossWeights, note_losses
from musegen.models.sounding_context import NONE, SoundingContext
from musegen.models.time_classes import ClassTables, TimeClasses
from musegen.models.velocity_classes import VelocityClasses

TRACKS = ("Drums", "Piano", "Guitar", "Bass", "Strings")
HIDDEN = 24
WIDTH = 16
BATCH = 3  # not HIDDEN: a draw's rows are h's first dimension
GRU = {"_target_": "musegen.models.backbones.GRUBackbone", "hidden_size": HIDDEN}
CLASSES = TimeClasses(exact_beats=4, max_beats=8)
COLD = Sampling(temperature=1e-6)  # every value but the largest logit gets probability 0
ORDER = ("track", "pitch", "step", "duration")
CLASSES_SIZE = {f: ClassTables(CLASSES).size(f) for f in ("step", "duration")}


def _config(
    order: tuple[str, ...] = ORDER,
    tracks: tuple[str, ...] = TRACKS,
    kind: str = "chained",
    velocity: str | None = None,
    width: int = WIDTH,
    grad: float = 0.0,
) -> NoteNetConfig:
    classes = None if velocity is None else VelocityClasses.uniform(4)
    return NoteNetConfig(
        GRU,
        n_tracks=len(tracks),
        track_names=tracks,
        timing=TimingConfig("categorical", CLASSES),
        heads=HeadsConfig(kind, order, width, velocity or "shared", grad),
        velocity=classes,
    )


def _tables(config: NoteNetConfig) -> ClassTables:
    return ClassTables(CLASSES, config.velocity)


def _chained(**kwargs: object) -> ChainedHeads:
    config = _config(**kwargs)  # type: ignore[arg-type]
    torch.manual_seed(0)
    return ChainedHeads(config, HIDDEN, _tables(config)).eval()


def _independent(**kwargs: object) -> IndependentHeads:
    config = _config(kind="independent", **kwargs)  # type: ignore[arg-type]
    torch.manual_seed(0)
    return IndependentHeads(config, HIDDEN, _tables(config)).eval()


def _h(batch: int = BATCH, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, HIDDEN, generator=torch.Generator().manual_seed(seed))


class BarePick:
    """A cold picker with nothing but what every picker has: no ``allowed`` (every track),
    no ``keys`` (no sounding keys). It records each call's field and the fields it was
    handed as drawn so far."""

    def __init__(self, track_first: bool = False) -> None:
        self.track_first = track_first
        self.generator = torch.Generator().manual_seed(0)
        self.calls: list[tuple[str, dict[str, torch.Tensor] | None]] = []

    def __call__(
        self, field: str, logits: torch.Tensor, drawn: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        self.calls.append((field, None if drawn is None else dict(drawn)))
        return logits.argmax(-1)


# --- VelocityReadout -------------------------------------------------------------------


def _readout(grad: float | None = None) -> VelocityReadout:
    """Hidden 2, width 2, 2 classes, weights set by hand."""
    readout = VelocityReadout(2, 2, 2) if grad is None else VelocityReadout(2, 2, 2, grad)
    with torch.no_grad():
        readout.project.weight.copy_(torch.tensor([[1.0, 0.0], [0.5, -1.0]]))
        readout.project.bias.copy_(torch.tensor([0.0, 0.25]))
        readout.out.weight.copy_(torch.tensor([[1.0, 2.0], [-1.0, 0.5]]))
        readout.out.bias.copy_(torch.tensor([0.5, 0.0]))
    return readout


def test_a_velocity_readout_adds_the_given_fields_to_its_projection() -> None:
    """``u = W GELU(P h + g)``: the earlier fields' embeddings ``g`` are added, so that a
    louder track can be read (subtracting them would read them backwards)."""
    readout = _readout()
    h = torch.tensor([[1.0, 2.0]])
    given = torch.tensor([[0.5, 1.0]])
    x = torch.tensor([[1.0 + 0.5, 0.5 - 2.0 + 0.25 + 1.0]])  # P h + b + g = [1.5, -0.25]
    gelu = 0.5 * x * (1 + torch.erf(x / 2**0.5))
    want = torch.stack([gelu[:, 0] + 2 * gelu[:, 1] + 0.5, -gelu[:, 0] + 0.5 * gelu[:, 1]], -1)
    torch.testing.assert_close(readout(h, given), want)
    x0 = torch.tensor([[1.0, -1.25]])  # without given
    g0 = 0.5 * x0 * (1 + torch.erf(x0 / 2**0.5))
    want0 = torch.stack([g0[:, 0] + 2 * g0[:, 1] + 0.5, -g0[:, 0] + 0.5 * g0[:, 1]], -1)
    torch.testing.assert_close(readout(h), want0)


def test_a_velocity_readout_passes_no_gradient_to_the_state_by_default() -> None:
    """``grad`` defaults to 0: built without it, the readout's loss trains its own two
    layers only (the default that kept the other fields' NLL, models/config.py)."""
    readout = _readout()
    assert readout.grad == 0.0
    h = torch.tensor([[1.0, 2.0]], requires_grad=True)
    readout(h).sum().backward()
    assert h.grad is None
    assert readout.project.weight.grad is not None


def test_a_velocity_readouts_gradient_to_the_state_is_the_set_share_of_the_full_one() -> None:
    """At ``grad=0.5`` the state gets half the gradient of the plain ``W GELU(P h)`` (same
    sign: the velocity's loss must pull the state the same way, only less), the logits the
    same values."""
    readout = _readout(0.5)
    h = torch.tensor([[1.0, 2.0]], requires_grad=True)
    plain = h.detach().clone().requires_grad_(True)
    got = readout(h)
    want = F.linear(
        F.gelu(F.linear(plain, readout.project.weight, readout.project.bias)),
        readout.out.weight,
        readout.out.bias,
    )
    torch.testing.assert_close(got, want)
    (got * torch.tensor([[1.0, -3.0]])).sum().backward()
    (want * torch.tensor([[1.0, -3.0]])).sum().backward()
    assert plain.grad is not None and plain.grad.abs().min() > 0
    torch.testing.assert_close(h.grad, 0.5 * plain.grad)


# --- ChainedHeads: construction and errors -------------------------------------------------


def test_chained_heads_refuse_regressed_timing_in_one_exact_line() -> None:
    """Without class tables there is no step or duration class to embed; the message is the
    one line the user reads (NoteNetConfig refuses first, but the heads guard themselves)."""
    with pytest.raises(ValueError) as error:
        ChainedHeads(_config(), HIDDEN, None)
    assert str(error.value) == "chained heads need categorical timing"


def test_chained_heads_refuse_a_forward_without_the_true_fields_in_one_exact_line() -> None:
    heads = _chained()
    with pytest.raises(ValueError) as error:
        heads(_h())
    assert str(error.value) == "chained heads need the note's true fields (teacher forcing)"


def test_the_chained_width_is_the_configured_one_or_else_the_backbones() -> None:
    """``task.head_width``: 16 here, so ``P`` maps 24 -> 16 and every embedding and output
    layer is 16 wide; 0 means the backbone's width."""
    heads = _chained()
    assert heads.project.weight.shape == (WIDTH, HIDDEN)
    assert heads.embed["pitch"].weight.shape == (128, WIDTH)
    assert heads.out["duration"].weight.shape == (CLASSES_SIZE["duration"], WIDTH)
    assert _chained(width=0).project.weight.shape == (HIDDEN, HIDDEN)


def test_a_chained_readout_velocity_has_no_chain_output_layer() -> None:
    """With the velocity readout, the velocity's logits come from the readout only: no
    ``out.velocity`` layer (unused weights, and a checkpoint whose keys differ)."""
    heads = _chained(velocity="readout")
    assert set(heads.out) == set(ORDER)
    assert not any(k.startswith("out.velocity") for k in heads.state_dict())
    shared = _chained(velocity="shared")
    assert set(shared.out) == {*ORDER, VELOCITY}


def test_a_chained_readout_reads_the_embeddings_of_every_field_before_it() -> None:
    """The readout's ``given`` is ``context - state``: the sum of the earlier fields'
    embeddings, here added up by hand from the true fields (the projected state itself
    comes in through the readout's own projection, not twice)."""
    heads = _chained(velocity="readout")
    h = _h()
    note = {
        "track": torch.tensor([1, 3, 4]),
        "pitch": torch.tensor([60, 40, 72]),
        "step": torch.tensor([0.0, 0.5, 1.0]),
        "duration": torch.tensor([0.25, 1.0, 2.0]),
    }
    tables = heads.tables
    with torch.no_grad():
        got = heads(h, note)[VELOCITY]
        given = (
            heads.embed["track"].weight[note["track"]]
            + heads.embed["pitch"].weight[note["pitch"]]
            + heads.embed["step"].weight[tables.classes_of("step", note)]
            + heads.embed["duration"].weight[tables.classes_of("duration", note)]
        )
        readout = heads.readout
        assert readout is not None
        want = readout.out(F.gelu(readout.project(h) + given))
    torch.testing.assert_close(got, want)


# --- ChainedHeads: the scores a masked draw adds ---------------------------------------------


def test_the_chance_of_an_allowed_track_given_each_pitch_equals_forwards_track_head() -> None:
    """``_allowed_given``: for every pitch ``v``, ``log P(track in allowed | pitch = v)``,
    here read from ``forward``'s teacher-forced track logits with the pitch set to ``v``
    (a softmax over the tracks, summed over the allowed ones)."""
    heads = _chained(order=("pitch", "track", "step", "duration"))
    h = _h()
    allowed = [1, 3]
    with torch.no_grad():
        got = heads._allowed_given("pitch", heads.project(h), allowed)  # (B, 128)
        every = h[:, None].expand(BATCH, 128, HIDDEN)
        zeros = torch.zeros(BATCH, 128)
        note = {
            "pitch": torch.arange(128).expand(BATCH, 128),
            "track": zeros.long(),
            "step": zeros,
            "duration": zeros,
        }
        track = heads(every, note)["track"].softmax(-1)  # (B, 128, 5)
        want = (track[..., 1] + track[..., 3]).log()
    assert got.shape == (BATCH, 128)
    torch.testing.assert_close(got, want)


def test_a_key_that_must_wait_one_step_may_not_take_step_zero() -> None:
    """``_placeable`` scores every key whose wait is above 0, a wait of one time step
    included: ``log(1 - P(step = 0 | pitch))`` from ``forward``'s step head."""
    heads = _chained()
    h = _h()
    track = torch.tensor([1, 2, 3])
    wait = torch.zeros(BATCH, 128, dtype=torch.int64)
    wait[1, 50] = 1
    assert int(heads.tables.step_values[0]) == 0 and int(heads.tables.step_values[1]) == 1
    with torch.no_grad():
        context = heads.project(h) + heads.embed["track"](track)
        got = heads._placeable(context, wait)
        note = {
            "track": track,
            "pitch": torch.full((BATCH,), 50),
            "step": torch.zeros(BATCH),
            "duration": torch.ones(BATCH),
        }
        p_zero = heads(h, note)["step"][1].softmax(-1)[0]
    assert float(got[1, 50]) == pytest.approx(float(torch.log1p(-p_zero)), abs=1e-6)
    assert float(got[1, 50]) < 0
    got[1, 50] = 0.0
    assert torch.equal(got, torch.zeros(BATCH, 128))


# --- ChainedHeads: draw -----------------------------------------------------------------------


def _argmax_of_forward(heads: ChainedHeads, h: torch.Tensor, note: dict[str, torch.Tensor]) -> None:
    """A cold draw is, field by field, the argmax of ``forward`` given the fields drawn."""
    with torch.no_grad():
        logits = heads(h, note)
    for field in heads.order:
        classes = heads.tables.encode(field, note[field]) if field in CLASSED else note[field]
        assert torch.equal(logits[field].argmax(-1), classes), field


def test_a_single_track_chained_draw_puts_every_note_on_track_zero() -> None:
    """One modelled track: no track head; the draw hands back track 0 for each row, as
    int64 indices like a drawn track's, even when the user names the one track as the
    allowed one (no per-track score to add: no track head to ask)."""
    heads = _chained(tracks=("Piano",))
    assert heads.order == ("pitch", "step", "duration")
    h = _h()
    picker = Picker(COLD, torch.Generator().manual_seed(0), ("Piano",), allowed=["Piano"])
    assert picker.allowed == [0]
    with torch.no_grad():
        note = heads.draw(h, picker)
    assert note["track"].dtype == torch.int64
    assert torch.equal(note["track"], torch.zeros(BATCH, dtype=torch.int64))
    _argmax_of_forward(heads, h, note)


def test_a_single_track_draw_puts_the_track_on_the_hidden_states_device() -> None:
    """The track zeros follow ``h``'s device, not the default device (with ``h`` on a GPU,
    a CPU track would break the next step's input). The default device is set to ``meta``
    here, so a tensor made without ``device=h.device`` shows it."""
    h = _h()
    for heads in (_chained(tracks=("Piano",)), _independent(tracks=("Piano",))):
        with torch.no_grad(), torch.device("meta"):
            note = heads.draw(h, BarePick())
        assert note["track"].device == h.device, type(heads).__name__
        assert note["track"].dtype == torch.int64
        assert torch.equal(note["track"], torch.zeros(BATCH, dtype=torch.int64))


def test_a_chained_draw_takes_a_picker_without_allowed_tracks_or_sounding_keys() -> None:
    """``allowed`` and ``keys`` are optional on a picker (read with a default of None): a
    bare cold picker draws the argmax of ``forward``, field by field."""
    heads = _chained()
    h = _h()
    pick = BarePick()
    assert not hasattr(pick, "allowed") and not hasattr(pick, "keys")
    with torch.no_grad():
        note = heads.draw(h, pick)
    assert [field for field, _ in pick.calls] == list(ORDER)
    _argmax_of_forward(heads, h, note)


# --- IndependentHeads -------------------------------------------------------------------------


def test_two_tracks_get_a_track_head() -> None:
    """A track head exists with more than one track: two tracks are drawn from it."""
    heads = _independent(tracks=("Piano", "Bass"))
    assert heads.track is not None and heads.track.weight.shape == (2, HIDDEN)
    h = _h()
    with torch.no_grad():
        logits = heads(h)
        note = heads.draw(h, BarePick())
    assert logits["track"].shape == (BATCH, 2)
    assert torch.equal(note["track"], logits["track"].argmax(-1))
    assert _independent(tracks=("Piano",)).track is None


def test_an_independent_readout_has_the_configured_width_and_gradient_share() -> None:
    """The velocity readout of independent heads is ``task.head_width`` wide (0: the
    backbone's) and passes ``velocity_grad`` of its gradient to the state."""
    heads = _independent(velocity="readout", grad=0.5)
    readout = heads.velocity
    assert isinstance(readout, VelocityReadout)
    assert readout.project.weight.shape == (WIDTH, HIDDEN)
    assert readout.grad == 0.5
    wide = _independent(velocity="readout", width=0).velocity
    assert isinstance(wide, VelocityReadout)
    assert wide.project.weight.shape == (HIDDEN, HIDDEN)
    h = _h().requires_grad_(True)
    heads(h)[VELOCITY].sum().backward()
    assert h.grad is not None and h.grad.abs().sum() > 0


def test_an_independent_draw_gives_every_field_the_design_has() -> None:
    """A modelled velocity is drawn (last), and a single track comes back as track 0: each
    field the writer needs, the drawn ones the argmax of their logits under a cold pick."""
    heads = _independent(tracks=("Piano",), velocity="shared")
    h = _h()
    pick = BarePick()
    with torch.no_grad():
        logits = heads(h)
        note = heads.draw(h, pick)
    assert [field for field, _ in pick.calls] == ["pitch", "step", "duration", VELOCITY]
    assert set(note) == {"pitch", "step", "duration", "track", VELOCITY}
    assert torch.equal(note["track"], torch.zeros(BATCH, dtype=torch.int64))
    assert note["track"].dtype == torch.int64  # a track index, as a drawn track's
    velocity = heads.tables.velocity_values[logits[VELOCITY].argmax(-1)]
    assert torch.equal(note[VELOCITY], velocity)
    assert torch.equal(note["pitch"], logits["pitch"].argmax(-1))


def test_an_independent_draw_hands_the_picker_the_fields_drawn_so_far() -> None:
    """The ``Pick`` protocol: ``drawn`` holds the fields of the same notes drawn so far.
    In the usual order the track sees the pitch; a track-first picker gets the track first
    (drawn from an empty dict) and then the pitch that sees the track."""
    heads = _independent()
    h = _h()
    with torch.no_grad():
        logits = heads(h)
        plain = BarePick(track_first=False)
        note = heads.draw(h, plain)
        first = BarePick(track_first=True)
        again = heads.draw(h, first)
    pitch, track = logits["pitch"].argmax(-1), logits["track"].argmax(-1)
    assert [field for field, _ in plain.calls] == ["pitch", "track", "step", "duration"]
    assert plain.calls[0][1] == {}
    assert set(plain.calls[1][1] or {}) == {"pitch"}
    assert torch.equal(plain.calls[1][1]["pitch"], pitch)  # type: ignore[index]
    fields = [field for field, _ in first.calls]
    assert fields == ["pitch", "track", "pitch", "step", "duration"]
    assert first.calls[1][1] == {}  # the track: nothing drawn before it
    final_pitch = first.calls[2][1]
    assert final_pitch is not None and set(final_pitch) == {"track"}
    assert torch.equal(final_pitch["track"], track)
    for field in ("pitch", "track", "step", "duration"):
        assert torch.equal(again[field], note[field]), field


# --- losses -----------------------------------------------------------------------------------


def _regression() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    pitch = torch.zeros(1, 2, 128)  # uniform: log 128 nats each
    pred = {
        "pitch": pitch,
        "step": torch.tensor([[-0.5, 1.0]]),
        "duration": torch.tensor([[0.25, -1.0]]),
    }
    target = {
        "pitch": torch.tensor([[60, 62]]),
        "step": torch.tensor([[0.5, 1.0]]),
        "duration": torch.tensor([[0.25, 0.5]]),
    }
    return pred, target


def test_the_regression_loss_uses_the_pressure_asked_for_and_ten_by_default() -> None:
    """``mean((y - yhat)^2) + pressure * mean(max(-yhat, 0))`` by hand: step errors (1, 0),
    negative part (0.5, 0); duration errors (0, 1.5), negative part (0, 1)."""
    pred, target = _regression()
    weights = LossWeights()
    default = note_losses(pred, target, weights)
    assert float(default["step_loss"]) == pytest.approx(0.5 + 10 * 0.25)
    assert float(default["duration_loss"]) == pytest.approx(1.125 + 10 * 0.5)
    two = note_losses(pred, target, weights, pressure=2.0)
    assert float(two["step_loss"]) == pytest.approx(0.5 + 2 * 0.25)
    assert float(two["duration_loss"]) == pytest.approx(1.125 + 2 * 0.5)


def test_categorical_accuracy_is_per_position_and_no_track_accuracy_is_reported() -> None:
    """Each field's accuracy is the share of positions whose top class is the true one
    (here 2 of 3 for the pitch); the track's is not reported (``track_loss`` is)."""
    tables = ClassTables(CLASSES)
    pitch = torch.zeros(1, 3, 128)
    pitch[0, 0, 5], pitch[0, 1, 7], pitch[0, 2, 5] = 9.0, 3.0, 2.0  # tops: 5, 7, 5
    target = {
        "pitch": torch.tensor([[5, 7, 9]]),
        "step": torch.tensor([[0.0, 0.5, 1.0]]),
        "duration": torch.tensor([[0.5, 0.5, 1.0]]),
        "track": torch.tensor([[0, 1, 1]]),
    }
    step = torch.zeros(1, 3, CLASSES_SIZE["step"])
    step[0, :, 0] = 1.0  # top: class 0, a step of 0 (the first position only)
    duration = torch.zeros(1, 3, CLASSES_SIZE["duration"])
    track = torch.zeros(1, 3, 2)
    track[0, :, 1] = 1.0  # top: track 1 (two positions of three)
    pred = {"pitch": pitch, "step": step, "duration": duration, "track": track}
    out = note_losses(pred, target, LossWeights(), tables=tables)
    assert set(out) == {
        "pitch_loss",
        "step_loss",
        "duration_loss",
        "track_loss",
        "pitch_acc",
        "step_acc",
        "duration_acc",
        "note_nll",
        "loss",
    }
    assert float(out["pitch_acc"]) == pytest.approx(2 / 3)
    assert float(out["step_acc"]) == pytest.approx(1 / 3)
    # the pitch's cross-entropy by hand: log(sum exp) - logit of the true class
    rows = [(9.0, 9.0), (3.0, 3.0), (2.0, 0.0)]  # (top logit, true class's logit)
    nll = [float(torch.log(torch.tensor(127.0 + torch.e**top))) - true for top, true in rows]
    assert float(out["pitch_loss"]) == pytest.approx(sum(nll) / 3)


# --- SoundingContext ------------------------------------------------------------------------


def test_the_sounding_ends_are_on_the_notes_device() -> None:
    """``ends`` builds its ``(B, T, 128)`` table on the notes' device, not the default one
    (set to ``meta`` here to show the difference): a pitch's end by hand, 4 + 1 beat * 24."""
    context = SoundingContext(4, 24)
    pitch = torch.tensor([[60, 64]])
    time = torch.tensor([[4, 10]])
    duration = torch.tensor([[1.0, 0.5]])
    with torch.device("meta"):
        latest = context.ends(pitch, None, time, duration)
    assert latest.device == pitch.device
    want = torch.full((1, 2, 128), NONE)
    want[0, :, 60] = 4 + 24
    want[0, 1, 64] = 10 + 12
    assert torch.equal(latest, want)
