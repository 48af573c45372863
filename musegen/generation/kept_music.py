"""What the kept tracks of an accompaniment play at every time step, for the draw rules.

In an accompaniment (``generation.accompany``) the kept tracks are known to the piece's end
before a note is drawn, yet a left-to-right network reads them only up to the note it draws:
at the onset of a drawn bass note it has not seen the chord the Piano strikes there. The
decoder has. Three rules of the draw (``Sampling``: ``harmony``, ``root``, ``on_kept``; 1 is
off) use it, each multiplying the network's probability of what the kept music does not
support:

* ``harmony`` (the pitch): a key whose pitch class no kept pitched note sounds at the drawn
  note's onset;
* ``root`` (the pitch): a key whose pitch class is not that of the lowest kept pitched note
  sounding there (a bass line on the harmony's root);
* ``on_kept`` (the step): an onset where no kept note starts.

The onset is the drawn step's where the step is drawn before the pitch, else the previous
note's: a note starts no later than the next kept onset (a later one gives way to the kept
note, ``decode._Kept``), and between two kept onsets the kept notes sounding only fall silent,
so the classes sounding at the previous onset hold every class that can sound at the note's
(but for the kept notes that start at that next onset where the drawn note's track sorts
before theirs and so goes first, ``decode._Kept.first``: a Bass drawn before a kept Strings
chord, say).
Where no kept pitched note sounds, or a drum note is drawn, the pitch is left alone. These
are choices of the decoder, measured in experiments/accompaniment/lakh/README.md, not what
the network learnt; the kept music is never changed.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from musegen.generation.sounding import onset_of

NONE = 128
"""``lowest`` where no kept pitched note sounds (above every key)."""


class KeptMusic:
    """The kept notes of a batch of pieces as timelines: ``classes`` ``(B, T, 12)`` (the pitch
    classes sounding), ``lowest`` ``(B, T)`` (the lowest key sounding, ``NONE``: none) and
    ``onsets`` ``(B, T)`` (a kept note starts), over time steps ``0 .. T - 1``.

    Parameters
    ----------
    kept : dict of Tensor, shape=(B, K)
        ``time`` (time steps), ``duration`` (beats), ``pitch`` and ``track`` (the model's
        indices), as ``decode.generate`` takes them, K >= 1; padding rows may sit past the
        end.
    resolution : int
        Time steps per beat.
    unpitched : int, optional
        The model's drum track: its notes start onsets but sound no pitch class.
    step_values : Tensor, shape=(V,), optional
        Each step class's value in time steps (``ClassTables.step_values``); None where the
        step is regressed in beats (``on_kept`` then has no classes to weigh).
    bar : int, optional
        Step classes count from the bar line before the previous note (as ``SoundingKeys``).
    """

    def __init__(
        self,
        kept: Mapping[str, torch.Tensor],
        resolution: int,
        unpitched: int | None,
        step_values: torch.Tensor | None,
        bar: int | None = None,
    ) -> None:
        time = kept["time"].long()  # (B, K)
        batch, device = time.shape[0], time.device
        length = torch.round(kept["duration"] * resolution).long().clamp_min(1)
        self.span = int((time + length).max()) + 1  # at least one kept note
        rows = torch.arange(batch, device=device)[:, None].expand_as(time)
        self.onsets = torch.zeros(batch, self.span, dtype=torch.bool, device=device)
        self.onsets[rows, time] = True
        pitched = torch.ones_like(time, dtype=torch.bool)
        if unpitched is not None:
            pitched = kept["track"] != unpitched
        length, rows, start = length[pitched], rows[pitched], time[pitched]
        pitch = kept["pitch"].long()[pitched]
        # every sounding step of every pitched note, in one flat run (no loop over notes)
        offset = torch.arange(int(length.sum()), device=device)
        first = torch.repeat_interleave(torch.cumsum(length, 0) - length, length)
        step = torch.repeat_interleave(start, length) + offset - first
        row = torch.repeat_interleave(rows, length)
        key = torch.repeat_interleave(pitch, length)
        self.classes = torch.zeros(batch, self.span, 12, dtype=torch.bool, device=device)
        self.classes[row, step, key % 12] = True
        self.lowest = _lowest(row, step, key, batch, self.span)
        self.step_values = None if step_values is None else step_values.to(device)
        self.bar, self.resolution = bar, resolution
        self.last = torch.zeros(batch, dtype=torch.int64, device=device)
        self._rows = torch.arange(batch, device=device)  # built once: asked at every note
        self._keys = torch.arange(128, device=device)

    def start(self, primer: Mapping[str, torch.Tensor]) -> None:
        """The decoder's primer ``(B, P)``: the onset its last note starts at."""
        self.last = primer["time"][:, -1].long().clone()

    def played(self, note: Mapping[str, torch.Tensor]) -> None:
        """A note the decoder placed (drawn or kept), ``(B,)`` tensors with its ``time``."""
        self.last = note["time"].long()

    def _at(self, drawn: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The drawn note's onset ``(B,)``, clamped into the timelines (past the kept music's
        end nothing sounds; the last step of the span is silent)."""
        at = self.last
        if "step" in drawn and self.step_values is None:  # a regressed step, in beats
            at = self.last + torch.round(drawn["step"] * self.resolution).long()
        elif "step" in drawn:
            at = onset_of(self.last, self.step_values[drawn["step"]], self.bar)
        return at.clamp(0, self.span - 1)

    def off_harmony(self, drawn: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The keys ``(B, 128)`` whose pitch class no kept pitched note sounds at the onset;
        none where no kept pitched note sounds."""
        sounding = self.classes[self._rows, self._at(drawn)]  # (B, 12)
        off = ~sounding.repeat(1, 11)[:, :128]  # (B, 128): key k has class k % 12
        return off & sounding.any(dim=1, keepdim=True)

    def off_root(self, drawn: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The keys ``(B, 128)`` whose pitch class is not the lowest sounding kept key's;
        none where no kept pitched note sounds."""
        lowest = self.lowest[self._rows, self._at(drawn)]  # (B,)
        off = (self._keys[None, :] % 12) != (lowest[:, None] % 12)
        return off & (lowest < NONE)[:, None]

    def off_onsets(self) -> torch.Tensor:
        """The step classes ``(B, V)`` whose onset is not a kept onset (past the kept music's
        end: none is)."""
        values = self.step_values[None, :]  # type: ignore[index]  # (1, V)
        at = onset_of(self.last[:, None], values, self.bar)  # (B, V)
        inside = at < self.span
        hit = self.onsets.gather(1, at.clamp_max(self.span - 1)) & inside
        return ~hit


def _lowest(
    row: torch.Tensor, step: torch.Tensor, key: torch.Tensor, batch: int, span: int
) -> torch.Tensor:
    """The lowest of ``key`` at each ``(row, step)``: ``(batch, span)``, ``NONE`` elsewhere."""
    flat = torch.full((batch * span,), NONE, dtype=torch.int64, device=key.device)
    return flat.scatter_reduce(0, row * span + step, key, "amin").view(batch, span)
