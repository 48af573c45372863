"""Convert a folder of MIDI files into LPD-5 npz files, in parallel.

    python -m musegen.data.convert SRC DEST [--workers N] [--resolution 24] [--force]

Every ``*.mid`` / ``*.midi`` under SRC (recursively, any case) becomes one npz file under
DEST at the same relative path, ``write_lpd_npz``'s pypianoroll-1.x layout, which
``pypianoroll.load`` and ``lpd_io.read_lpd_npz`` both read. A damaged file costs one line
and a place in the summary, never the run: the Lakh MIDI Dataset has a few in every
thousand. Files are written atomically, so an interrupted run can simply be started again:
npz files newer than their MIDI file are kept (``--force`` redoes them), and temporaries that
a killed run left in DEST are removed first. A destination that cannot be written is
reported once, before any work; Ctrl-C stops with one line (exit code 130).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from musegen.atomic import check_writable, clean_stale, write_json_atomic
from musegen.data.lpd_io import write_lpd_npz
from musegen.data.midi_to_lpd import MidiReadError, midi_to_song
from musegen.data.note_timing import RESOLUTION
from musegen.errors import UserError, run_reported
from musegen.pools import available_cpus, parallel_map
from musegen.progress import progress_bar

MIDI_SUFFIXES = (".mid", ".midi")
INTERRUPTED = "interrupted; the files written so far are complete: run the same command to go on"


@dataclass
class ConvertReport:
    """What ``convert_tree`` did: npz files written, MIDI files skipped (with why), and how
    many npz files were already up to date."""

    converted: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    existing: int = 0


def find_midi_files(src: Path) -> list[Path]:
    """Every MIDI file under ``src`` (or ``src`` itself), sorted, suffix matched in any case."""
    if src.is_file():
        return [src]
    return sorted(p for p in src.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES and p.is_file())


def convert_tree(
    src: Path,
    dest: Path,
    workers: int | None = None,
    progress: bool = True,
    resolution: int = RESOLUTION,
    skip_existing: bool = True,
) -> ConvertReport:
    """Convert every MIDI file under ``src`` into an LPD-5 npz file under ``dest``.

    Parameters
    ----------
    src : Path
        A folder searched recursively, or a single MIDI file.
    dest : Path
        Output folder; ``src/a/b.mid`` becomes ``dest/a/b.npz``.
    workers : int, optional
        Processes; all available CPUs by default. 1 converts in this process.
    progress : bool
        Show a progress bar on stderr.
    resolution : int
        Time steps per beat.
    skip_existing : bool
        Keep an npz file that is newer than its MIDI file instead of converting again.

    Raises
    ------
    FileNotFoundError
        ``src`` does not exist.
    OutputError
        ``dest`` cannot be written (checked before any conversion).
    ValueError
        No MIDI files under ``src``, or a bad ``workers`` / ``resolution``.
    """
    src, dest = Path(src), Path(dest)
    if not src.exists():
        raise FileNotFoundError(f"{src} does not exist; expected a folder of MIDI files")
    if resolution < 1:
        raise ValueError(f"resolution must be >= 1, got {resolution}")
    workers = available_cpus() if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    midi_files = find_midi_files(src)
    if not midi_files:
        raise ValueError(f"no MIDI files (*.mid, *.midi) under {src}")

    out_root = dest.parent if _single_file(src, dest) else dest
    check_writable(out_root, "dest")
    clean_stale(out_root, recursive=True)
    report = ConvertReport()
    jobs: list[tuple[Path, Path, int]] = []
    claimed: dict[Path, Path] = {}
    remembered = _read_skipped(out_root) if skip_existing else {}
    for midi in midi_files:
        target = _target(src, dest, midi)
        if target in claimed:  # a.mid and a.MIDI in one folder
            report.skipped.append((midi, f"same output file as {claimed[target]}"))
            continue
        claimed[target] = midi
        if skip_existing and _up_to_date(target, midi):
            report.existing += 1
            continue
        known = remembered.get(str(midi))
        if known and known.get("signature") == _signature(midi):  # failed before, unchanged
            report.skipped.append((midi, f"{known['reason']} (remembered)"))
            continue
        jobs.append((midi, target, resolution))
    n = sum(r.endswith("(remembered)") for _, r in report.skipped)
    if n and progress:
        print(
            f"{n} MIDI file(s) skipped again, unreadable before and unchanged since "
            f"({out_root / SKIPPED})",
            file=sys.stderr,
        )

    try:
        with progress_bar(len(jobs), "MIDI -> LPD-5", enabled=progress) as bar:
            # unordered: results as they finish (file sizes vary a lot in the Lakh MIDI set)
            for midi, target, reason in parallel_map(_convert_one, jobs, workers, ordered=False):
                if reason is None:
                    report.converted.append(target)
                else:
                    report.skipped.append((midi, reason))
                    bar.print(f"skipped {midi}: {reason}")
                bar.advance()
    except BaseException:  # Ctrl-C: the workers were stopped mid-file; leave no temporary
        clean_stale(out_root, recursive=True)
        raise
    _remember_skipped(out_root, remembered, report, [m for m, _, _ in jobs])
    report.converted.sort()
    report.skipped.sort()
    return report


SKIPPED = ".skipped.json"
"""The MIDI files a conversion could not read, with why, under the output folder: a later
conversion skips them while they are unchanged, instead of parsing them again."""


def _signature(midi: Path) -> list[int]:
    stat = midi.stat()
    return [stat.st_size, stat.st_mtime_ns]


def _read_skipped(out_root: Path) -> dict[str, dict]:
    try:
        data = json.loads((out_root / SKIPPED).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _remember_skipped(
    out_root: Path, remembered: dict[str, dict], report: ConvertReport, tried: list[Path]
) -> None:
    """Record the files this conversion could not read; forget those it now could."""
    tried_now = {str(m) for m in tried}  # built once: Lakh has ~170k files
    records = {k: v for k, v in remembered.items() if k not in tried_now}
    for midi, reason in report.skipped:
        if not reason.endswith("(remembered)") and midi.is_file() and str(midi) in tried_now:
            records[str(midi)] = {"reason": reason, "signature": _signature(midi)}
    if records != remembered:
        write_json_atomic(out_root / SKIPPED, records, indent=1)


def _single_file(src: Path, dest: Path) -> bool:
    return src.is_file() and dest.suffix.lower() == ".npz"


def _target(src: Path, dest: Path, midi: Path) -> Path:
    if src.is_file():
        return dest if dest.suffix.lower() == ".npz" else dest / f"{midi.stem}.npz"
    return (dest / midi.relative_to(src)).with_suffix(".npz")


def _up_to_date(target: Path, midi: Path) -> bool:
    try:
        return target.stat().st_mtime_ns > midi.stat().st_mtime_ns
    except OSError:
        return False


def _convert_one(job: tuple[Path, Path, int]) -> tuple[Path, Path, str | None]:
    """Convert one file; a failure comes back as a reason, so one file cannot stop the run."""
    midi, target, resolution = job
    try:
        write_lpd_npz(target, midi_to_song(midi, resolution))
    except MidiReadError as exc:
        return midi, target, exc.reason
    except OSError as exc:  # the npz could not be written (permissions, disk full)
        return midi, target, f"cannot write {target}: {exc.strerror or exc}"
    except Exception as exc:  # a parser bug on a strange file must not end a long run
        return midi, target, f"unexpected {type(exc).__name__}: {exc}"
    return midi, target, None


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit code (0: something converted or already up to date)."""
    parser = argparse.ArgumentParser(
        prog="python -m musegen.data.convert",
        description="Convert MIDI files (*.mid, *.midi, recursively) into LPD-5 npz files.",
    )
    parser.add_argument("src", type=Path, help="folder of MIDI files (or one MIDI file)")
    parser.add_argument("dest", type=Path, help="output folder; relative paths are kept")
    parser.add_argument(
        "--workers", type=int, default=None, help="processes (default: all CPU cores)"
    )
    parser.add_argument("--resolution", type=int, default=24, help="time steps per beat")
    parser.add_argument(
        "--force", action="store_true", help="convert again even if the npz file is newer"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        parser.error(f"--workers must be >= 1, got {args.workers}")
    if args.resolution < 1:
        parser.error(f"--resolution must be >= 1, got {args.resolution}")
    return run_reported(lambda: _convert(args), "convert", INTERRUPTED)


def _convert(args: argparse.Namespace) -> int:
    """The CLI's work; user mistakes raise ``UserError`` (printed by ``run_reported``)."""
    try:
        report = convert_tree(
            args.src,
            args.dest,
            workers=args.workers,
            progress=not args.quiet,
            resolution=args.resolution,
            skip_existing=not args.force,
        )
    except UserError:
        raise
    except (FileNotFoundError, ValueError) as exc:  # a missing or empty source folder
        raise UserError(str(exc)) from None
    _print_summary(report, args.dest)
    if report.converted or report.existing:
        return 0
    print(
        f"convert: nothing converted: all {len(report.skipped)} MIDI files under {args.src} "
        "were skipped (see above); give a folder of readable MIDI files",
        file=sys.stderr,
    )
    return 2  # the folder given holds nothing usable: the user's input, like a missing one


def _print_summary(report: ConvertReport, dest: Path) -> None:
    parts = [f"converted {len(report.converted)} files into {dest}"]
    if report.existing:
        parts.append(f"{report.existing} already up to date")
    parts.append(f"{len(report.skipped)} skipped")
    print(", ".join(parts), file=sys.stderr)
    for midi, reason in report.skipped:
        print(f"  skipped {midi}: {reason}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
