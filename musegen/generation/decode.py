"""Autoregressive decoding of a ``NoteNet``: incremental (the default) or window re-runs.

Incremental decoding feeds each sampled note back with the recurrent state of the previous
call, so every generated note costs one step of the network: O(1) work per note, whatever
the window. TensorFlow's music-generation tutorial (whose losses the paper reports) instead re-runs
the whole last ``seq_len`` notes at every step (``mode="window"``): O(seq_len) per note; it
is kept as the baseline of ``make bench`` and for networks that must see exactly a window.

All ``num_samples`` pieces are decoded together as one batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from musegen.generation.sampling import Sampling, sample
from musegen.models.heads import NotePrediction
from musegen.models.time_classes import ClassTables

FIELDS = ("pitch", "step", "duration", "track", "time")
MODES = ("incremental", "window")
REST_PITCH = 0
"""Pitch of the neutral note that starts a piece generated from scratch (C-1, never played
in the data): the network then draws the first real note itself."""


def _select_last(pred: NotePrediction) -> NotePrediction:
    return NotePrediction(*(None if p is None else p[:, -1] for p in pred))  # (B, ...)


def _draw(
    pred: NotePrediction,
    sampling: Sampling,
    generator: torch.Generator,
    tables: ClassTables | None = None,
) -> dict[str, torch.Tensor]:
    """One next note per sequence from a prediction of shape ``(B, ...)``.

    Pitch, then track, then (categorical timing) step and duration classes are drawn, each
    with its own rule (``Sampling.rule``); regressed step and duration are taken as
    predicted, clamped at 0.
    """
    pitch = sample(pred.pitch, sampling.rule("pitch"), generator)  # (B,)
    if pred.track is not None:
        track = sample(pred.track, sampling.rule("track"), generator)
    else:
        track = torch.zeros_like(pitch)
    if tables is not None:
        step = tables.decode("step", sample(pred.step, sampling.rule("step"), generator))
        duration_class = sample(pred.duration, sampling.rule("duration"), generator)
        duration = tables.decode("duration", duration_class)
    else:
        step, duration = pred.step.clamp_min(0.0), pred.duration.clamp_min(0.0)  # (B,)
    return {"pitch": pitch, "step": step, "duration": duration, "track": track}


def start_notes(batch_size: int, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """The neutral one-note primer of ``primer=none``: shape ``(B, 1)`` per field."""
    zeros = torch.zeros(batch_size, 1, device=device)
    return {
        "pitch": torch.full((batch_size, 1), REST_PITCH, dtype=torch.int64, device=device),
        "step": zeros,
        "duration": zeros,
        "track": torch.zeros(batch_size, 1, dtype=torch.int64, device=device),
        "time": torch.zeros(batch_size, 1, dtype=torch.int64, device=device),
    }


@torch.no_grad()
def generate(
    net: Any,
    primer: Mapping[str, torch.Tensor],
    num_notes: int,
    sampling: Sampling,
    generator: torch.Generator,
    mode: str = "incremental",
    seq_len: int | None = None,
    resolution: int = 24,
    stop_time: int | None = None,
) -> dict[str, torch.Tensor]:
    """Sample ``num_notes`` notes after ``primer`` for every sequence of the batch.

    Parameters
    ----------
    net : NoteNet
        The trained network (``forward(notes, state)`` and ``step(note, state)``).
    primer : dict of Tensor, shape=(B, P)
        ``pitch``, ``step``, ``duration``, ``track`` (the model's track indices) and
        ``time`` (onsets in time steps; zeros when absent), P >= 1.
    num_notes : int
        Notes to generate after the primer.
    generator : torch.Generator
        The only source of randomness: the same seed gives the same notes.
    mode : {"incremental", "window"}
        Carry the recurrent state (O(1) per note), or re-run the last ``seq_len`` notes.
    resolution : int
        Time steps per beat: a generated note's ``time`` is the previous onset plus its step
        on this grid (what the network's position input reads).
    stop_time : int, optional
        Stop early once every sequence has a note starting at or after this time step (a
        piece of a given number of bars); ``num_notes`` is then an upper bound.

    Returns
    -------
    dict of Tensor, shape=(B, n)
        The generated notes only (the primer is not repeated); ``n = num_notes``, or fewer
        with ``stop_time``.
    """
    if num_notes < 1:
        raise ValueError(f"num_notes must be >= 1, got {num_notes}")
    if mode not in MODES:
        raise ValueError(f"mode must be 'incremental' or 'window', got {mode!r}")
    net.eval()
    tables = getattr(net, "tables", None)  # categorical timing's classes, or None
    batch, p_len = primer["pitch"].shape  # (B, P)
    device = primer["pitch"].device
    primer = dict(primer)
    primer.setdefault("time", torch.zeros(batch, p_len, dtype=torch.int64, device=device))
    out = {k: torch.empty(batch, num_notes, dtype=primer[k].dtype, device=device) for k in FIELDS}
    last_time = primer["time"][:, -1]  # (B,) onset of the note before the next one

    def next_note(pred: NotePrediction) -> dict[str, torch.Tensor]:
        nonlocal last_time
        note = _draw(pred, sampling, generator, tables)
        last_time = note["time"] = last_time + torch.round(note["step"] * resolution).long()
        return note

    if mode == "incremental":
        pred, state = net(primer)  # (B, P, ...): one pass over the whole primer
        pred = _select_last(pred)
        for i in range(num_notes):
            note = next_note(pred)
            for k in FIELDS:
                out[k][:, i] = note[k]
            if _done(last_time, stop_time, i):
                return {k: v[:, : i + 1] for k, v in out.items()}
            if i + 1 < num_notes:
                pred, state = net.step(note, state)  # (B, ...)
        return out
    window = seq_len or p_len
    history = {k: torch.cat([primer[k], out[k]], dim=1) for k in FIELDS}  # (B, P + N)
    for i in range(num_notes):
        end = p_len + i
        ctx = {k: v[:, max(0, end - window) : end] for k, v in history.items()}  # (B, <=W)
        pred, _ = net(ctx)
        note = next_note(_select_last(pred))
        for k in FIELDS:
            history[k][:, end] = note[k]
        if _done(last_time, stop_time, i):
            return {k: v[:, p_len : end + 1] for k, v in history.items()}
    return {k: v[:, p_len:] for k, v in history.items()}


def _done(last_time: torch.Tensor, stop_time: int | None, i: int, every: int = 16) -> bool:
    """Whether every sequence has reached ``stop_time`` (checked every ``every`` notes: the
    check synchronises with the device)."""
    return stop_time is not None and (i + 1) % every == 0 and bool((last_time >= stop_time).all())
