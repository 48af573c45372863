"""Autoregressive decoding of a ``NoteNet``: incremental (the default) or window re-runs.

Incremental decoding feeds each drawn note back with the state of the previous call, so a
note costs one step of the network. It keeps to what training showed the network: after
``context`` notes (the training window, ``NoteNetConfig.context``) it re-reads the last
``context // 2`` notes from a fresh state and goes on, so every note is drawn after between
``context // 2`` and ``context`` notes, as the song pass of the test scores them
(``data.windows.SongWindows``). A re-read is one parallel pass over ``context // 2`` notes
every ``context // 2`` notes. A network stored before ``context`` existed carries its state
indefinitely, as decoding then did.

TensorFlow's music-generation tutorial (whose losses the paper reports) instead re-runs the
last ``seq_len`` notes at every note (``mode="window"``): ``seq_len`` steps a note; kept as
the baseline of ``make bench`` and for networks that must see exactly a window.

The heads draw each note's fields (``models.heads``: ``draw(h, pick)``), with a ``Picker``
that applies the sampling rules and the track mask. All pieces are decoded as one batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch

from musegen.checks import at_least, check, integer, one_of, optional
from musegen.data.ahead import next_kept, track_bits
from musegen.data.note_timing import RESOLUTION
from musegen.fields import AHEAD_FIELDS, INPUT_FIELDS, NO_KEPT_NOTE, REST_PITCH, VELOCITY
from musegen.generation.notes import model_track_ids
from musegen.generation.sampling import Picker
from musegen.models.config import MIN_CONTEXT

FIELDS = INPUT_FIELDS
MODES = ("incremental", "window")
TRAINED = "trained"
"""``context=trained``: keep to the network's own training window (``NoteNetConfig.context``;
a network stored before it was kept carries its state)."""
PROGRESS_EVERY = 64


def start_notes(batch_size: int, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """The neutral one-note primer of ``primer=none``: shape ``(B, 1)`` per field."""
    zeros = torch.zeros(batch_size, 1, device=device)
    integers = torch.zeros(batch_size, 1, dtype=torch.int64, device=device)
    return {
        "pitch": torch.full((batch_size, 1), REST_PITCH, dtype=torch.int64, device=device),
        "step": zeros,
        "duration": zeros,
        "track": integers,
        "time": integers,
        VELOCITY: integers,
    }


def check_mode(value: Any) -> str:
    """``value`` if it is a decoding mode (``MODES``); else one ``ConfigError`` line."""
    return check(value, "mode", one_of(MODES), " or ".join(MODES))


def check_context(value: Any, name: str = "context") -> int | str | None:
    """``value`` if it is a context decoding can keep to: ``"trained"``, ``None`` (carry the
    state) or an integer >= ``MIN_CONTEXT``; else one ``ConfigError`` line naming ``name``."""
    rule = optional(lambda v: v == TRAINED or integer(MIN_CONTEXT)(v))
    return check(value, name, rule, f"{TRAINED}, null or an integer >= {MIN_CONTEXT}")


def resolve_context(value: int | str | None, net: Any) -> int | None:
    """The context ``value`` names, in notes (``"trained"``: the network's own), checked."""
    check_context(value)
    if value == TRAINED:
        return getattr(getattr(net, "config", None), "context", None)
    return value  # type: ignore[return-value]


def _last_hidden(net: Any, notes: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, Any]:
    """The backbone's output after the last of ``notes`` ``(B, H)``, from a fresh state."""
    h, state = net.hidden(notes)  # (B, T, H)
    return h[:, -1], state


@contextmanager
def _onednn(enabled: bool) -> Iterator[None]:
    """oneDNN on or off for the block: a note's small operations run without it.

    At one piece a note is a few dozen operations on vectors of a hundred values. oneDNN's
    GELU has a fixed cost per call far above the arithmetic on such a vector, which PyTorch's
    own kernel (the same exact, erf GELU) does not, and the chained heads call it four times
    a note: with oneDNN on they generated 0.75x the independent heads' notes per second at
    batch 1, with it off 0.91x (``make bench``, "generation, five tracks"). ``generate``
    turns it off once around its loop and back to the caller's setting for each pass over
    a window (the primer, a re-read, the window re-run), which is faster with oneDNN's
    recurrent kernels. The flag is global to the process and restored on exit.
    """
    before = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = enabled
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = before


@torch.no_grad()
def generate(
    net: Any,
    primer: Mapping[str, torch.Tensor],
    num_notes: int,
    pick: Picker,
    mode: str = "incremental",
    seq_len: int | None = None,
    resolution: int = RESOLUTION,
    stop_time: int | None = None,
    context: int | str | None = TRAINED,
    progress: Callable[[int], None] | None = None,
    kept: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Sample ``num_notes`` notes after ``primer`` for every sequence of the batch.

    Parameters
    ----------
    net : NoteNet
        The trained network (``hidden``, ``step`` and ``heads.draw``).
    primer : dict of Tensor, shape=(B, P)
        ``pitch``, ``step``, ``duration``, ``track`` (the model's track indices),
        ``time`` (onsets in time steps; zeros when absent) and ``velocity`` (zeros when
        absent), P >= 1.
    num_notes : int
        Notes to generate after the primer.
    pick : Picker
        Draws each field; its generator is the only source of randomness: the same seed
        gives the same notes.
    mode : {"incremental", "window"}
        Carry the state (one step a note), or re-run the last ``seq_len`` notes.
    resolution : int
        Time steps per beat: a generated note's ``time`` is the previous onset plus its step
        on this grid (what the network's position input reads).
    stop_time : int, optional
        Stop early once every sequence has a note starting at or after this time step (a
        piece of a given number of bars); ``num_notes`` is then an upper bound.
    context : int, "trained" or None
        Incremental mode: re-read the last ``context // 2`` notes after ``context`` (module
        docstring; ``check_context``); ``None``: never; ``"trained"`` (default): the
        network's own (``net.config.context``).
    progress : callable, optional
        Called with the number of notes drawn since its last call, every ``PROGRESS_EVERY``.
    kept : dict of Tensor, shape=(B, K), optional
        Accompaniment: notes that are not drawn but given (``pitch``, ``step``, ``duration``,
        ``track``, ``time``, ``velocity``; time-ordered, padded with ``time`` past the
        piece's end). At every note the network draws one, its track among the drawn and
        (while a kept note is left) the kept tracks (``Picker.given``); where it drew a kept
        track, or the next kept note starts before the drawn one, the kept note is fed
        instead, as if drawn, and the draw is dropped; at one onset the notes go in the
        order of the training data (by LPD-5 track, ``_Kept.first``). A network that reads
        the kept music ahead (``task.encoder.ahead_dim``) reads, with every note, the next
        kept note after it (``_Kept.ahead``; the primer's from the primer and the kept notes).

    Returns
    -------
    dict of Tensor, shape=(B, n)
        The generated notes only (the primer is not repeated); ``n = num_notes``, or fewer
        with ``stop_time``. ``velocity`` only where the network draws it. With ``kept``:
        the kept notes among them, in time order, and ``kept``, each note's index among
        the kept notes (-1: drawn).
    """
    at_least(num_notes, "num_notes", 1)
    check_mode(mode)
    net.eval()
    context = resolve_context(context, net)
    batch, p_len = primer["pitch"].shape  # (B, P)
    device = primer["pitch"].device
    primer = dict(primer)
    for name in ("time", VELOCITY):
        primer.setdefault(name, torch.zeros(batch, p_len, dtype=torch.int64, device=device))
    drawn = set(net.config.fields) | {"pitch", "step", "duration", "track", "time"}
    given = None
    fields = FIELDS
    if kept is not None:
        ranks = model_track_ids(getattr(net.config, "track_names", None))
        given = _Kept(kept, batch, num_notes, resolution, ranks, pick.given)
        if getattr(net, "ahead", None) is not None:  # the network reads the kept music ahead
            fields = (*FIELDS, *AHEAD_FIELDS)
            primer.update(given.ahead_of_primer(primer))
    history = {  # (B, P + N): the primer, then the notes as they are drawn
        k: torch.cat(
            [primer[k], torch.zeros(batch, num_notes, dtype=primer[k].dtype, device=device)], 1
        )
        for k in fields
    }
    last_time = primer["time"][:, -1]  # (B,) onset of the note before the next one

    def span(lo: int, hi: int) -> dict[str, torch.Tensor]:
        return {k: v[:, max(lo, 0) : hi] for k, v in history.items()}  # (B, <= hi - lo)

    onednn = torch.backends.mkldnn.enabled  # the caller's, for the passes over a window

    def read(lo: int, hi: int) -> tuple[torch.Tensor, Any]:
        with _onednn(onednn):
            return _last_hidden(net, span(lo, hi))

    pick.start(primer)
    window = seq_len or p_len
    if mode == "incremental":
        fed = min(p_len, context) if context else p_len  # notes the state has read
        h, state = read(p_len - fed, p_len)
    with _onednn(False):
        for i in range(num_notes):
            end = p_len + i  # the next note's position
            if mode == "window":
                h, _ = read(end - window, end)
            if given is not None:
                pick.wait(given.waiting)  # the kept tracks may be drawn while a note is left
            note = _draw(net, h, pick, last_time, resolution)  # {field: (B,)}
            if given is not None:  # a kept note that comes first is fed instead
                note = given.first(note, last_time, i)
                if fields is not FIELDS:
                    note.update(given.ahead(note["time"]))
            if progress is not None and (i + 1) % PROGRESS_EVERY == 0:
                progress(PROGRESS_EVERY)
            last_time = note["time"]
            pick.played(note, None if given is None else given.source[:, i] >= 0)
            for k in fields:
                if k in note:  # a velocity the network does not draw stays 0
                    history[k][:, end] = note[k]
            if _done(last_time, stop_time, i) and (given is None or given.exhausted):
                return _result(history, p_len, end + 1, drawn, given)
            if mode == "incremental" and i + 1 < num_notes:
                if context and fed >= context:  # as far as training went: re-read the last half
                    fed = context // 2
                    h, state = read(end + 1 - fed, end + 1)
                else:
                    h, state = net.step(note, state)  # (B, H)
                    fed += 1
    return _result(history, p_len, p_len + num_notes, drawn, given)


def _draw(
    net: Any, h: torch.Tensor, pick: Picker, last_time: torch.Tensor, resolution: int
) -> dict[str, torch.Tensor]:
    """One note per piece from the backbone's output ``h`` ``(B, H)``, with its onset
    ``time`` after ``last_time``."""
    note = pick.settle(net.heads.draw(h, pick))  # {field: (B,)}
    tables = getattr(net, "tables", None)
    if tables is not None:  # an onset class counted from the bar line: the gap
        note = tables.place(note, last_time)
    note["time"] = last_time + torch.round(note["step"] * resolution).long()
    return note


class _Kept:
    """The kept notes of an accompaniment and where each piece is among them.

    ``ranks``: each model track's place in the training data's order of the notes at one
    onset (its LPD-5 id: ``data.pianoroll_notes`` sorts by onset, then track, then pitch).
    """

    def __init__(
        self,
        kept: Mapping[str, torch.Tensor],
        batch: int,
        n: int,
        resolution: int,
        ranks: list[int],
        given: list[int] | None = None,
    ) -> None:
        self.notes, self.resolution = {k: v for k, v in kept.items()}, resolution
        device = kept["time"].device
        self.count = kept["time"].shape[1]
        self.next = torch.zeros(batch, dtype=torch.int64, device=device)  # (B,)
        self.rows = torch.arange(batch, device=device)
        self.source = torch.full((batch, n), -1, dtype=torch.int64, device=device)
        self.ranks = torch.as_tensor(ranks, dtype=torch.int64, device=device)
        self.given = torch.zeros(len(ranks), dtype=torch.bool, device=device)
        self.given[list(given or [])] = True  # the kept tracks: a draw on one yields
        self.bits = track_bits(self.given).expand(batch)  # (B,) the network's kept flags

    def ahead(self, time: torch.Tensor) -> dict[str, torch.Tensor]:
        """The next kept note after a note at ``time`` ``(B,)`` just fed: the inputs of
        ``fields.AHEAD_FIELDS``, each ``(B,)`` (gap ``NO_KEPT_NOTE`` where no kept note is
        left)."""
        found = self.next < self.count  # (B,)
        index = self.next.clamp_max(self.count - 1)
        gap = self.notes["time"][self.rows, index].long() - time
        return {
            "ahead_gap": torch.where(found, gap, NO_KEPT_NOTE),
            "ahead_pitch": torch.where(found, self.notes["pitch"][self.rows, index].long(), 0),
            "ahead_track": torch.where(found, self.notes["track"][self.rows, index].long(), 0),
            "kept_tracks": self.bits,
        }

    def ahead_of_primer(self, primer: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``ahead``'s inputs for each primer note ``(B, P)``: the next note of a kept track
        after it, in the primer or else the first kept note."""
        length = primer["time"].shape[1]
        cat = {
            k: torch.cat([primer[k].long(), self.notes[k].long()], 1)
            for k in ("time", "pitch", "track")
        }  # (B, P + K)
        is_kept = self.given[cat["track"]]
        is_kept[:, length:] = True
        out = next_kept(cat["time"], cat["pitch"], cat["track"], is_kept, length)
        out["kept_tracks"] = self.bits[:, None].expand(-1, length)
        return out

    @property
    def exhausted(self) -> bool:
        return bool((self.next >= self.count).all())

    @property
    def waiting(self) -> torch.Tensor:
        """Which pieces ``(B,)`` have a kept note left."""
        return self.next < self.count

    def first(
        self, note: dict[str, torch.Tensor], last_time: torch.Tensor, i: int
    ) -> dict[str, torch.Tensor]:
        """``note`` (drawn, with its ``time``), or the next kept note where the draw is on a
        kept track (the network says the kept music comes next) or the kept note comes first
        in the training data's order: it starts earlier, or at the same onset on a track
        that sorts no later. So a drum hit drawn on a kept Piano chord's onset keeps its
        place before the chord, as every drum note at a shared onset precedes the Piano's in
        training; fed after the chord, it would follow notes that no training drum note
        follows at the same onset."""
        index = self.next.clamp_max(self.count - 1)  # (B,)
        at = self.notes["time"][self.rows, index]
        rank = self.ranks[self.notes["track"][self.rows, index].long()]  # (B,)
        ahead = (at < note["time"]) | ((at == note["time"]) & (rank <= self.ranks[note["track"]]))
        take = (self.next < self.count) & (ahead | self.given[note["track"]])  # (B,)
        out = {}
        for k, v in note.items():
            given = self.notes[k][self.rows, index].to(v.dtype) if k in self.notes else v
            out[k] = torch.where(take, given, v)
        out["step"] = torch.where(take, (at - last_time).float() / self.resolution, note["step"])
        self.source[:, i] = torch.where(take, index, -1)
        self.next = self.next + take.long()
        return out


def _result(
    history: dict[str, torch.Tensor],
    lo: int,
    hi: int,
    drawn: set[str],
    given: _Kept | None,
) -> dict[str, torch.Tensor]:
    out = {k: v[:, lo:hi] for k, v in history.items() if k in drawn}
    if given is not None:
        out["kept"] = given.source[:, : hi - lo]
    return out


def _done(last_time: torch.Tensor, stop_time: int | None, i: int, every: int = 16) -> bool:
    """Whether every sequence has reached ``stop_time`` (checked every ``every`` notes: the
    check synchronises with the device)."""
    return stop_time is not None and (i + 1) % every == 0 and bool((last_time >= stop_time).all())
