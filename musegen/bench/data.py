"""Benchmark the data path against the libraries the field uses, on real data.

    python -m musegen.bench.data [--repeats 5] [--limit N]

1. LPD-5 npz -> notes: ``read_lpd_npz`` + ``song_to_notes`` vs ``pypianoroll.load`` +
   ``muspy.from_pypianoroll`` + ``muspy.to_note_representation`` (target >= 10x).
2. MIDI -> LPD-5, per file: ``midi_to_song`` vs ``pypianoroll.read(path, resolution=24)``
   (target >= 5x).
3. Agreement: per file, notes per LPD-5 track of ours vs pypianoroll.read + LPD's merge rule,
   within 5% of pypianoroll's count on every track (target >= 90% of files), with the
   reason found for every file that disagrees.

Times are the best of ``--repeats`` runs after a warm-up (``bench.timing``); ratio =
baseline / ours. Real data comes from ``../shared/data`` beside the project (or
``$MUSEGEN_SHARED_DATA``); without it the benchmark says so and exits 0.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from musegen.bench.report import Row
from musegen.bench.timing import Timing, best_of
from musegen.data.lpd_io import Song, TrackRoll, read_lpd_npz
from musegen.data.lpd_merge import merge_to_lpd5
from musegen.data.midi_to_lpd import MidiReadError, midi_to_song
from musegen.data.note_timing import RESOLUTION
from musegen.data.pianoroll_notes import song_to_notes
from musegen.data.tracks import LPD5_TRACKS, lpd5_family

if TYPE_CHECKING:
    import pypianoroll

LPD5_FILE = "lpd/lpd5_cleansed_TRAAAGR128F425B14B.npz"
TOLERANCE = 0.05


def shared_data_dir() -> Path:
    """``$MUSEGEN_SHARED_DATA``, else ``shared/data`` beside the project root."""
    env = os.environ.get("MUSEGEN_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def song_from_multitrack(multitrack: pypianoroll.Multitrack) -> Song:
    """A pypianoroll ``Multitrack`` as our ``Song`` (same tracks, sparse rolls)."""
    tracks = [
        TrackRoll(str(t.name), int(t.program), bool(t.is_drum), sp.csc_matrix(t.pianoroll))
        for t in multitrack.tracks
    ]
    return Song("pypianoroll", int(multitrack.resolution), tracks)


def lpd5_counts(song: Song) -> np.ndarray:
    """Notes per LPD-5 track, ``shape=(5,), int64``, after LPD's merge rule."""
    notes = song_to_notes(merge_to_lpd5(song))
    return np.bincount(notes["track"], minlength=len(LPD5_TRACKS))


def agrees(ours: np.ndarray, reference: np.ndarray) -> bool:
    """Every track within ``TOLERANCE`` of the reference count (an empty track must match)."""
    return bool(np.all(np.abs(ours - reference) <= TOLERANCE * reference))


def _line(label: str, name: str, timing: Timing, per: int = 1) -> str:
    ms = timing.best / per * 1e3
    return f"    {label:<9} {name:<66} {ms:8.2f} ms  ({timing.describe()})"


def bench_lpd_read(path: Path, repeats: int) -> Row:
    """Section 1: one real LPD-5 file into notes."""
    import muspy
    import pypianoroll

    def ours() -> np.ndarray:
        return song_to_notes(read_lpd_npz(path))

    def baseline() -> np.ndarray:
        return muspy.to_note_representation(muspy.from_pypianoroll(pypianoroll.load(path)))

    n_ours, n_base = len(ours()), len(baseline())
    t_ours = best_of(ours, repeats)
    t_base = best_of(baseline, repeats)
    print(f"[1] LPD-5 npz -> notes: {path.name} ({n_ours} notes ours, {n_base} muspy)")
    print(_line("ours", "read_lpd_npz + song_to_notes", t_ours))
    print(
        _line(
            "baseline",
            "pypianoroll.load + muspy.from_pypianoroll + to_note_representation",
            t_base,
        )
    )
    print(f"    ratio     {t_base.best / t_ours.best:.1f}x  (target >= 10x)")
    return Row(
        "data",
        f"LPD-5 npz -> notes, one real file ({n_ours} notes)",
        "ms",
        t_ours.best * 1e3,
        "read_lpd_npz + song_to_notes",
        t_base.best * 1e3,
        "pypianoroll.load + muspy",
        target=">= 10x",
        note=f"{t_ours.describe()}; baseline {t_base.describe()}",
    )


def _read_reference(path: Path) -> np.ndarray | str:
    """pypianoroll's counts per LPD-5 track, or why it could not read the file."""
    import pypianoroll

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pretty_midi warns about many Lakh files
            return lpd5_counts(song_from_multitrack(pypianoroll.read(path, resolution=RESOLUTION)))
    except Exception as exc:  # pypianoroll raises ValueError/IndexError/... on odd files
        return f"{type(exc).__name__}: {exc}"


def _reasons(
    path: Path, reference: np.ndarray, ours: np.ndarray, no_short_counts: np.ndarray
) -> list[str]:
    """Which of the known differences from pypianoroll explain a disagreeing file.

    * ``short-notes``: pypianoroll drops pitched notes under one step; we keep them (our
      counts change with ``keep_short=False``);
    * ``parser``: pretty_midi and symusic find different raw notes per family. pretty_midi
      files a note under the program current at its note-OFF (a program change during a
      note moves it to another instrument; symusic uses the note-on's), and pairs repeated
      note-ons of one pitch with note-offs differently;
    * the beat grid pretty_midi builds from time signatures: ``no-time-signature`` (an
      estimated first beat, notes ending before it dropped), ``compound-meter`` (a dotted
      beat), ``off-beat-time-signature`` (an extra short beat from there on);
    * ``rounding-fusion``, when nothing above applies: a one-step rounding difference (exact
      half-step onsets: integer half-to-even here, float seconds there) decides whether
      same-pitch notes of two instruments of one family touch, and LPD-5's max-merge fuses
      touching notes into one.
    """
    import pretty_midi
    import symusic

    reasons = []
    if not np.array_equal(no_short_counts, ours):
        reasons.append("short-notes")
    if agrees(no_short_counts, reference):
        return reasons
    score = symusic.Score(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm = pretty_midi.PrettyMIDI(str(path))
    if _family_note_counts(
        [(t.program, t.is_drum, t.notes.numpy()["velocity"]) for t in score.tracks]
    ) != _family_note_counts(
        [(i.program, i.is_drum, np.array([n.velocity for n in i.notes])) for i in pm.instruments]
    ):
        reasons.append("parser(raw notes per family differ)")
    ts = score.time_signatures.numpy()
    if ts["time"].size == 0:
        start = pm.estimate_beat_start()
        reasons.append(f"no-time-signature(first beat estimated at {start:.2f} s)")
    else:
        compound = (ts["numerator"] % 3 == 0) & (ts["numerator"] > 3)
        if compound.any():
            i = int(np.argmax(compound))
            reasons.append(f"compound-meter({ts['numerator'][i]}/{ts['denominator'][i]})")
        off = ts["time"] % score.tpq != 0
        if off.any():
            reasons.append(f"off-beat-time-signature(tick {int(ts['time'][off][0])})")
    if len(reasons) == int("short-notes" in reasons):
        reasons.append("rounding-fusion")
    return reasons


def _family_note_counts(instruments: list[tuple[int, bool, np.ndarray]]) -> list[int]:
    """Raw notes (velocity > 0) per LPD-5 family, before any quantisation."""
    counts = [0] * len(LPD5_TRACKS)
    for program, is_drum, velocity in instruments:
        family = int(lpd5_family(np.array([program]), np.array([is_drum]))[0])
        if family >= 0:
            counts[family] += int((np.asarray(velocity) > 0).sum())
    return counts


def bench_midi(files: list[Path], repeats: int) -> list[Row]:
    """Sections 2 and 3: speed per file and agreement with pypianoroll.read."""
    import pypianoroll

    both: list[Path] = []
    failures: list[str] = []
    disagree: list[tuple[Path, np.ndarray, np.ndarray, np.ndarray]] = []
    agree_no_short = 0
    for path in files:
        reference = _read_reference(path)
        try:
            ours = lpd5_counts(midi_to_song(path))
        except MidiReadError as exc:
            ours_error: str | None = exc.reason
        else:
            ours_error = None
        if ours_error is not None or isinstance(reference, str):
            theirs = reference if isinstance(reference, str) else "reads it"
            failures.append(f"{path.name}: ours: {ours_error or 'reads it'}; pypianoroll: {theirs}")
            continue
        both.append(path)
        short = lpd5_counts(midi_to_song(path, keep_short=False))
        agree_no_short += agrees(short, reference)
        if not agrees(ours, reference):
            disagree.append((path, ours, reference, short))

    def run_ours() -> None:
        for path in both:
            midi_to_song(path)

    def run_base() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for path in both:
                pypianoroll.read(path, resolution=RESOLUTION)

    # the agreement pass above has just run both on every file: that is the warm-up
    t_ours = best_of(run_ours, repeats, warmup=0)
    t_base = best_of(run_base, _base_repeats(repeats), warmup=0)
    print(f"[2] MIDI -> LPD-5, mean per file over {len(both)} Lakh files that both read")
    print(_line("ours", "midi_to_song (symusic + numpy)", t_ours, len(both)))
    print(_line("baseline", "pypianoroll.read(path, resolution=24)", t_base, len(both)))
    print(f"    ratio     {t_base.best / t_ours.best:.1f}x  (target >= 5x)")

    n_agree = len(both) - len(disagree)
    print(
        f"[3] agreement with pypianoroll.read + LPD-5 merge (every track within "
        f"{TOLERANCE:.0%} of pypianoroll's note count)"
    )
    print(
        f"    {n_agree}/{len(both)} files agree ({n_agree / len(both):.1%}, target >= 90%); "
        f"keeping pypianoroll's drop of sub-step notes (keep_short=False): "
        f"{agree_no_short}/{len(both)} ({agree_no_short / len(both):.1%})"
    )
    for line in failures:
        print(f"    not compared: {line}")
    tally: Counter[str] = Counter()
    for path, ours, reference, short in disagree:
        reasons = _reasons(path, reference, ours, short)
        tally.update(r.split("(")[0] for r in reasons)
        diffs = ", ".join(
            f"{name} {o} vs {r}"
            for name, o, r in zip(LPD5_TRACKS, ours, reference, strict=True)
            if abs(o - r) > TOLERANCE * r
        )
        print(f"    {path.stem[:12]}  {diffs}  <- {'; '.join(reasons)}")
    if tally:
        print("    reasons: " + ", ".join(f"{k} {v}" for k, v in tally.most_common()))
    per = len(both)
    return [
        Row(
            "data",
            f"MIDI -> LPD-5, mean per file over {per} Lakh files",
            "ms",
            t_ours.best / per * 1e3,
            "midi_to_song (symusic)",
            t_base.best / per * 1e3,
            "pypianoroll.read",
            target=">= 5x",
            note=f"{t_ours.describe()}; baseline {t_base.describe()}",
        ),
        Row(
            "data",
            "files whose note counts agree with pypianoroll.read + LPD's merge (every track "
            f"within {TOLERANCE:.0%})",
            "files",
            float(n_agree),
            "ours",
            float(per),
            "files both read",
            higher_is_better=True,
            target=">= 0.9",
            note="reasons for the rest: "
            + (", ".join(f"{k} {v}" for k, v in tally.most_common()) or "none"),
        ),
    ]


def _base_repeats(repeats: int) -> int:
    """Fewer runs of the slow baseline (a full pass over the Lakh files takes ~15 s)."""
    return max(1, repeats // 2 + 1)


def main(argv: list[str] | None = None) -> int:
    """Run every section on the shared real data; exit 0 (also when the data is absent)."""
    run(argv)
    return 0


def run(argv: list[str] | None = None) -> list[Row]:
    """The sections' rows for the report (none when the real data is absent)."""
    parser = argparse.ArgumentParser(prog="python -m musegen.bench.data", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N MIDI files")
    args = parser.parse_args(argv)
    data = shared_data_dir()
    lpd5 = data / LPD5_FILE
    midi_dir = data / "lmd_midi"
    if not lpd5.is_file() or not midi_dir.is_dir():
        print(f"bench.data: skipped: real data not found at {data} (set MUSEGEN_SHARED_DATA)")
        return []
    files = sorted(midi_dir.glob("*.mid"))[: args.limit]
    print(
        f"musegen data benchmark: best of {args.repeats} runs after a warm-up "
        f"(pypianoroll.read: {_base_repeats(args.repeats)}, ~0.1 s a file); ratio = baseline / ours"
    )
    return [bench_lpd_read(lpd5, args.repeats), *bench_midi(files, args.repeats)]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
