"""How an accompaniment fits the music it accompanies: three figures between tracks.

A piece is split into the **kept** notes (the tracks given, e.g. Piano and Guitar) and the
**accompaniment** (the others, e.g. Drums, Bass and Strings), both note arrays
(``NOTE_DTYPE``, LPD-5 track ids). Whole-piece statistics of the accompaniment alone cannot
see whether it plays with the kept tracks: another song's real accompaniment has real
statistics. These can:

* ``key_agreement``: bar by bar, the share of the accompaniment's pitched notes inside the
  major or minor scale that holds most of the kept tracks' pitched notes of that bar (MusPy's
  scale consistency, its scale taken from the kept tracks, one per bar); the mean over the
  bars where both play pitched notes;
* ``chord_agreement``: the share of the accompaniment's pitched notes whose pitch class the
  kept tracks sound at the note's onset (notes with no kept note sounding are left out):
  harmony beat by beat, where key agreement per bar cannot tell a part moved by a beat;
* ``onset_agreement``: the share of the accompaniment's distinct onsets (drums included)
  that fall on an onset of the kept tracks;
* ``bass_agreement``: the share of bass notes whose pitch class is that of the lowest kept
  pitched note sounding at the bass note's onset (bass notes with no kept note sounding are
  left out): the bass on the harmony's root, as a bass line usually is.

Each is NaN where it has nothing to measure. Onsets are the notes' ``time``: kept notes and
an accompaniment are parts of pieces, whose ``step`` counts from notes of the other part.

``tests/test_accompaniment.py`` computes them by hand and shows, on real Lakh songs, that a
song's own accompaniment scores above another song's and above notes drawn from the training
notes' frequencies on every figure, and above itself moved a beat later on chord and bass
agreement; key agreement per bar and onset agreement cannot see that shift (the harmony of
4/4 pop holds for a bar, and its parts play on every beat).
"""

from __future__ import annotations

import numpy as np

from musegen.data.note_timing import RESOLUTION, expand_runs, note_lengths
from musegen.data.tracks import IS_DRUM, LPD5_TRACKS
from musegen.metrics.musical import SCALES

NAN = float("nan")
BASS = LPD5_TRACKS.index("Bass")
FIGURES = ("key_agreement", "chord_agreement", "onset_agreement", "bass_agreement")


def _timing(notes: np.ndarray, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Onsets (``time``) and lengths (``note_timing``'s rule) in time steps."""
    return notes["time"].astype(np.int64), note_lengths(notes, resolution)


def key_agreement(
    kept: np.ndarray,
    accompaniment: np.ndarray,
    resolution: int = RESOLUTION,
    beats_per_bar: int = 4,
) -> float:
    """See the module docstring; NaN without a bar where both play pitched notes."""
    bar = beats_per_bar * resolution
    k = kept[~IS_DRUM[kept["track"]]]
    a = accompaniment[~IS_DRUM[accompaniment["track"]]]
    if len(k) == 0 or len(a) == 0:
        return NAN
    k_bar = _timing(k, resolution)[0] // bar
    a_bar = _timing(a, resolution)[0] // bar
    n_bars = int(max(k_bar.max(), a_bar.max())) + 1
    hist = np.zeros((n_bars, 12))
    np.add.at(hist, (k_bar, k["pitch"].astype(np.int64) % 12), 1.0)
    scale = np.argmax(hist @ SCALES.T.astype(np.float64), axis=1)  # (n_bars,) best per bar
    inside = SCALES[scale[a_bar], a["pitch"].astype(np.int64) % 12]  # (n_a,)
    per_bar = np.bincount(a_bar, weights=inside, minlength=n_bars)
    counts = np.bincount(a_bar, minlength=n_bars)
    both = (counts > 0) & (hist.sum(axis=1) > 0)
    return float(np.mean(per_bar[both] / counts[both])) if both.any() else NAN


def _sounding(kept: np.ndarray, span: int, resolution: int) -> np.ndarray:
    """Which pitch classes the kept pitched notes sound at each time step: bool,
    ``shape=(span, 12)``."""
    on, length = _timing(kept, resolution)
    steps = expand_runs(on, length)
    classes = np.repeat(kept["pitch"].astype(np.int64) % 12, length)
    inside = steps < span
    out = np.zeros((span, 12), dtype=bool)
    out[steps[inside], classes[inside]] = True
    return out


def chord_agreement(
    kept: np.ndarray, accompaniment: np.ndarray, resolution: int = RESOLUTION
) -> float:
    """See the module docstring; NaN without a pitched accompaniment note under a sounding
    kept note."""
    k = kept[~IS_DRUM[kept["track"]]]
    a = accompaniment[~IS_DRUM[accompaniment["track"]]]
    if len(k) == 0 or len(a) == 0:
        return NAN
    on = _timing(a, resolution)[0]
    span = int(max(on.max(), (k["time"] + note_lengths(k, resolution)).max())) + 1
    sounding = _sounding(k, span, resolution)[on]  # (n_a, 12) at each onset
    heard = sounding.any(axis=1)
    if not heard.any():
        return NAN
    hit = sounding[np.arange(len(a)), a["pitch"].astype(np.int64) % 12]
    return float(hit[heard].mean())


def onset_agreement(
    kept: np.ndarray, accompaniment: np.ndarray, resolution: int = RESOLUTION
) -> float:
    """See the module docstring; NaN without accompaniment notes."""
    if len(accompaniment) == 0:
        return NAN
    mine = np.unique(_timing(accompaniment, resolution)[0])
    theirs = np.unique(_timing(kept, resolution)[0]) if len(kept) else np.zeros(0, np.int64)
    return float(np.isin(mine, theirs).mean())


def bass_agreement(
    kept: np.ndarray, accompaniment: np.ndarray, resolution: int = RESOLUTION
) -> float:
    """See the module docstring; NaN without a bass note under a sounding kept note."""
    bass = accompaniment[accompaniment["track"] == BASS]
    k = kept[~IS_DRUM[kept["track"]]]
    if len(bass) == 0 or len(k) == 0:
        return NAN
    k_on, k_len = _timing(k, resolution)
    b_on = _timing(bass, resolution)[0]
    span = int(max((k_on + k_len).max(), b_on.max())) + 1
    lowest = np.full(span, 128, dtype=np.int64)  # the lowest kept pitch sounding at each step
    np.minimum.at(lowest, expand_runs(k_on, k_len), np.repeat(k["pitch"].astype(np.int64), k_len))
    under = lowest[b_on]
    heard = under < 128
    if not heard.any():
        return NAN
    same = (bass["pitch"].astype(np.int64)[heard] % 12) == (under[heard] % 12)
    return float(same.mean())


def figures(
    kept: np.ndarray, accompaniment: np.ndarray, resolution: int = RESOLUTION
) -> dict[str, float]:
    """The three figures of one piece (``FIGURES``)."""
    return {
        "key_agreement": key_agreement(kept, accompaniment, resolution),
        "chord_agreement": chord_agreement(kept, accompaniment, resolution),
        "onset_agreement": onset_agreement(kept, accompaniment, resolution),
        "bass_agreement": bass_agreement(kept, accompaniment, resolution),
    }
