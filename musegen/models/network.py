"""The next-note network: note encoder -> backbone -> heads, as a plain nn.Module.

It knows nothing of Lightning, so generation and tests use it directly. Its shape is one
``NoteNetConfig`` (``models.config``); checkpoints carry ``config.to_dict()`` beside the
weights (``checkpoint.load_network``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from musegen.checks import at_least, check, number
from musegen.data.note_timing import BEATS_PER_BAR
from musegen.data.tracks import drum_track
from musegen.fields import AHEAD_FIELDS, INPUT_FIELDS
from musegen.models.ahead_context import AheadContext
from musegen.models.config import NoteNetConfig
from musegen.models.heads import make_heads
from musegen.models.key_context import PitchClassContext
from musegen.models.note_encoder import NoteEncoder
from musegen.models.sounding_context import NONE, SoundingContext
from musegen.models.texture_context import TextureContext
from musegen.models.time_classes import ClassTables

BACKBONE_PACKAGE = "musegen.models.backbones."
ENTRY_POINT_GROUP = "musegen.backbones"
"""Where an installed package registers its own backbones (see ``models/backbones``)."""


def registered_backbones() -> dict[str, str]:
    """Backbones that installed packages register under ``musegen.backbones``: entry-point
    name -> the class's ``_target_`` path (``pkg.module.Class``)."""
    from importlib.metadata import entry_points

    return {ep.name: ep.value.replace(":", ".") for ep in entry_points(group=ENTRY_POINT_GROUP)}


def resolve_backbone(target: str) -> type[nn.Module]:
    """Import a backbone class from its ``_target_`` path.

    Only musegen's own backbones (``musegen.models.backbones``) and classes registered
    under the entry-point group ``musegen.backbones`` are accepted: a checkpoint's config must
    not be able to make us import and call arbitrary code.
    """
    if not isinstance(target, str):
        raise ValueError(f"model.net._target_ must be a class path, got {target!r}")
    if not target.startswith(BACKBONE_PACKAGE) and target not in registered_backbones().values():
        raise ValueError(
            f"model.net._target_: {target!r} is neither a backbone of "
            f"{BACKBONE_PACKAGE.rstrip('.')} nor registered under the entry-point group "
            f"{ENTRY_POINT_GROUP} (CONTRIBUTING.md, 'Adding a backbone')"
        )
    module_name, _, attr = target.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        raise ValueError(f"model.net._target_: no backbone {target!r}") from None
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ValueError(f"model.net._target_: {target!r} is not an nn.Module class")
    return cls


def can_carry_state(backbone: type, texture_dim: int) -> bool:
    """Whether a network's state can be carried from one training batch to the next
    (``data.stream``): its backbone says where the batch lies in its state
    (``STATE_BATCH_DIM``: the recurrent ones), and it has no texture input, whose sums count
    from a piece's first onset."""
    return hasattr(backbone, "STATE_BATCH_DIM") and not texture_dim


SIZES = ("hidden_size", "num_layers", "lstm_layers", "gru_layers")
"""Backbone arguments that must be integers >= 1, whichever backbone takes them."""


def build_backbone(net: Mapping[str, Any], input_size: int) -> nn.Module:
    """Instantiate ``net`` (``{"_target_": ..., **kwargs}``) with the encoder's width; the
    sizes and dropout every backbone shares are checked first, in one line naming the key
    (torch's own messages name no config key)."""
    kwargs = {k: v for k, v in net.items() if not k.startswith("_")}
    for key in SIZES:
        if key in kwargs:
            at_least(kwargs[key], f"model.net.{key}", 1)
    rule = number(0.0, 1.0, high_inclusive=False)
    check(kwargs.get("dropout", 0.0), "model.net.dropout", rule, "a number in [0, 1)")
    return resolve_backbone(net.get("_target_"))(input_size=input_size, **kwargs)


class NoteNet(nn.Module):
    """Predict the next note (pitch, step, duration, track) after each note of a sequence.

    Built from one ``NoteNetConfig`` (``models.config``): the note encoder, the backbone it
    names and the heads it chooses. ``config`` stays on the network; checkpoints store
    ``config.to_dict()``.
    """

    def __init__(self, config: NoteNetConfig) -> None:
        super().__init__()
        if not isinstance(config, NoteNetConfig):
            raise TypeError(f"NoteNet takes a NoteNetConfig, got {type(config).__name__}")
        self.config = config
        classes = config.timing.classes
        self.tables = ClassTables(classes, config.velocity) if classes is not None else None
        encoder = dict(config.encoder)
        key_dim = encoder.pop("key_dim", 0)
        sounding_dim = encoder.pop("sounding_dim", 0)
        texture_dim = encoder.pop("texture_dim", 0)
        ahead_dim = encoder.pop("ahead_dim", 0)
        if config.velocity is None:  # no velocity to read where none is modelled
            encoder.pop("velocity_dim", None)
        self.encoder = NoteEncoder(n_tracks=config.n_tracks, tables=self.tables, **encoder)
        drum = drum_track(config.track_names)
        self.key = PitchClassContext(key_dim, drum) if key_dim else None
        self.sounding = (
            SoundingContext(sounding_dim, self.encoder.bar_steps // BEATS_PER_BAR, drum)
            if sounding_dim
            else None
        )
        self.texture = (
            TextureContext(texture_dim, config.n_tracks, self.encoder.bar_steps // BEATS_PER_BAR)
            if texture_dim
            else None
        )
        self.ahead = (
            AheadContext(ahead_dim, config.n_tracks, self.encoder.bar_steps // BEATS_PER_BAR)
            if ahead_dim
            else None
        )
        width = self.encoder.out_dim + ahead_dim + key_dim + sounding_dim + texture_dim
        self.backbone = build_backbone(config.net, width)
        self.heads = make_heads(config, self.backbone.hidden_size, self.tables)
        self.n_tracks = config.n_tracks

    @property
    def categorical(self) -> bool:
        """True when step and duration are classes (``task.timing=categorical``)."""
        return self.tables is not None

    @property
    def resolution(self) -> int:
        """Time steps per beat of the notes it reads (``data.resolution``): its bar's steps
        over the bar's beats."""
        return self.encoder.bar_steps // BEATS_PER_BAR

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def hidden(
        self, notes: Mapping[str, torch.Tensor], state: Any = None
    ) -> tuple[torch.Tensor, Any]:
        """Backbone output after each note: ``(B, T, H)``, and the state after the last (with
        a key, sounding or texture input, ``(backbone state, (pitch-class counts, latest
        ends, texture sums))``)."""
        x = self._encode(notes)
        x, state, carry = self._with_contexts(x, notes, state)
        h, state = self._backbone(x, state)  # (B, T, H), state
        return h, state if carry is None else (state, carry)

    def _encode(self, notes: Mapping[str, torch.Tensor | None]) -> torch.Tensor:
        """The encoder's features of each note ``(B, T, D)``, with the kept music ahead of it
        beside them where the network reads it (``ahead_dim``)."""
        x = self.encoder(
            notes["pitch"],
            notes["step"],
            notes["duration"],
            notes.get("track"),
            notes.get("time"),
            notes.get("velocity"),
        )
        if self.ahead is None:
            return x
        given = {k: notes[k] for k in AHEAD_FIELDS if notes.get(k) is not None}
        return torch.cat([x, self.ahead(given, notes["pitch"]).to(x.dtype)], dim=-1)

    def _with_contexts(
        self, x: torch.Tensor, notes: Mapping[str, torch.Tensor], state: Any
    ) -> tuple[torch.Tensor, Any, tuple[Any, Any, Any] | None]:
        """The encoder's features with the key, sounding and texture inputs beside them, the
        backbone's own part of ``state``, and what the inputs carry to the next call (the
        pitch-class counts, the latest ends and the texture sums after the last note; None
        without any of them)."""
        if self.key is None and self.sounding is None and self.texture is None:
            return x, state, None
        state, (counts, ends, sums) = state if state is not None else (None, (None,) * 3)
        parts = [x]
        if self.key is not None:
            key, counts = self.key(notes["pitch"], notes.get("track"), counts)  # (B, T, k)
            parts.append(key.to(x.dtype))
        if (self.sounding is not None or self.texture is not None) and notes.get("time") is None:
            raise ValueError("note onsets (time) are required with the sounding or texture input")
        if self.sounding is not None:
            sounding, ends = self.sounding(
                notes["pitch"], notes.get("track"), notes["time"], notes["duration"], ends
            )  # (B, T, s)
            parts.append(sounding.to(x.dtype))
        if self.texture is not None:
            track = notes.get("track")  # None: one track (the encoder requires it otherwise)
            track = torch.zeros_like(notes["pitch"]) if track is None else track
            texture, sums = self.texture(
                notes["pitch"], track, notes["time"], notes["duration"], sums
            )  # (B, T, t)
            parts.append(texture.to(x.dtype))
        return torch.cat(parts, dim=-1), state, (counts, ends, sums)

    def _backbone(self, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            # trainer.precision=bf16-mixed on a CPU: oneDNN has no bf16 LSTM kernel on many
            # CPUs ("could not create a primitive descriptor"), so the backbone runs in
            # float32 there; the encoder and heads keep autocast's bf16 matmuls.
            with torch.autocast("cpu", enabled=False):
                return self.backbone(x.float(), state)  # (B, T, H), state
        return self.backbone(x, state)  # (B, T, H), state

    def forward(
        self,
        notes: Mapping[str, torch.Tensor],
        state: Any = None,
        targets: Mapping[str, torch.Tensor] | None = None,
    ) -> tuple[dict[str, torch.Tensor], Any]:
        """Notes as ``(B, T)`` tensors -> each field's logits for the note after each,
        ``{field: (B, T, V)}``, and the state. ``targets``: the true next notes, which heads
        that read earlier fields of the same note need (``models.heads``)."""
        h, state = self.hidden(notes, state)
        return self.heads(h, None if targets is None else dict(targets)), state

    @property
    def carries_state(self) -> bool:
        """Whether its state can be carried from one training batch to the next
        (``data.stream``, ``can_carry_state``)."""
        return can_carry_state(type(self.backbone), 0 if self.texture is None else 1)

    def fresh_rows(self, state: Any, reset: torch.Tensor) -> Any:
        """``state`` (``hidden``'s) detached from the graph that made it, with the rows
        ``reset`` ``(B,)`` as a fresh state has them: the backbone's zeros, no pitch class
        counted, no key sounding. Needs ``carries_state``."""
        keep = ~reset.to(torch.bool)  # (B,)
        dim = self.backbone.STATE_BATCH_DIM

        def rows(part: Any) -> Any:
            if isinstance(part, torch.Tensor):
                shape = [1] * part.dim()
                shape[dim] = -1
                return part.detach() * keep.view(shape).to(part.dtype)
            return type(part)(rows(p) for p in part)

        if self.key is None and self.sounding is None:
            return rows(state)
        state, (counts, ends, sums) = state
        if counts is not None:
            counts = torch.where(keep[:, None], counts.detach(), torch.zeros_like(counts))
        if ends is not None:
            ends = torch.where(keep[:, None], ends.detach(), torch.full_like(ends, NONE))
        return rows(state), (counts, ends, sums)

    @torch.no_grad()
    def step(self, note: Mapping[str, torch.Tensor], state: Any = None) -> tuple[torch.Tensor, Any]:
        """Incremental decoding: feed one note per sequence, ``(B,)`` tensors, with the state
        from the previous call (``None`` at the start); get the backbone's output after it,
        ``(B, H)`` (``heads.draw`` reads it), and the new state. Run ``eval()`` first."""
        fields = (*INPUT_FIELDS, *AHEAD_FIELDS)
        column = {k: None if note.get(k) is None else note[k][:, None] for k in fields}
        x = self._encode(column)  # (B, 1, D)
        x, state, carry = self._with_contexts(x, column, state)
        if hasattr(self.backbone, "step"):
            h, state = self.backbone.step(x[:, 0], state)  # (B, H): the cells' fast path
        else:
            out, state = self.backbone(x, state)  # (B, 1, H)
            h = out[:, 0]
        return h, state if carry is None else (state, carry)
