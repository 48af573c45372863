"""What each piece has played so far, for the draw rules that follow a piece's own music.

A continuation's primer says what its song sounds like: which instruments play, and how
long each one holds its notes. On the Lakh songs the primer's mean note length per track
ranks the real continuations' (Spearman's rho 0.77-0.93 on the test songs), where the
network's drawn lengths do not (rho near 0), and a track the primer does not play enters the
real continuation of a quarter of the validation songs but the network's of three quarters
(experiments/note_length/README.md, "The piece's own music"). Two rules of the decoder
(``generation.sampling``) read this:

* ``entry`` (the track's): the probability of a track that has played no note in the piece
  yet, primer included, is multiplied by it;
* ``cache`` (the duration's, per track): the network's duration distribution is mixed with
  the piece's own durations on the note's track so far, ``(1 - cache) p + cache q``, where
  ``q`` is the share of each duration class among them; a track without notes yet keeps
  ``p``. This is a cache language model (Kuhn & De Mori, 1990) over one field. A drawn
  note's duration counts at ``cache_drawn`` (the duration's, per track), the given music's
  (primer, kept notes) at 1: at 0 the cache holds the song's own lengths however long the
  continuation, where counting the drawn notes alike lets it drift to the network's.

The primer and every note the decoder places (drawn, or an accompaniment's kept note) are
counted; the neutral start note of a piece from scratch (``fields.REST_PITCH``, duration 0)
is not. In an accompaniment ``entry`` does nothing (``Picker``): the tracks to draw are the
user's choice, and holding them back would only feed the kept music sooner.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from musegen.fields import REST_PITCH


class OwnMusic:
    """Per piece: how many notes each track has played ``(B, n_tracks)`` and how often each
    duration class has sounded on each track ``(B, n_tracks * n_classes)``.

    Parameters
    ----------
    n_tracks : int
        The model's tracks.
    encode : callable or None
        Durations in beats ``(...)`` -> duration classes (``ClassTables.encode`` for the
        duration); None where durations are regressed: no duration counts then.
    n_classes : int
        The duration classes (0 without ``encode``).
    """

    def __init__(
        self,
        n_tracks: int,
        encode: Callable[[torch.Tensor], torch.Tensor] | None,
        n_classes: int,
    ) -> None:
        self.n_tracks, self.encode, self.n_classes = n_tracks, encode, n_classes
        # both set by start(), before any note is drawn
        self.notes: torch.Tensor | None = None  # (B, n_tracks) notes counted
        self.counts: torch.Tensor | None = None  # (B, n_tracks * n_classes)

    @classmethod
    def of(cls, net: Any) -> OwnMusic:
        """The counter for ``net``'s (a ``NoteNet``'s) tracks and duration classes."""
        tables = net.tables  # None where durations are regressed
        n_tracks = max(int(net.n_tracks), 1)
        if tables is None:
            return cls(n_tracks, None, 0)
        size = tables.size("duration")
        return cls(n_tracks, lambda beats: tables.encode("duration", beats), size)

    def start(self, primer: Mapping[str, torch.Tensor]) -> None:
        """Count the primer's notes, ``(B, P)`` tensors."""
        duration = primer["duration"]
        batch = duration.shape[0]
        self.notes = duration.new_zeros(batch, self.n_tracks)
        if self.encode is not None:
            self.counts = duration.new_zeros(batch, self.n_tracks * self.n_classes)
        start = (primer["pitch"] == REST_PITCH) & (duration == 0)  # a piece from scratch
        self._add(duration, primer["track"].long(), (~start).to(duration.dtype))

    def played(self, note: Mapping[str, torch.Tensor], weight: torch.Tensor | None = None) -> None:
        """Count one placed note per piece, ``(B,)`` tensors (a regressed duration of 0 too:
        it is written one step long); its duration at ``weight`` ``(B,)`` (1 without)."""
        duration = note["duration"][:, None]
        one = torch.ones_like(duration)
        heard = one if weight is None else weight[:, None].to(duration.dtype)
        self._add(duration, note["track"].long()[:, None], one, heard)

    def _add(
        self,
        duration: torch.Tensor,
        track: torch.Tensor,
        weight: torch.Tensor,
        heard: torch.Tensor | None = None,
    ) -> None:
        """Count the ``(B, n)`` notes, each at its ``weight`` (1, or 0: not a note), and
        their durations at ``heard`` (``weight`` without)."""
        self.notes.scatter_add_(1, track, weight)  # type: ignore[union-attr]
        if self.counts is not None:
            index = track * self.n_classes + self.encode(duration)  # type: ignore[misc]
            self.counts.scatter_add_(1, index, weight if heard is None else heard)

    def absent(self) -> torch.Tensor:
        """``(B, n_tracks)`` bool: the tracks that have played no note yet."""
        return self.notes == 0  # type: ignore[union-attr]

    def durations(self, track: torch.Tensor) -> torch.Tensor:
        """The duration classes the piece has played on each row's ``track`` ``(B,)``:
        counts ``(B, n_classes)``."""
        batch = track.shape[0]
        counts = self.counts.view(batch, self.n_tracks, self.n_classes)  # type: ignore[union-attr]
        return torch.take_along_dim(counts, track.long().view(batch, 1, 1), dim=1)[:, 0]
