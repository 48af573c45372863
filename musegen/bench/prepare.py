"""Full-size data preparation, measured: ``python -m musegen.bench.prepare``.

On a synthetic LPD-5 tree of 21,425 songs with real statistics (``bench.synthetic_lpd``; the
size of lpd_5_cleansed), each step runs in a fresh process, as a user's would, while this
process samples the resident memory of that process and all its workers every 50 ms:

1. preparation as training does it (``NoteDataModule.prepare_data`` + ``setup``: npz -> notes
   -> the memory-mapped cache), from nothing, at 2,000 songs (``data.max_songs``) and at all;
2. a restart: a new process finds the cache, maps it and yields its first batch, then draws
   50 batches; its memory is what training holds for data, at both sizes;
3. ``python -m musegen.data.inspect`` over the whole tree, on all cores and on one.

Time and cache size are extrapolated to lpd_5_full (174,154 songs) by a straight line through
the two sizes. The tree is kept under ``--work`` and reused (the same seed writes the same
songs); the caches are rebuilt each time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from musegen.bench.report import Row

FULL = 174_154
CLEANSED = 21_425
SMALL = 2_000


def _tree_rss(proc) -> tuple[int, int]:  # psutil.Process
    """Resident bytes of ``proc`` and its children: all, and their own (anonymous) part.

    The own part leaves out pages of mapped files (psutil's ``shared``: RssFile + RssShmem on
    Linux), such as the cache being written, which the system can write back and drop."""
    import psutil

    total = own = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            info = p.memory_info()
        except psutil.Error:  # a worker that just ended
            continue
        total += info.rss
        own += info.rss - getattr(info, "shared", 0)
    return total, own


def measured(args: list[str]) -> tuple[dict, float, tuple[int, int]]:
    """Run ``python -m musegen.bench.prepare --child ...``; return its JSON, wall seconds and
    the peak resident bytes of its process tree, all and its own (anonymous) part."""
    import psutil

    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "musegen.bench.prepare", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc, peak, peak_own = psutil.Process(child.pid), 0, 0
    while child.poll() is None:
        try:
            total, own = _tree_rss(proc)
            peak, peak_own = max(peak, total), max(peak_own, own)
        except psutil.Error:
            pass
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    out, err = child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1]), seconds, (peak, peak_own)


def _dm(root: str, data_dir: str, max_songs: int | None, workers: int | None):
    from musegen.data.datamodule import NoteDataModule

    return NoteDataModule(
        source="lpd5",
        root=root,
        data_dir=data_dir,
        batch_size=315,  # the paper's batch
        max_songs=max_songs,
        build_workers=workers,
        progress=False,
        seed=0,
    )


def _resident() -> dict:
    """This process's resident memory, split on Linux into its own (anonymous) pages and
    the pages of mapped files (the note cache: page cache shared by workers and ranks, and
    given back to the system under pressure)."""
    import psutil

    out = {"rss_bytes": psutil.Process().memory_info().rss}
    status = Path("/proc/self/status")
    if status.exists():
        fields = dict(line.split(":", 1) for line in status.read_text().splitlines())
        for key, name in (("RssAnon", "anon_bytes"), ("RssFile", "file_bytes")):
            out[name] = int(fields[key].split()[0]) * 1024  # "123 kB"
    return out


def _child(args: argparse.Namespace) -> None:
    """The measured step, in its own process; prints one JSON line."""
    import psutil

    born = psutil.Process().create_time()
    dm = _dm(args.root, args.data_dir, args.max_songs, args.workers)
    if args.child == "prepare":
        dm.prepare_data()
        dm.setup("fit")
        entry = dm.entry
        size = sum(f.stat().st_size for f in entry.rglob("*") if f.is_file())
        out = {"entry": str(entry), "cache_bytes": size, "summary": dm.summary()}
    else:  # first-batch: a restarted run
        dm.prepare_data()  # finds the cache
        dm.setup("fit")
        batches = iter(dm.train_dataloader())
        next(batches)
        first = time.time() - born
        for _ in range(49):
            next(batches)
        out = {"first_batch_s": first, **_resident()}
    print(json.dumps(out))


def _size(work: Path, tree: Path, songs: int, total: int, workers: int | None) -> dict:
    data_dir = work / f"prepared-{songs}"
    shutil.rmtree(data_dir, ignore_errors=True)
    common = ["--root", str(tree), "--data-dir", str(data_dir)]
    if songs < total:
        common += ["--max-songs", str(songs)]
    if workers:
        common += ["--workers", str(workers)]
    built, seconds, (peak, peak_own) = measured(["--child", "prepare", *common])
    again, _, (restart_peak, _) = measured(["--child", "first-batch", *common])
    return {
        "songs": songs,
        "seconds": seconds,
        "peak_bytes": peak,
        "peak_own_bytes": peak_own,
        "cache_bytes": built["cache_bytes"],
        "windows": built["summary"]["train"]["windows"],
        "first_batch_s": again["first_batch_s"],
        "train_rss_bytes": again["rss_bytes"],
        "train_anon_bytes": again.get("anon_bytes"),
        "train_file_bytes": again.get("file_bytes"),
        "restart_peak_bytes": restart_peak,
    }


def _inspect(tree: Path, workers: int) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "musegen.data.inspect", str(tree), "--workers", str(workers)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"inspect failed: {proc.stderr[-2000:]}")
    return time.perf_counter() - start


def _extrapolate(small: dict, big: dict, key: str, n: int) -> float:
    slope = (big[key] - small[key]) / (big["songs"] - small["songs"])
    return big[key] + slope * (n - big["songs"])


def run(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m musegen.bench.prepare", description=__doc__)
    parser.add_argument("--songs", type=int, default=CLEANSED)
    parser.add_argument("--small", type=int, default=SMALL)
    parser.add_argument("--work", type=Path, default=Path("data/bench-prepare"))
    parser.add_argument("--workers", type=int, default=None, help="build processes (all CPUs)")
    args = parser.parse_args(argv)
    from musegen.bench.data import shared_data_dir
    from musegen.bench.synthetic_lpd import real_songs, write_tree

    data = shared_data_dir()
    if not (data / "lmd_midi").is_dir():
        print(f"bench.prepare: skipped: real data not found at {data} (set MUSEGEN_SHARED_DATA)")
        return []
    tree = args.work / "lpd5-synthetic-seed0"
    start = time.perf_counter()
    sources = real_songs(data)
    write_tree(tree, args.songs, sources, seed=0, workers=args.workers)
    print(
        f"synthetic tree: {args.songs:,} songs from {len(sources)} real ones at {tree} "
        f"({time.perf_counter() - start:.0f} s)",
        flush=True,
    )
    small = _size(args.work, tree, args.small, args.songs, args.workers)
    print(f"  {args.small:,} songs: {json.dumps(small)}", flush=True)
    big = _size(args.work, tree, args.songs, args.songs, args.workers)
    print(f"  {args.songs:,} songs: {json.dumps(big)}", flush=True)
    cores = len(os.sched_getaffinity(0))
    t_all, t_one = _inspect(tree, cores), _inspect(tree, 1)
    print(f"  inspect: {t_all:.1f} s on {cores} processes, {t_one:.1f} s on one", flush=True)
    mb = 2**20
    own_full = _extrapolate(small, big, "peak_own_bytes", FULL)
    n, s = f"{args.songs:,}", f"{args.small:,}"
    base = f"{s} songs"
    return [
        Row(
            "prepare",
            f"preparation, seconds per 1,000 songs ({n} vs {s})",
            "s",
            big["seconds"] / big["songs"] * 1000,
            f"{n} songs",
            small["seconds"] / small["songs"] * 1000,
            base,
            note="npz -> notes -> memory-mapped cache, from nothing, in a fresh process",
        ),
        Row(
            "prepare",
            f"preparation of {n} songs, wall time",
            "s",
            big["seconds"],
            f"{n} songs",
            note=f"{cores} cores; extrapolated to lpd_5_full ({FULL:,}): "
            f"{_extrapolate(small, big, 'seconds', FULL) / 60:.0f} min",
        ),
        Row(
            "prepare",
            "peak resident memory of the process tree while preparing",
            "MB",
            big["peak_bytes"] / mb,
            f"{n} songs",
            small["peak_bytes"] / mb,
            base,
            target="< 2048 MB",
            note="the process and its build workers, sampled every 50 ms",
        ),
        Row(
            "prepare",
            "... of which their own (anonymous) memory, at its peak",
            "MB",
            big["peak_own_bytes"] / mb,
            f"{n} songs",
            small["peak_own_bytes"] / mb,
            base,
            note="without the pages of mapped files (the cache being written, the npz read); "
            f"extrapolated to lpd_5_full: {own_full / mb:,.0f} MB",
        ),
        Row(
            "prepare",
            "note cache on disk",
            "MB",
            big["cache_bytes"] / mb,
            f"{n} songs",
            small["cache_bytes"] / mb,
            base,
            note=f"extrapolated to lpd_5_full: "
            f"{_extrapolate(small, big, 'cache_bytes', FULL) / 2**30:.1f} GB; "
            f"{big['windows']:,} training windows",
        ),
        Row(
            "prepare",
            "first batch after a restart (cache found, memory-mapped)",
            "s",
            big["first_batch_s"],
            f"{n} songs",
            small["first_batch_s"],
            base,
            note="from process start, imports included",
        ),
        Row(
            "prepare",
            "a restarted training process after 50 batches: resident memory",
            "MB",
            big["train_rss_bytes"] / mb,
            f"{n} songs",
            small["train_rss_bytes"] / mb,
            base,
            note="all of it: torch and Lightning, the data's own memory and the cache's mapped "
            "pages (below)",
        ),
        *_split_rows(small, big, n, base),
        Row(
            "prepare",
            f"musegen.data.inspect over {n} files",
            "s",
            t_all,
            f"{cores} processes",
            t_one,
            "one process (before)",
        ),
    ]


def _split_rows(small: dict, big: dict, n: str, base: str) -> list[Row]:
    """The resident memory of a training process split into its own and the mapped cache's."""
    if big.get("train_anon_bytes") is None:
        return []  # not Linux: no split
    mb = 2**20
    return [
        Row(
            "prepare",
            "... of which its own (anonymous) memory",
            "MB",
            big["train_anon_bytes"] / mb,
            f"{n} songs",
            small["train_anon_bytes"] / mb,
            base,
            target="does not grow with the dataset",
            note="the epoch's order is computed a batch at a time (data.permutation), the "
            "notes are read from the mapped cache",
        ),
        Row(
            "prepare",
            "... of which pages of the memory-mapped cache",
            "MB",
            big["train_file_bytes"] / mb,
            f"{n} songs",
            small["train_file_bytes"] / mb,
            base,
            note="page cache of the random windows read so far: shared by DataLoader workers "
            "and DDP ranks, bounded by the cache's size, reclaimed by the system under pressure",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    if argv and argv[0] == "--child":
        parser = argparse.ArgumentParser()
        parser.add_argument("--child", choices=["prepare", "first-batch"])
        parser.add_argument("--root")
        parser.add_argument("--data-dir")
        parser.add_argument("--max-songs", type=int, default=None)
        parser.add_argument("--workers", type=int, default=None)
        _child(parser.parse_args(argv))
        return 0
    for row in run(argv):
        print(
            f"  {row.measure}: {row.ours:.3g} {row.unit}"
            + (f" vs {row.baseline:.3g} ({row.baseline_label})" if row.baseline else "")
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
