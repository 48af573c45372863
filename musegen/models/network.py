"""The next-note network: note encoder -> recurrent backbone -> heads, as a plain nn.Module.

It knows nothing of Lightning, so generation and tests use it directly. ``config`` is a
plain dict (JSON-able) that rebuilds the same network; checkpoints carry it beside the
weights (``checkpoint.load_network``).
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from musegen.models.heads import NoteHeads, NotePrediction
from musegen.models.note_encoder import NoteEncoder
from musegen.models.time_classes import ClassTables, TimeClasses

TIMINGS = ("regression", "categorical")
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


def build_backbone(net: Mapping[str, Any], input_size: int) -> nn.Module:
    """Instantiate ``net`` (``{"_target_": ..., **kwargs}``) with the encoder's width."""
    kwargs = {k: v for k, v in net.items() if not k.startswith("_")}
    return resolve_backbone(net.get("_target_"))(input_size=input_size, **kwargs)


class NoteNet(nn.Module):
    """Predict the next note (pitch, step, duration, track) after each note of a sequence.

    Parameters
    ----------
    net : mapping
        The backbone: ``_target_`` (a class in ``musegen.models.backbones``) and its keyword
        arguments except ``input_size``, which the encoder decides.
    n_tracks : int
        Modelled tracks (the track head exists only when > 1).
    encoder : mapping
        ``NoteEncoder`` keyword arguments (``pitch_dim``, ``track_dim``, ``time_dim``,
        ``time_input``).
    track_names : list of str, optional
        Names of the modelled tracks, kept in ``config`` for decoding.
    timing : mapping, optional
        ``{"kind": "categorical", **TimeClasses fields}`` for class heads on the time grid;
        ``None`` or ``{"kind": "regression"}`` for the paper's regression (what checkpoints
        written before categorical timing existed hold).
    """

    def __init__(
        self,
        net: Mapping[str, Any],
        n_tracks: int = 1,
        encoder: Mapping[str, Any] | None = None,
        track_names: list[str] | None = None,
        timing: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        encoder = dict(encoder or {})
        timing = dict(timing or {"kind": "regression"})
        kind = timing.pop("kind", "regression")
        if kind not in TIMINGS:
            raise ValueError(f"task.timing: {kind!r} is not one of {list(TIMINGS)}")
        self.tables = (
            ClassTables(TimeClasses.from_config(timing)) if kind == "categorical" else None
        )
        if encoder.get("time_input") == "auto":  # classes with classes, else the scalars
            encoder["time_input"] = "classes" if self.tables is not None else "scalar"
        self.encoder = NoteEncoder(n_tracks=n_tracks, tables=self.tables, **encoder)
        self.backbone = build_backbone(net, self.encoder.out_dim)
        self.heads = NoteHeads(self.backbone.hidden_size, n_tracks, self.tables)
        self.n_tracks = n_tracks
        self.config: dict[str, Any] = {
            "net": copy.deepcopy(dict(net)),
            "n_tracks": int(n_tracks),
            "encoder": encoder,
            "track_names": list(track_names) if track_names is not None else None,
            "timing": {"kind": kind, **(self.tables.classes.to_config() if self.tables else {})},
        }

    @property
    def uses_time(self) -> bool:
        """True when the network reads each note's onset (the bar-position input)."""
        return self.encoder.position_emb is not None

    @property
    def categorical(self) -> bool:
        """True when step and duration are classes (``task.timing=categorical``)."""
        return self.tables is not None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> NoteNet:
        """Rebuild a network from its ``config``."""
        return cls(**dict(config))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def hidden(
        self, notes: Mapping[str, torch.Tensor], state: Any = None
    ) -> tuple[torch.Tensor, Any]:
        """Backbone output after each note: ``(B, T, H)``, and the state after the last."""
        x = self.encoder(
            notes["pitch"], notes["step"], notes["duration"], notes.get("track"), notes.get("time")
        )
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            # trainer.precision=bf16-mixed on a CPU: oneDNN has no bf16 LSTM kernel on many
            # CPUs ("could not create a primitive descriptor"), so the backbone runs in
            # float32 there; the encoder and heads keep autocast's bf16 matmuls.
            with torch.autocast("cpu", enabled=False):
                return self.backbone(x.float(), state)  # (B, T, H), state
        return self.backbone(x, state)  # (B, T, H), state

    def forward(
        self, notes: Mapping[str, torch.Tensor], state: Any = None
    ) -> tuple[NotePrediction, Any]:
        """Notes as ``(B, T)`` tensors -> predictions of the note after each, ``(B, T, ...)``."""
        h, state = self.hidden(notes, state)
        return self.heads(h), state

    @torch.no_grad()
    def step(
        self, note: Mapping[str, torch.Tensor], state: Any = None
    ) -> tuple[NotePrediction, Any]:
        """Incremental decoding: feed one note per sequence, ``(B,)`` tensors, with the state
        from the previous call (``None`` at the start); get the next note's prediction,
        ``(B, ...)``, and the new state. Run ``eval()`` first so dropout is off."""
        column = {k: None if note.get(k) is None else note[k][:, None] for k in ("track", "time")}
        x = self.encoder(
            note["pitch"][:, None],
            note["step"][:, None],
            note["duration"][:, None],
            column["track"],
            column["time"],
        )[:, 0]  # (B, D)
        if hasattr(self.backbone, "step"):
            h, state = self.backbone.step(x, state)  # (B, H): the cell functions' fast path
        else:
            out, state = self.backbone(x[:, None], state)  # (B, 1, H)
            h = out[:, 0]
        return self.heads(h), state  # (B, ...)
