"""Drawing the next note's categorical fields from the network's logits.

The paper samples the pitch from the softmax rather than taking the argmax, which "often
results in repetitive note sequences"; a temperature (from TensorFlow's music-generation
tutorial), top-k and top-p (nucleus) truncation are the usual refinements. They apply to every
categorical field: the pitch, the track, and, with ``task.timing=categorical``, the step and
duration classes. Rules layer, each setting only what it names (``null``: keep):

1. the global rule (``sampling.temperature``, ...);
2. a track's rule (``sampling.tracks.Bass.temperature=0.7``): every field drawn after the
   note's track, for the notes of that track;
3. a field's rule (``sampling.step.temperature=0.5``): that field, whatever the track;
4. a track's rule for one field (``sampling.tracks.Bass.duration.temperature=1.0``).

Step and duration classes can also be drawn in two stages (``buckets: musical``, a field's
setting): first the musical value (a sixteenth, an eighth, a quarter, ...: the classes
nearest it summed, ``models.time_classes.TimeClasses.buckets``) under the rule, then the
exact class within it under the same rule. A cold rule then sharpens which musical value is
drawn, not which of 385 exact classes: the exact classes spread a long note's probability
over many neighbours (0.92, 0.96, 1.0 beats), and a temperature below 1 over exact classes
favours a short value that a single class holds.

Semitone clashes (``clash``, a pitch's setting): a key a semitone from a key that still
sounds on any pitched track, when the pitch is drawn (at the onset of the note before, or
at the drawn onset where the step comes first), has its probability multiplied by
``clash``. Real Lakh songs put two keys a semitone apart together in 4% of their sounding
time, our networks' pieces in 13-23% (experiments/note_length/README.md, "Semitone
clusters"); the rule is a choice of the decoder, measured there, not the network's.

A piece's own music (``entry``, the track's setting, and ``cache`` and ``cache_drawn``, the
duration's): a track that has played no note in the piece yet, primer included, has its
probability multiplied by ``entry``, and the duration of a note is drawn from the network's
distribution mixed with the durations its track has played in the piece so far, the drawn
ones weighing ``cache_drawn`` (``generation.own_music``).

Accompaniment (``harmony`` and ``root``, the pitch's settings, ``on_kept``, the step's): where
the decoder knows the kept tracks to the piece's end, a key off the kept harmony, a key off
its lowest note's pitch class and an onset off the kept onsets have their probabilities
multiplied by these (``generation.kept_music``); without kept tracks they do nothing.

``Picker`` draws with these rules, masks the tracks a user excluded (``tracks=[Drums,Bass]``
in ``musegen.generate``), keeps a drum note a hit (``DrumHits``), and is what the heads call
(``models.heads``). Every draw takes an
explicit ``torch.Generator`` so that a seed fixes the music, whatever else uses the global
random state; one uniform number per note and field, whatever the rules, so that adding a
track's rule changes that track's notes only through its rule.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from omegaconf import OmegaConf

from musegen.checks import ConfigError, check, integer, number, one_of
from musegen.data.note_timing import RESOLUTION
from musegen.data.tracks import among, canonical_track, drum_track
from musegen.fields import PREDICTED_FIELDS
from musegen.generation.kept_music import KeptMusic
from musegen.generation.own_music import OwnMusic
from musegen.generation.sounding import SoundingKeys

SAMPLED_FIELDS = PREDICTED_FIELDS
RULES = (
    "temperature",
    "top_k",
    "top_p",
    "buckets",
    "clash",
    "harmony",
    "root",
    "on_kept",
    "entry",
    "cache",
    "cache_drawn",
)
BUCKETS = ("exact", "musical")
CHECKS = (
    ("temperature", number(0.0, low_inclusive=False), "a number > 0", float),
    ("top_k", integer(0), "an integer >= 0 (0: off)", int),
    ("top_p", number(0.0, 1.0, low_inclusive=False), "in (0, 1] (1: off)", float),
    ("buckets", one_of(BUCKETS), f"one of {', '.join(BUCKETS)}", str),
    ("clash", number(0.0, 1.0), "a number in [0, 1] (1: off)", float),
    ("harmony", number(0.0, 1.0), "a number in [0, 1] (1: off)", float),
    ("root", number(0.0, 1.0), "a number in [0, 1] (1: off)", float),
    ("on_kept", number(0.0, 1.0), "a number in [0, 1] (1: off)", float),
    ("entry", number(0.0, 1.0), "a number in [0, 1] (1: off)", float),
    ("cache", number(0.0, 1.0), "a number in [0, 1] (0: off)", float),
    ("cache_drawn", number(0.0, 1.0), "a number in [0, 1] (1: every note alike)", float),
)
"""Each setting of a rule: its check, the words of its one-line error, and its type."""
GUIDED = (("harmony", "pitch"), ("root", "pitch"), ("on_kept", "step"))
ACCOMPANIMENT = "accompaniment"
"""The node of the settings an accompaniment draws with, over the rest."""
"""The accompaniment's settings and the field each weighs (``generation.kept_music``)."""

Values = tuple[tuple[str, Any], ...]
"""The settings a partial rule sets, as ``(name, value)`` pairs."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sampling:
    """How to draw from the logits.

    Attributes
    ----------
    temperature : float
        Logits are divided by it: < 1 sharpens, > 1 flattens. Must be > 0.
    top_k : int
        Keep only the ``top_k`` most likely values; 0 keeps all.
    top_p : float
        Keep the smallest set of values whose probability reaches ``top_p``; 1 keeps all.
    buckets : {"exact", "musical"}
        Step and duration: draw the exact class, or the musical value first (module
        docstring). A field's setting; the other fields ignore it.
    clash : float
        The pitch: the network's probability of a key a semitone from a key still sounding
        on any pitched track is multiplied by it, before the temperature (module
        docstring); 1 leaves it, 0 forbids it. A drum note's "pitch" names an instrument and
        is never changed. The pitch's setting; the other fields ignore it.
    harmony : float
        Accompaniment: the probability of a key whose pitch class the kept tracks do not
        sound at the note's onset is multiplied by it (``generation.kept_music``); 1 leaves
        it. The pitch's setting, drums never changed.
    root : float
        Accompaniment: the same for a key off the pitch class of the lowest kept key
        sounding (a bass line on the root). The pitch's setting, drums never changed.
    on_kept : float
        Accompaniment: the same for a step whose onset is no kept note's onset. The step's
        setting (step classes only).
    entry : float
        The probability of a track that has played no note in the piece yet (primer
        included) is multiplied by it; 1 leaves it. The track field's setting, for every
        track alike (a track's own is refused); not in an accompaniment.
    cache : float
        A note's duration is drawn from ``(1 - cache) p + cache q``: the network's
        distribution ``p`` mixed with the share ``q`` of each duration class among the
        notes its track has played in the piece so far (none yet: ``p``), before the
        temperature and truncation (at temperature ``T`` the draw follows that mixture to
        the power ``1 / T``, as with ``clash``); 0 leaves it. The duration's setting, per
        track where a track sets it, where the track is drawn before the duration (or the
        model has one track) and durations are classes; drum notes never.
    cache_drawn : float
        What a note the decoder draws weighs in its track's ``q``, against 1 for a note of
        the music given (the primer, an accompaniment's kept notes): 1 counts every note
        alike; 0 keeps ``q`` to the given music, so that over a long continuation ``q``
        does not drift to the network's own lengths (it otherwise tends to them: each drawn
        note is ``p``'s as much as the song's), and a piece from scratch has no cache. The
        duration's setting, per track where a track sets it.
    fields : tuple of (str, values)
        A field's own settings (``pitch``, ``step``, ...), where it sets any.
    tracks : tuple of (str, values)
        A track's own settings (by its LPD-5 name), where it sets any.
    track_fields : tuple of (str, str, values)
        A track's settings for one field (``tracks.Bass.duration``), where it sets any.
    accompaniment : Sampling, optional
        What an accompaniment draws with (``for_accompaniment``): these rules with the
        config's ``accompaniment`` node over them (``sampling.accompaniment.step.temperature
        =1.0``). An accompaniment draws a few tracks around given ones, a continuation every
        track: a setting chosen on one need not suit the other.
    """

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    buckets: str = "exact"
    clash: float = 1.0
    harmony: float = 1.0
    root: float = 1.0
    on_kept: float = 1.0
    entry: float = 1.0
    cache: float = 0.0
    cache_drawn: float = 1.0
    fields: tuple[tuple[str, Values], ...] = ()
    tracks: tuple[tuple[str, Values], ...] = ()
    track_fields: tuple[tuple[str, str, Values], ...] = ()
    accompaniment: Sampling | None = None

    def __post_init__(self) -> None:
        for name, ok, what, _ in CHECKS:
            check(getattr(self, name), name, ok, what)

    def rule(self, field: str, track: str | None = None) -> Sampling:
        """The rule of ``field`` for a note on ``track``: global, then the track's settings,
        then the field's, then the track's for the field (module docstring)."""
        values = {k: getattr(self, k) for k in RULES}
        if track is not None:
            values.update(dict(self.tracks).get(track, ()))
        values.update(dict(self.fields).get(field, ()))
        if track is not None:
            for name, of, own in self.track_fields:
                if name == track and of == field:
                    values.update(own)
        return Sampling(**values)

    def for_accompaniment(self) -> Sampling:
        """The rules an accompaniment draws with: ``accompaniment``'s, else these."""
        return self.accompaniment or self

    @property
    def track_names(self) -> list[str]:
        """The tracks with a rule of their own (for every field after the track, or one)."""
        names = [name for name, _ in self.tracks]
        return names + [n for n, _, _ in self.track_fields if n not in names]

    def to_dict(self) -> dict[str, Any]:
        """Plain values for reports: the global rule, each field's and each track's settings."""
        out: dict[str, Any] = {k: getattr(self, k) for k in RULES}
        for field, _ in self.fields:
            rule = self.rule(field)
            out[field] = {k: getattr(rule, k) for k in RULES}
        if self.tracks or self.track_fields:
            tracks: dict[str, Any] = {name: dict(values) for name, values in self.tracks}
            for name, field, values in self.track_fields:
                tracks.setdefault(name, {})[field] = dict(values)
            out["tracks"] = tracks
        if self.accompaniment is not None:
            out[ACCOMPANIMENT] = self.accompaniment.to_dict()
        return out

    @classmethod
    def from_config(cls, node: Any, key: str = "sampling", layered: bool = True) -> Sampling:
        """The rules of a config node (``conf/sampling``), every value checked by name:
        ``sampling.temperature must be a number > 0, got 'abc'``. A field's sub-node
        (``step: {temperature: 0.8}``) and a track's (``tracks: {Bass: {top_k: 8}}``) set
        the values they name (``null``: keep); so does the ``accompaniment`` node, over the
        rest, for accompaniments only (``layered``: whether the node may have one)."""
        node = _mapping(
            OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node,
            key,
        )
        nested = (*SAMPLED_FIELDS, "tracks", *((ACCOMPANIMENT,) if layered else ()))
        base = Sampling(**dict(_checked(node, f"{key}.", nested)))
        over = node.pop(ACCOMPANIMENT, None) if layered else None
        if over is not None:  # its own names checked first, as the config names them
            cls.from_config(over, f"{key}.{ACCOMPANIMENT}", layered=False)
            merged = _merged(node, _mapping(over, f"{key}.{ACCOMPANIMENT}"))
            base = replace(base, accompaniment=cls.from_config(merged, key, layered=False))
        fields = []
        for field in SAMPLED_FIELDS:
            values = _checked(_mapping(node.get(field), f"{key}.{field}"), f"{key}.{field}.")
            if values:
                fields.append((field, values))
        tracks: list[tuple[str, Values]] = []
        track_fields: list[tuple[str, str, Values]] = []
        for name, sub in _mapping(node.get("tracks"), f"{key}.tracks").items():
            canonical = canonical_track(name, f"{key}.tracks.{name}")  # one spelling
            sub = _mapping(sub, f"{key}.tracks.{name}")
            values = _checked(sub, f"{key}.tracks.{name}.", SAMPLED_FIELDS)
            own = [
                (canonical, field, _checked(rule, f"{key}.tracks.{name}.{field}."))
                for field in SAMPLED_FIELDS
                if (rule := _mapping(sub.get(field), f"{key}.tracks.{name}.{field}"))
            ]
            entries = [f"{name}." for n, _ in values if n == "entry"]
            entries += [f"{name}.{f}." for _, f, v in own for n, _ in v if n == "entry"]
            if entries:
                raise ConfigError(
                    f"{key}.tracks.{entries[0]}entry: entry weighs every silent track alike; "
                    f"set {key}.track.entry"
                )
            known = {n for n, _ in tracks} | {n for n, _, _ in track_fields}
            if (values or own) and canonical in known:
                raise ConfigError(f"{key}.tracks.{name}: {canonical} has a rule already")
            if values:
                tracks.append((canonical, values))
            track_fields += [(n, f, v) for n, f, v in own if v]
        # Each value is checked above, and no check spans two settings: every combination
        # that rule() builds is valid.
        return replace(
            base, fields=tuple(fields), tracks=tuple(tracks), track_fields=tuple(track_fields)
        )


def _merged(under: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``under`` with every value ``over`` sets put over it, node by node (``null``: keep)."""
    out = dict(under)
    for name, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(name), Mapping):
            out[name] = _merged(out[name], value)
        elif value is not None:
            out[name] = value
    return out


def _mapping(node: Any, key: str) -> dict[str, Any]:
    """A rule's node as a dict (``None``: empty); anything else is one line naming it."""
    if node is None:
        return {}
    if not isinstance(node, Mapping):
        names = ", ".join(n for n, *_ in CHECKS)
        raise ConfigError(f"{key} must be a mapping of {names} (or fields), got {node!r}")
    return dict(node)


def _checked(node: Any, prefix: str, nested: Sequence[str] = ()) -> Values:
    """The settings a node sets, each checked by its rule (``CHECKS``; one line naming it as
    the config does, ``<prefix><name>``), as ``(name, value)``. A key that is neither a rule
    nor one of ``nested`` (the sub-nodes the caller reads) is one line too: a misspelt rule
    would otherwise be dropped without a word."""
    for name in node:
        if name not in RULES and name not in nested:
            known = ", ".join([*RULES, *nested])
            raise ConfigError(f"{prefix}{name}: no such sampling setting; the settings: {known}")
    values = []
    for name, ok, what, kind in CHECKS:
        value = node.get(name)
        if value is not None:
            values.append((name, kind(check(value, f"{prefix}{name}", ok, what))))
    return tuple(values)


def filter_logits(logits: torch.Tensor, sampling: Sampling) -> torch.Tensor:
    """Temperature, top-k and top-p applied to ``(B, V)`` logits; removed values get -inf."""
    logits = logits / sampling.temperature  # (B, V)
    if sampling.top_k and sampling.top_k < logits.shape[-1]:
        kth = torch.topk(logits, sampling.top_k, dim=-1).values[..., -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if sampling.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (B, V)
        probs = sorted_logits.softmax(dim=-1)
        # drop a value when the values before it already reach top_p (the first always stays)
        drop = probs.cumsum(dim=-1) - probs >= sampling.top_p  # (B, V)
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return logits


def is_plain(sampling: Sampling) -> bool:
    """True when a rule leaves the distribution as it is (temperature 1, no truncation)."""
    return sampling.temperature == 1.0 and not sampling.top_k and sampling.top_p >= 1.0


def sample(
    logits: torch.Tensor,
    sampling: Sampling,
    generator: torch.Generator,
    groups: Sequence[tuple[torch.Tensor, Sampling]] = (),
) -> torch.Tensor:
    """One draw per row of ``(B, V)`` logits -> ``(B,)`` int64 indices.

    Inverse-CDF sampling: one uniform number per row, located in the cumulative
    probabilities. ``torch.multinomial`` (and the Gumbel trick) draw ``V`` random numbers per
    row instead, which made sampling cost as much as the network step for a batch of 64.
    Values removed by top-k/top-p have zero probability and are never drawn. ``groups``:
    ``(rows, rule)`` pairs, each drawing its rows (bool, ``(B,)``) with its own rule; the
    rows are chosen with ``torch.where``, not indexed, so that no draw waits on the device to
    say which rows a track holds.
    """
    logits = logits.float()
    probs = (logits if is_plain(sampling) else filter_logits(logits, sampling)).softmax(-1)
    for rows, rule in groups:
        probs = torch.where(rows[:, None], filter_logits(logits, rule).softmax(-1), probs)
    cdf = probs.cumsum(dim=-1)  # (B, V)
    u = torch.rand(cdf.shape[0], 1, generator=generator, device=cdf.device) * cdf[:, -1:]
    index = torch.searchsorted(cdf, u, right=True).squeeze(-1)  # (B,) first cdf > u
    return index.clamp_max(cdf.shape[-1] - 1)


def sample_in_buckets(
    logits: torch.Tensor,
    sampling: Sampling,
    generator: torch.Generator,
    bucket: torch.Tensor,
    groups: Sequence[tuple[torch.Tensor, Sampling]] = (),
) -> torch.Tensor:
    """``sample`` in two stages: a bucket of classes (``bucket``: ``(V,)`` each class's
    bucket index), drawn from the buckets' summed probabilities under the rules, then a
    class within it under the same rules (module docstring). Two uniform numbers a row."""
    logits = logits.float()
    probs = logits.softmax(-1)  # (B, V)
    index = bucket.expand_as(probs)
    n_buckets = int(bucket.max()) + 1
    mass = torch.zeros(probs.shape[0], n_buckets, device=probs.device).scatter_add(1, index, probs)
    chosen = sample(mass.log(), sampling, generator, groups)  # (B,) empty buckets: log 0
    inside = torch.where(bucket[None, :] == chosen[:, None], logits, float("-inf"))  # (B, V)
    return sample(inside, sampling, generator, groups)


@dataclass(frozen=True)
class DrumHits:
    """A model's drum note is one hit: its duration is one time step, the length of every
    drum note LPD stores (it keeps drum onsets only; adjacent hits read as one longer note).

    A duration drawn longer would be written as that many hits a time step apart, a roll
    buzzing at the grid's rate (48 Hz at 120 qpm). So the duration of a note on the drum
    track is masked to the one-step class before it is drawn (``Picker``), and a duration
    drawn before the track is known, or regressed, is set to one step once it is
    (``Picker.settle``).

    Attributes
    ----------
    track : int
        The model's index of the drum track.
    step_class : int, optional
        The duration class of one time step (categorical timing); None for regression.
    step_beats : float
        One time step in beats, ``1 / resolution``.
    """

    track: int
    step_class: int | None
    step_beats: float

    @classmethod
    def of(cls, net: Any, resolution: int = RESOLUTION) -> DrumHits | None:
        """The drum rule of ``net`` (a ``NoteNet``), or None when it models no drums."""
        drum = drum_track(getattr(net.config, "track_names", None))
        if drum is None:
            return None
        tables = getattr(net, "tables", None)
        step = 1.0 / (tables.resolution if tables is not None else resolution)
        step_class = None
        if tables is not None:
            step_class = int(tables.encode("duration", torch.tensor([step]))[0])
        return cls(drum, step_class, step)


class Picker:
    """What the heads draw with: ``pick(field, logits, drawn) -> (B,)`` (``models.heads``).

    Parameters
    ----------
    sampling : Sampling
        The rules (module docstring).
    generator : torch.Generator
        The only source of randomness.
    track_names : sequence of str, optional
        The model's tracks, in its order (``NoteNetConfig.track_names``): which rows a
        track's rule applies to, and what ``allowed`` names.
    allowed : sequence of str, optional
        Draw only these tracks (by name); the others' logits are masked out.
    drums : DrumHits, optional
        Keep drum notes one step long (``generation.continuation`` passes the network's);
        None leaves durations as drawn.
    buckets : mapping of str to Tensor, optional
        Each step and duration class's musical value (``TimeClasses.buckets``), for the
        fields whose rule draws ``buckets="musical"``.
    keys : SoundingKeys, optional
        Mask the steps (pitch drawn first) or the pitches (step drawn first) that would
        restart a key still sounding on the note's track (``generation.sounding``); the
        decoder reports each note (``start``, ``played``).
    kept : KeptMusic, optional
        An accompaniment's kept tracks, for the ``harmony``, ``root`` and ``on_kept``
        rules; the decoder reports each note to it too.
    given : sequence of str, optional
        An accompaniment's kept tracks (by name): drawn like ``allowed`` ones while the
        decoder has a kept note left to feed (``wait``), which it then feeds in the drawn
        note's place. The network so says, note by note, whether the kept music or an
        accompaniment track comes next, as in the songs it learnt from; without them
        every draw is an accompaniment note that only a kept note starting first displaces.
    own : OwnMusic, optional
        What each piece has played, for the ``entry`` and ``cache`` rules; the decoder
        reports each note to it too. Without it those rules do nothing.
    """

    def __init__(
        self,
        sampling: Sampling,
        generator: torch.Generator,
        track_names: Sequence[str] | None = None,
        allowed: Sequence[str] | None = None,
        drums: DrumHits | None = None,
        buckets: Mapping[str, torch.Tensor] | None = None,
        keys: SoundingKeys | None = None,
        kept: KeptMusic | None = None,
        given: Sequence[str] | None = None,
        own: OwnMusic | None = None,
    ) -> None:
        self.sampling, self.generator, self.drums, self.keys = sampling, generator, drums, keys
        names = [canonical_track(n) for n in (track_names or [])]
        self.track_rules = {  # the model's tracks with a rule (rules name LPD-5 tracks)
            names.index(name): name for name in sampling.track_names if name in names
        }
        self.unused = [name for name in sampling.track_names if name not in names]
        if self.unused and names:  # the run's defaults may hold rules for every LPD-5 track
            log.warning(
                "sampling.tracks.%s: the model has no such track (it plays %s); not used",
                ",".join(self.unused),
                ", ".join(names),
            )
        self.allowed: list[int] | None = None
        if allowed is not None:
            self.allowed = [names.index(n) for n in among(allowed, names, "tracks")]
        self.given = [names.index(n) for n in among(given, names, "keep")]
        self.waiting: torch.Tensor | None = None  # (B,): a kept note is left (``wait``)
        self.track_first = bool(self.track_rules)
        # Every rule is resolved once here, not at each note: a note's draw is a few small
        # tensor operations, and rebuilding the rules cost as much at batch 1.
        self._rules = {f: sampling.rule(f) for f in SAMPLED_FIELDS}
        self._track_rules = {
            f: [(i, sampling.rule(f, name)) for i, name in self.track_rules.items()]
            for f in SAMPLED_FIELDS
            if f != "track"
        }
        # the fields drawn in two stages, each with its classes' musical values
        self._buckets = {
            f: b for f, b in (buckets or {}).items() if self._rules[f].buckets == "musical"
        }
        self._mask: torch.Tensor | None = None  # -inf on the excluded tracks, built once
        self._hit: torch.Tensor | None = None  # -inf but on the one-step duration class
        # whether a duration was drawn without the mask (before the track, or regressed)
        self._unmasked = drums is not None and drums.step_class is None
        self._unpitched = drum_track(names)
        # log(clash) of each track's pitch rule, 0 for the drums (their keys name instruments)
        self._log_clash = self._log_factors("pitch", "clash", len(names))  # (n_tracks,)
        self._clash = keys is not None and bool((self._log_clash < 0).any())
        self.kept = kept
        self._log_kept = {  # log of each track's factor, for the settings in use
            name: factors
            for name, field in GUIDED
            if kept is not None
            and (field == "pitch" or kept.step_values is not None)
            and bool(((factors := self._log_factors(field, name, len(names))) < 0).any())
        }
        # entry: not in an accompaniment, whose tracks to draw are the user's choice
        entry = 1.0 if self.given else self._rules["track"].entry
        self._log_entry = torch.tensor([entry]).log()  # (1,)
        n_tracks = max(len(names), own.n_tracks if own is not None else 1)
        cache = self._per_track("duration", "cache", n_tracks)
        if self._unpitched is not None:
            cache[self._unpitched] = 0.0  # a drum note is one hit
        self._cache = torch.tensor(cache)  # (n_tracks,)
        self._cached = bool((self._cache > 0).any())
        self._drawn_weight = torch.tensor(self._per_track("duration", "cache_drawn", n_tracks))
        self._weighs = bool((self._drawn_weight < 1).any())  # a drawn note counts below 1
        self.own = own if entry < 1.0 or self._cached else None  # counted where a rule reads it

    def _per_track(self, field: str, name: str, n_tracks: int) -> list[float]:
        """Each track's ``name`` setting for ``field`` (at least one): a track's own where
        it sets one, else the field's."""
        per_track = [getattr(self._rules[field], name)] * max(n_tracks, 1)
        for i, rule in self._track_rules[field]:
            per_track[i] = getattr(rule, name)
        return per_track

    def _log_factors(self, field: str, name: str, n_tracks: int) -> torch.Tensor:
        """The log of each track's ``name`` setting for ``field`` ``(n_tracks,)`` (at least
        one): 0 for the drums where the field is the pitch (their keys name instruments)."""
        per_track = self._per_track(field, name, n_tracks)
        if field == "pitch" and self._unpitched is not None:
            per_track[self._unpitched] = 1.0
        return torch.tensor(per_track).log()

    def _weighed(
        self,
        logits: torch.Tensor,
        off: torch.Tensor,
        log_factor: torch.Tensor,
        drawn: Mapping[str, torch.Tensor],
    ) -> torch.Tensor:
        """``logits`` ``(B, V)`` with each row's track's ``log_factor`` added where ``off``
        ``(B, V)``; a row where no value would be left unchanged."""
        track = drawn.get("track")
        log_factor = log_factor.to(logits.device)
        if track is None or log_factor.numel() == 1:  # one track, or tracks without names
            penalty = log_factor[:1].expand(logits.shape[0])  # (B,)
        else:
            penalty = log_factor[track]  # (B,)
        out = logits + torch.where(off, penalty[:, None], 0.0)
        empty = torch.isneginf(out).all(dim=1, keepdim=True)  # (B, 1)
        return torch.where(empty, logits, out)

    def _by_kept_music(
        self, field: str, logits: torch.Tensor, drawn: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        """The ``harmony`` and ``root`` rules on the pitch, ``on_kept`` on the step."""
        kept = self.kept
        if field == "pitch":
            for name, off in (("harmony", kept.off_harmony), ("root", kept.off_root)):  # type: ignore[union-attr]
                if name in self._log_kept:
                    logits = self._weighed(logits, off(drawn), self._log_kept[name], drawn)
        elif field == "step" and "on_kept" in self._log_kept:
            off = kept.off_onsets()  # type: ignore[union-attr]
            logits = self._weighed(logits, off, self._log_kept["on_kept"], drawn)
        return logits

    def _track_mask(self, logits: torch.Tensor) -> torch.Tensor:
        """0 on the tracks that may be drawn, -inf elsewhere: ``(V,)``, or ``(B, V)`` where
        the kept tracks are open to the rows still ``waiting`` for a kept note."""
        if self._mask is None or self._mask.device != logits.device:
            mask = torch.full((logits.shape[-1],), float("-inf"), device=logits.device)
            mask[self.allowed] = 0.0
            given = torch.zeros(logits.shape[-1], dtype=torch.bool, device=logits.device)
            given[self.given] = True
            self._mask, self._given = mask, given
        if not self.given or self.waiting is None:
            return self._mask
        open_ = self.waiting.to(logits.device)[:, None] & self._given  # (B, V)
        return torch.where(open_, 0.0, self._mask)

    def wait(self, waiting: torch.Tensor) -> None:
        """The decoder, before each draw: which rows ``(B,)`` have a kept note left."""
        self.waiting = waiting

    def _hit_mask(self, logits: torch.Tensor) -> torch.Tensor:
        if self._hit is None or self._hit.device != logits.device:
            hit = torch.full((logits.shape[-1],), float("-inf"), device=logits.device)
            hit[self.drums.step_class] = 0.0  # type: ignore[union-attr]
            self._hit = hit
        return self._hit

    def _without_clashes(
        self, logits: torch.Tensor, drawn: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        """The pitch logits ``(B, 128)`` with ``log(clash)`` added at the keys a semitone
        from a sounding key (``SoundingKeys.clashes``), each row by its track's rule; a drum
        row, or a row where no key would be left, unchanged."""
        near = self.keys.clashes(drawn, self._unpitched)  # type: ignore[union-attr]  # (B, 128)
        return self._weighed(logits, near, self._log_clash, drawn)

    def _with_cache(self, logits: torch.Tensor, drawn: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The duration logits ``(B, V)`` as the log of ``(1 - cache) p + cache q`` (the
        ``cache`` rule of the row's track; ``q``: its track's durations so far, none: 0)."""
        track = drawn.get("track")  # (B,), or one track
        if track is None:
            track = torch.zeros(logits.shape[0], dtype=torch.int64, device=logits.device)
        counts = self.own.durations(track)  # type: ignore[union-attr]  # (B, V)
        total = counts.sum(-1, keepdim=True)  # (B, 1)
        weight = self._cache.to(logits.device)[track][:, None]  # (B, 1)
        weight = torch.where(total > 0, weight, 0.0)
        mixed = (1.0 - weight) * logits.float().softmax(-1) + weight * counts / total.clamp_min(1)
        return mixed.log()

    def start(self, primer: Mapping[str, torch.Tensor]) -> None:
        """The decoder's primer, ``(B, P)`` tensors: which keys sound as it ends."""
        if self.keys is not None:
            self.keys.start(primer)
        if self.kept is not None:
            self.kept.start(primer)
        if self.own is not None:
            self.own.start(primer)

    def played(self, note: Mapping[str, torch.Tensor], fed: torch.Tensor | None = None) -> None:
        """A note the decoder placed (``(B,)`` tensors with its ``time``): drawn, or where
        ``fed`` ``(B,)`` is set an accompaniment's kept note fed in its place."""
        if self.keys is not None:
            self.keys.played(note)
        if self.kept is not None:
            self.kept.played(note)
        if self.own is not None and not self._weighs:  # every note counts 1
            self.own.played(note)
        elif self.own is not None:
            weight = self._drawn_weight.to(note["duration"].device)[note["track"].long()]
            if fed is not None:
                weight = torch.where(fed, 1.0, weight)
            self.own.played(note, weight)

    def settle(self, note: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A drawn note, ``{field: (B,)}`` with step and duration in beats, with every drum
        note's duration one step (``DrumHits``): what a design that draws the duration before
        the track, or regresses it, needs after the draw."""
        if not self._unmasked or "track" not in note:
            return note
        drum = note["track"] == self.drums.track  # (B,)
        one = torch.full_like(note["duration"], self.drums.step_beats)
        return {**note, "duration": torch.where(drum, one, note["duration"])}

    def __call__(
        self, field: str, logits: torch.Tensor, drawn: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        if field == "track" and self.allowed is not None:
            logits = logits + self._track_mask(logits)  # (B, n_tracks)
        drums = self.drums
        if field == "duration" and drums is not None and drums.step_class is not None:
            if "track" in drawn:  # a drum note's duration: the one-step class only
                drum = drawn["track"] == drums.track  # (B,)
                logits = torch.where(drum[:, None], logits + self._hit_mask(logits), logits)
            else:
                self._unmasked = True
        if self.own is not None:
            if field == "track" and self._log_entry[0] < 0:
                logits = self._weighed(logits, self.own.absent(), self._log_entry, {})
            elif field == "duration" and self._cached and self.own.counts is not None:
                if "track" in drawn or self.own.n_tracks == 1:  # one track: heads draw none
                    logits = self._with_cache(logits, drawn)
        if field == "step" and self.keys is not None:
            logits = self.keys.mask_steps(logits, drawn)  # no onset before the allowed one
        elif field == "pitch" and self.keys is not None and "step" in drawn:
            logits = self.keys.mask_pitches(logits, drawn)  # no key still sounding then
        if field == "pitch" and self._clash:
            logits = self._without_clashes(logits, drawn)
        if self._log_kept:
            logits = self._by_kept_music(field, logits, drawn)
        groups: list[tuple[torch.Tensor, Sampling]] = []
        if field != "track" and "track" in drawn and self.track_rules:
            track = drawn["track"]  # (B,)
            groups = [(track == i, rule) for i, rule in self._track_rules[field]]
        bucket = self._buckets.get(field)
        if bucket is not None:
            bucket = bucket.to(logits.device)
            return sample_in_buckets(logits, self._rules[field], self.generator, bucket, groups)
        return sample(logits, self._rules[field], self.generator, groups)
