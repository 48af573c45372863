"""The network's shape as one typed value: ``NoteNetConfig``.

The task builds it from ``conf/task`` and ``conf/model``, ``sizing.size_for_budget`` returns
it resized, ``NoteNet`` is built from it, and checkpoints store ``to_dict()`` beside the
weights, so that ``checkpoint.load_network`` rebuilds the same network without Hydra.
``from_dict`` reads every format written so far:

* format 1: no ``timing`` (regression), sometimes no ``track_names``;
* format 2: ``timing`` with the categorical class set;
* format 3: ``heads`` (their design and field order) and ``context`` (the notes training
  showed the network at once, which generation keeps to);
* format 4: ``velocity``, the velocity classes where velocity is a field;
* format 5: ``heads.velocity``, how the velocity head learns (``VELOCITY_HEADS``;
  earlier formats: ``shared``), and the velocity drawn last unless ``heads.order`` places it
  (format 4 drew it after the track);
* format 6: ``encoder.sounding_dim``, the input of the pitches still sounding
  (``models.sounding_context``; earlier formats: none);
* format 7: ``encoder.texture_dim``, the input of each track's density and note length so
  far (``models.texture_context``; earlier formats: none);
* format 8 (this one): ``encoder.ahead_dim``, the input of an accompaniment's kept music
  ahead of each note (``models.ahead_context``; earlier formats: none).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from musegen.checks import at_least, check, integer, number, one_of, optional
from musegen.fields import NOTE_FIELDS, VELOCITY
from musegen.models.time_classes import TimeClasses
from musegen.models.velocity_classes import VelocityClasses

TIMINGS = ("regression", "categorical")
DEFAULT_ORDER = ("track", "pitch", "step", "duration")
"""The chained heads' default order: which instrument, which pitch, when, how long
(measured against step-first and pitch-first orders in experiments/README.md, "Note model")."""
VELOCITY_HEADS = ("readout", "shared")
"""How a velocity head learns: ``readout`` reads the backbone's state and the fields drawn
before it without training them (its loss reaches only its own two layers); ``shared`` trains
them like the other fields. Shared, velocity costs the other fields 0.4-0.6 nats of test
note NLL on Lakh (experiments/note_length/README.md, "Velocity"): a file's dynamics are its
own, and learning them teaches the state the 97 training songs."""
FORMAT = 8
CHECKPOINT_KEY = "musegen"
"""Key of the checkpoint entry holding the network config (``task.NextNoteTask`` writes it,
``checkpoint`` reads it)."""
MIN_CONTEXT = 2
"""The shortest context a network can keep to in generation (``generation.decode``): it
re-reads the last half of it, at least one note."""


@dataclass(frozen=True)
class TimingConfig:
    """How step and duration are predicted: ``regression`` (TensorFlow's tutorial's, whose
    losses the paper reports) or ``categorical`` classes on the time grid (``TimeClasses``)."""

    kind: str = "regression"
    classes: TimeClasses | None = None

    def __post_init__(self) -> None:
        check(self.kind, "task.timing", one_of(TIMINGS), " or ".join(TIMINGS))
        if self.kind == "categorical" and self.classes is None:
            object.__setattr__(self, "classes", TimeClasses())
        if self.kind == "regression":
            object.__setattr__(self, "classes", None)

    @property
    def categorical(self) -> bool:
        return self.kind == "categorical"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **(self.classes.to_config() if self.classes else {})}

    @classmethod
    def from_dict(cls, value: Mapping[str, Any] | None) -> TimingConfig:
        value = dict(value or {"kind": "regression"})
        kind = value.pop("kind", "regression")
        return cls(kind, TimeClasses.from_config(value) if kind == "categorical" else None)


@dataclass(frozen=True)
class HeadsConfig:
    """Which heads predict a note's fields (``models.heads``, whose registry checks ``kind``).

    ``independent``: every field from the hidden state alone (TensorFlow's tutorial's, and
    MMT's); ``chained``: in ``order``, each field's head also reads the fields before it in
    the same note. ``width``: the chained heads' conditioning width (0: the backbone's).
    ``velocity``: how a velocity head learns (``VELOCITY_HEADS``); ``velocity_grad``: the
    share of a readout's gradient that reaches the backbone's state (0: none).
    """

    kind: str = "independent"
    order: tuple[str, ...] = DEFAULT_ORDER
    width: int = 0
    velocity: str = "shared"
    velocity_grad: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "order", tuple(str(f) for f in self.order))
        fields = sorted(f for f in self.order if f != VELOCITY)
        if fields != sorted(NOTE_FIELDS) or self.order.count(VELOCITY) > 1:
            raise ValueError(
                f"task.head_order must name each of {list(NOTE_FIELDS)} once (and "
                f"{VELOCITY} at most once), got {list(self.order)}"
            )
        at_least(self.width, "task.head_width", 0)
        check(
            self.velocity, "task.velocity_head", one_of(VELOCITY_HEADS), " or ".join(VELOCITY_HEADS)
        )
        check(self.velocity_grad, "task.velocity_grad", number(0.0, 1.0), "a number in [0, 1]")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "order": list(self.order),
            "width": self.width,
            "velocity": self.velocity,
            "velocity_grad": self.velocity_grad,
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, Any] | None) -> HeadsConfig:
        value = dict(value or {})
        if "order" in value:
            value["order"] = tuple(value["order"])
        return cls(**value)


@dataclass(frozen=True)
class NoteNetConfig:
    """Everything that fixes a ``NoteNet``'s shape (see the module docstring).

    Attributes
    ----------
    net : dict
        The backbone: ``_target_`` and its keyword arguments but ``input_size``.
    n_tracks : int
        Modelled tracks; the track head exists with more than one.
    track_names : tuple of str, optional
        Their LPD-5 names, in the model's order.
    encoder : dict
        ``NoteEncoder`` keyword arguments (``time_input`` already resolved from ``auto``).
    timing, heads : TimingConfig, HeadsConfig
    context : int, optional
        The longest run of notes training fed the network (``data.seq_len``): generation
        re-reads its last notes when it gets there (``generation.decode``). ``None`` (written
        before it was stored): generation carries the state indefinitely.
    velocity : VelocityClasses, optional
        Velocity as a field (``models.velocity_classes``), predicted last unless
        ``heads.order`` places it; None: not modelled (the writer takes the music's).
    """

    net: dict[str, Any]
    n_tracks: int = 1
    track_names: tuple[str, ...] | None = None
    encoder: dict[str, Any] = field(default_factory=dict)
    timing: TimingConfig = field(default_factory=TimingConfig)
    heads: HeadsConfig = field(default_factory=HeadsConfig)
    context: int | None = None
    velocity: VelocityClasses | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "net", copy.deepcopy(dict(self.net)))
        encoder = copy.deepcopy(dict(self.encoder))
        if encoder.get("time_input", "auto") == "auto":  # classes with classes, else scalars
            encoder["time_input"] = "classes" if self.timing.categorical else "scalar"
        object.__setattr__(self, "encoder", encoder)
        if self.track_names is not None:
            object.__setattr__(self, "track_names", tuple(self.track_names))
        if self.heads.kind == "chained" and not self.timing.categorical:
            raise ValueError(
                "task.heads=chained needs task.timing=categorical (a regressed step or "
                "duration has no class for the next field's head to read): add "
                "task.heads=independent, as experiment=paper does"
            )
        check(
            self.context,
            "the trained context (data.seq_len with task.target=all)",
            optional(integer(MIN_CONTEXT)),
            f"an integer >= {MIN_CONTEXT} or null: generation re-reads the last half of it",
        )
        if self.velocity is None:  # no velocity head: its settings mean nothing, and must not
            # tell two networks apart (a checkpoint written before them reads as "shared")
            heads = replace(self.heads, velocity="readout", velocity_grad=0.0)
            object.__setattr__(self, "heads", heads)
        if self.velocity is not None and not self.timing.categorical:
            raise ValueError(
                "task.velocity_classes needs task.timing=categorical (velocity is drawn as "
                "classes beside the time classes); set task.velocity_classes=0"
            )

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields the heads predict, in their drawing order (no track with one track;
        the velocity, where modelled, last unless the order places it: a field drawn after
        it reads its true value in training, which costs that field as much as a shared
        velocity head does; experiments/note_length/README.md, "Velocity")."""
        order = [f for f in self.heads.order if f != VELOCITY or self.velocity is not None]
        if self.velocity is not None and VELOCITY not in order:
            order.append(VELOCITY)
        return tuple(f for f in order if f != "track" or self.n_tracks > 1)

    def with_backbone(self, **kwargs: Any) -> NoteNetConfig:
        """The same config with backbone arguments changed (e.g. ``hidden_size``)."""
        return replace(self, net={**self.net, **kwargs})

    def to_dict(self) -> dict[str, Any]:
        """Plain values (JSON-able, loadable with ``weights_only``): what checkpoints store."""
        return {
            "format": FORMAT,
            "net": copy.deepcopy(self.net),
            "n_tracks": int(self.n_tracks),
            "encoder": copy.deepcopy(self.encoder),
            "track_names": None if self.track_names is None else list(self.track_names),
            "timing": self.timing.to_dict(),
            "heads": self.heads.to_dict(),
            "context": self.context,
            "velocity": None if self.velocity is None else self.velocity.to_dict(),
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> NoteNetConfig:
        """Read any format a checkpoint holds (module docstring)."""
        value = dict(value)
        heads = HeadsConfig.from_dict(value.get("heads"))
        velocity = VelocityClasses.from_dict(value.get("velocity"))
        if velocity is not None and VELOCITY not in heads.order and value.get("format", 1) < 5:
            order = list(heads.order)  # format 4 drew the velocity after the track
            order.insert(order.index("track") + 1, VELOCITY)
            heads = replace(heads, order=tuple(order))
        return cls(
            net=dict(value["net"]),
            n_tracks=int(value.get("n_tracks", 1)),
            track_names=value.get("track_names"),
            encoder=dict(value.get("encoder") or {}),
            timing=TimingConfig.from_dict(value.get("timing")),
            heads=heads,
            context=value.get("context"),
            velocity=velocity,
        )


def stored_performance(checkpoint: Mapping[str, Any]) -> dict[str, Any] | None:
    """The training songs' median tempo and velocities a checkpoint stores (plain values,
    ``data.performance.Performance.to_dict``), or None for one written before they were."""
    entry = checkpoint.get(CHECKPOINT_KEY)
    value = entry.get("performance") if isinstance(entry, Mapping) else None
    return dict(value) if isinstance(value, Mapping) else None
