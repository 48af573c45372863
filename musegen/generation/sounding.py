"""Which keys still sound, so that a drawn note never restarts one on its track.

Real music read from pianorolls never starts a note on a key of a track while that key
still sounds there (a roll's notes of one pitch are separate runs), yet a network that
draws a note's duration and, later, the next note's step can: 8% of a Lakh model's notes
did. The MIDI writer then ends the earlier note (``note_timing.end_at_repeats``), which is
not what the network drew. Here, while decoding, each piece keeps the time at which every
(track, key) falls silent, and the field drawn second of pitch and step is masked:

* step before pitch (``task.head_order=[track,step,pitch,duration]``): the pitch is drawn
  among the keys of its track silent at the drawn onset. Nothing else moves.
* pitch before step (the default order): the pitch is drawn from the model's joint
  distribution of pitch and step given that the note does not collide, ``p(pitch) P(step >=
  wait(pitch) | pitch)`` (``ChainedHeads``, with ``waits`` from here), and then the steps
  that would start it before its key falls silent are masked. Without the first part a
  sounding key the network favours forces a wait the network gives little probability, and
  a wait moves every later note of every track: with long notes the waits, not the network,
  set the density (experiments/note_length/README.md, "The no-repeat mask").
"""

from __future__ import annotations

from collections.abc import Mapping

import torch


class SoundingKeys:
    """Until when each key of each track sounds, per piece: ``(B, n_tracks * 128)`` time
    steps (track-major), and the onset of the last note (``(B,)``).

    Parameters
    ----------
    step_values : Tensor, shape=(n_classes,)
        Each step class's value in time steps (``ClassTables.step_values``).
    resolution : int
        Time steps per beat.
    n_tracks : int
        The model's tracks.
    bar : int, optional
        Step classes are onsets counted from the bar line before the previous note
        (``TimeClasses(onset="position")``), a bar of ``bar`` time steps: those before the
        previous note are masked too.
    repeats : bool
        Leave sounding keys alone (mask only what ``bar`` asks).
    """

    def __init__(
        self,
        step_values: torch.Tensor,
        resolution: int,
        n_tracks: int,
        bar: int | None = None,
        repeats: bool = False,
    ) -> None:
        self.step_values, self.resolution, self.n_tracks = step_values, resolution, n_tracks
        self.bar, self.repeats = bar, repeats
        self.until: torch.Tensor | None = None  # (B, n_tracks * 128)
        self._values = step_values[None, :]  # (1, V), on the primer's device from start()
        self.last: torch.Tensor | None = None  # (B,)

    def _ends(self, notes: Mapping[str, torch.Tensor]) -> torch.Tensor:
        length = torch.round(notes["duration"] * self.resolution).long().clamp_min(1)
        return notes["time"] + length

    @staticmethod
    def _key(notes: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Each note's (track, key) as one index into a piece's ``n_tracks * 128`` keys."""
        track = notes.get("track")
        return notes["pitch"].long() if track is None else track * 128 + notes["pitch"]

    def start(self, primer: Mapping[str, torch.Tensor]) -> None:
        """Read the primer, ``(B, P)`` tensors with ``time`` (a piece from scratch: the
        neutral start note, which sounds on no real key)."""
        batch = primer["pitch"].shape[0]
        until = torch.zeros(
            batch, self.n_tracks * 128, dtype=torch.int64, device=primer["pitch"].device
        )
        self.until = until.scatter_reduce(1, self._key(primer), self._ends(primer), "amax")
        self.last = primer["time"][:, -1].clone()
        self._values = self.step_values.to(primer["pitch"].device)[None, :]  # (1, V)

    def played(self, note: Mapping[str, torch.Tensor]) -> None:
        """Take in one drawn note per piece, ``(B,)`` tensors with its ``time``."""
        key = self._key(note)[:, None]  # (B, 1)
        self.until.scatter_reduce_(1, key, self._ends(note)[:, None], "amax")  # type: ignore[union-attr]
        self.last = note["time"]

    def _track_until(self, drawn: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Until when each key of the drawn track sounds: ``(B, 128)`` time steps."""
        batch = self.until.shape[0]  # type: ignore[union-attr]
        keys = self.until.view(batch, self.n_tracks, 128)  # type: ignore[union-attr]
        track = drawn.get("track")
        if track is not None:
            keys = keys.gather(1, track.view(batch, 1, 1).expand(batch, 1, 128))
        return keys[:, 0]

    def waits(self, drawn: Mapping[str, torch.Tensor]) -> torch.Tensor | None:
        """The smallest step value ``(B, 128)`` (time steps, as ``step_values`` count) that
        starts a note of each key of the drawn track after that key falls silent: 0 for a
        silent key (onsets counted from the bar line: the previous note's place in its bar).
        None where nothing is masked (``repeats``)."""
        if self.repeats:
            return None
        wait = (self._track_until(drawn) - self.last[:, None]).clamp_min(0)  # type: ignore[index]
        if self.bar is not None:
            wait = wait + torch.remainder(self.last, self.bar)[:, None]  # type: ignore[arg-type]
        return wait

    def mask_steps(self, logits: torch.Tensor, drawn: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The step logits ``(B, V)`` with the steps that would restart a sounding key (the
        drawn track's drawn pitch) at -inf; where every step would (a key held past the
        longest step), the longest is kept."""
        if self.repeats or "pitch" not in drawn:  # nothing to wait for
            wait = torch.zeros_like(self.last)  # type: ignore[arg-type]
        else:  # one track: no track head, every key on track 0
            until = self.until.gather(1, self._key(drawn)[:, None])[:, 0]  # type: ignore[union-attr]
            wait = (until - self.last).clamp_min(0)  # (B,)
        if self.bar is not None:  # a class counts from the bar line before the last onset
            wait = wait + torch.remainder(self.last, self.bar)  # type: ignore[arg-type]
        early = self._values < wait[:, None]  # (B, V)
        early[:, -1] &= ~early.all(dim=1)
        return logits.masked_fill(early, float("-inf"))

    def onset(self, step: torch.Tensor) -> torch.Tensor:
        """The onset ``(B,)`` (time steps) of drawn step classes ``(B,)`` (``onset_of``)."""
        return onset_of(self.last, self._values[0, step], self.bar)  # type: ignore[arg-type]

    def mask_pitches(self, logits: torch.Tensor, drawn: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The pitch logits ``(B, 128)`` with the keys of the drawn track still sounding at
        the drawn step's onset at -inf (a key struck at that very onset among them); where
        every key sounds, none is masked."""
        if self.repeats:
            return logits
        sounding = self._track_until(drawn) > self.onset(drawn["step"])[:, None]  # (B, 128)
        sounding &= ~sounding.all(dim=1, keepdim=True)
        return logits.masked_fill(sounding, float("-inf"))

    def clashes(self, drawn: Mapping[str, torch.Tensor], unpitched: int | None) -> torch.Tensor:
        """The keys ``(B, 128)`` a semitone from a key still sounding on any track but
        ``unpitched`` (the drums, whose keys name instruments): at the drawn step's onset
        where the step was drawn, else at the last onset (a key sounding then may fall
        silent before the note starts: the set errs on the side of more keys)."""
        batch = self.until.shape[0]  # type: ignore[union-attr]
        until = self.until.view(batch, self.n_tracks, 128)  # type: ignore[union-attr]
        if unpitched is not None:
            until = until[:, [t for t in range(self.n_tracks) if t != unpitched]]
        at = self.onset(drawn["step"]) if "step" in drawn else self.last
        sounding = (until > at[:, None, None]).any(dim=1)  # type: ignore[index]  # (B, 128)
        near = torch.zeros_like(sounding)
        near[:, 1:] |= sounding[:, :-1]  # a semitone above a sounding key
        near[:, :-1] |= sounding[:, 1:]  # a semitone below
        return near


def onset_of(last: torch.Tensor, value: torch.Tensor, bar: int | None) -> torch.Tensor:
    """The onset (time steps) of a step of ``value`` time steps after the note at ``last``:
    ``last + value``, or, where step classes count from the bar line before the previous note
    (``bar``), that line plus ``value`` and never before ``last``. Broadcasts."""
    if bar is None:
        return last + value
    line = last - torch.remainder(last, bar)
    return torch.maximum(line + value, last)
