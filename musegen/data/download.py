"""Get LPD-5 and LPD's genre lists from their official sources: ``python -m musegen.data.download``.

    python -m musegen.data.download lpd5                    # lpd_5_cleansed, 21,425 songs
    python -m musegen.data.download lpd5 --subset full      # lpd_5_full, 174,154 songs
    python -m musegen.data.download labels                  # labels.tar.gz (genre id lists)

Each archive is fetched resumably (``musegen.data.fetch``), extracted into a temporary folder
beside its destination, counted, and only then renamed into place, so an interrupted or
damaged archive never leaves a tree that ``data=lpd5`` would read as valid. The last line
printed is the setting to pass (``data.root=...`` or ``data.labels=...``).

LPD's archives live on Google Drive (links from
https://salu133445.github.io/lakh-pianoroll-dataset/dataset); no checksum is published for
them, so they are checked by the size the server announces, by a complete read of the gzip
stream (its CRC), and by the file count. The genre lists come from LPD's GitHub repository
at the commit of the copy this project tests against, with its SHA-256.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from musegen.atomic import atomic_dir, check_writable, clean_stale
from musegen.data.fetch import DownloadError, Remote, fetch
from musegen.errors import run_reported

DRIVE = "https://drive.usercontent.google.com/download?id={id}&export=download&confirm=t"
INTERRUPTED = "interrupted; run the same command again to resume the download"


@dataclass(frozen=True)
class Dataset:
    """One downloadable archive and what must come out of it."""

    archive: str  # file name under --dest
    remote: Remote
    folder: str | None = None  # extracted tree under --dest; None: the archive is the data
    files: int | None = None  # npz files the tree must hold
    setting: str = "data.root"


def _drive(file_id: str, archive: str) -> Remote:
    page = f"https://drive.google.com/uc?id={file_id}"
    hint = (
        f"Google Drive answered with a web page, not {archive} (it wants a browser for this "
        f"file): open {page} in a browser, save the file as <dest>/{archive}, and run the "
        "same command again; it goes on from that file"
    )
    return Remote(DRIVE.format(id=file_id), browser_hint=hint)


DATASETS: dict[str, Dataset] = {
    "lpd5/cleansed": Dataset(
        "lpd_5_cleansed.tar.gz",
        _drive("1yz0Ma-6cWTl6mhkrLnAVJ7RNzlQRypQ5", "lpd_5_cleansed.tar.gz"),
        folder="lpd_5_cleansed",
        files=21_425,
    ),
    "lpd5/full": Dataset(
        "lpd_5_full.tar.gz",
        _drive("1tZKMhYazSWapFTUt7H6abHSo-QKH9ATC", "lpd_5_full.tar.gz"),
        folder="lpd_5_full",
        files=174_154,
    ),
    "labels": Dataset(
        "labels.tar.gz",
        Remote(
            "https://github.com/salu133445/lakh-pianoroll-dataset/raw/232d4f5/data/labels.tar.gz",
            size=869_278,
            sha256="68191f8f394a15b8c9d6a379c95bceba857d4732220df272c6166e225808e5d6",
        ),
        setting="data.labels",
    ),
}


def download(
    dataset: Dataset, dest: Path, progress: bool = True, expect_files: int | None = None
) -> Path:
    """Fetch, check and (for a tree) extract ``dataset`` under ``dest``; return what to pass.

    Idempotent: a tree already in place (from a previous call, or extracted by hand) is
    counted and returned, and an archive already under ``dest`` (downloaded before, or saved
    there by hand) is not fetched again.
    """
    dest = check_writable(dest, "--dest")
    clean_stale(dest)
    expect_files = expect_files or dataset.files
    if dataset.folder is not None and (dest / dataset.folder).is_dir():
        tree = dest / dataset.folder
        _check_count(_count_npz(tree), expect_files, tree, f"delete {tree} and run again")
        return _data_root(tree)
    archive = fetch(dataset.remote, dest / dataset.archive, progress)
    if dataset.folder is None:
        return archive
    return extract(archive, dest / dataset.folder, expect_files)


def _extract_data(tar: tarfile.TarFile, dest: Path) -> None:
    """Extract a streamed archive refusing absolute paths, ``..``, links out and devices:
    tarfile's ``data`` filter where this Python has it (3.10.12+, 3.11.4+), else the same
    refusals member by member (links refused outright: LPD's archives hold none)."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter="data")
        return
    for member in tar:
        parts = Path(member.name).parts
        if member.name.startswith("/") or ".." in parts or not (member.isfile() or member.isdir()):
            raise tarfile.TarError(f"refusing the archive member {member.name!r}")
        tar.extract(member, dest)


def extract(archive: Path, target: Path, expect_files: int | None) -> Path:
    """Extract ``archive`` to ``target`` through a temporary folder; check the npz count.

    The gzip stream is read to its end, so its CRC checks every byte of the archive (tar's
    end-of-archive blocks come before gzip's trailer, which a plain extraction never reads).
    """
    with atomic_dir(target) as tmp:
        try:
            with gzip.open(archive, "rb") as stream:
                with tarfile.open(fileobj=stream, mode="r|") as tar:
                    _extract_data(tar, tmp)
                while stream.read(1 << 20):
                    pass
        except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
            raise DownloadError(
                f"{archive}: the archive is damaged ({type(exc).__name__}: {exc}); delete it "
                "and run the same command again to download it afresh"
            ) from None
        hint = f"delete {archive.name} and run again (or pass --expect-files to accept it)"
        _check_count(_count_npz(tmp), expect_files, archive, hint)
    return _data_root(target)


def _count_npz(tree: Path) -> int:
    return sum(1 for f in tree.rglob("*.npz") if not f.name.startswith("."))


def _check_count(count: int, expected: int | None, where: Path, hint: str) -> None:
    if expected is not None and count != expected:
        raise DownloadError(
            f"{where}: holds {count:,} npz files, expected {expected:,}; "
            f"it is not that dataset or is incomplete: {hint}"
        )


def _data_root(tree: Path) -> Path:
    """The folder to pass as ``data.root``: the tree, less single-folder wrappers."""
    root = tree
    while True:
        entries = list(root.iterdir())
        if len(entries) != 1 or not entries[0].is_dir():
            return root
        root = entries[0]


def _positive(text: str) -> int:
    """An integer >= 1, or argparse's one-line usage error (exit code 2)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; prints the setting to pass and returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m musegen.data.download",
        description="Download LPD-5 or LPD's genre lists; resumable, verified, atomic.",
    )
    parser.add_argument("what", choices=["lpd5", "labels"])
    parser.add_argument("--subset", choices=["cleansed", "full"], default="cleansed")
    parser.add_argument("--dest", type=Path, default=Path("data"), help="default: ./data")
    parser.add_argument("--url", help="a mirror of the same archive (default: the official)")
    parser.add_argument(
        "--expect-files",
        type=_positive,
        default=None,
        help="npz files the tree must hold (an integer >= 1)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    dataset = DATASETS[f"lpd5/{args.subset}" if args.what == "lpd5" else "labels"]
    if args.url:
        # a mirror serves the same bytes: keep the size and checksum, drop Drive's hint
        remote = dataclasses.replace(dataset.remote, url=args.url, browser_hint=None)
        dataset = dataclasses.replace(dataset, remote=remote)

    def body() -> int:
        path = download(dataset, args.dest, not args.quiet, args.expect_files)
        print(f"{dataset.setting}={path}")
        return 0

    return run_reported(body, "download", INTERRUPTED)


if __name__ == "__main__":
    raise SystemExit(main())
