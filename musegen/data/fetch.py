"""Resumable HTTP download of one file, verified by size and, where one is published, SHA-256.

The bytes go to ``<name>.part`` beside the destination; an interrupted download (a dropped
connection, Ctrl-C, a kill) leaves the part, and the next call asks the server for the rest
with an HTTP ``Range`` header. Only a complete, verified file is renamed to its final name,
so a file under the final name is always whole: a user who fetched it by hand (in a browser)
puts it there and the same command goes on from it.

Standard library only (``urllib``): LPD's archives are single large files, and nothing here
needs more than ranges and redirects.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from musegen.errors import UserError
from musegen.progress import progress_bar

CHUNK = 1 << 20
TIMEOUT_S = 60.0
USER_AGENT = "musegen-download"


class DownloadError(UserError):
    """A download or an archive failed; the message says what to do next."""


@dataclass(frozen=True)
class Remote:
    """One file to fetch: where from, and what it must be."""

    url: str
    size: int | None = None  # bytes, where known in advance
    sha256: str | None = None  # where published
    browser_hint: str | None = None  # what to tell a user whose host wants a browser


def part_path(dest: Path) -> Path:
    """Where the bytes of ``dest`` collect until the download is complete."""
    return dest.with_name(dest.name + ".part")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def fetch(remote: Remote, dest: Path, progress: bool = True) -> Path:
    """Download ``remote`` to ``dest``, resuming ``dest.part`` if there is one; verify it.

    Returns ``dest``. A ``dest`` that already exists is verified, not downloaded again.

    Raises
    ------
    DownloadError
        One line: the host is unreachable, answered with a web page (wants a browser), the
        connection dropped (run again to resume), or the file fails its size or checksum.
    """
    dest = Path(dest)
    if not dest.exists():
        part = part_path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        total = _download(remote, part, progress)
        have = part.stat().st_size
        if total is not None and have != total:
            raise DownloadError(
                f"{remote.url}: the download stopped at {have:,} of {total:,} bytes "
                f"(kept in {part}); run the same command again to resume"
            )
        os.replace(part, dest)
    verify(remote, dest)
    return dest


def verify(remote: Remote, path: Path) -> None:
    """Check ``path`` against the size and checksum ``remote`` knows; one line if wrong."""
    size = path.stat().st_size
    if remote.size is not None and size != remote.size:
        raise DownloadError(
            f"{path}: {size:,} bytes, expected {remote.size:,}; delete it and run again"
        )
    if remote.sha256 is not None and sha256_of(path) != remote.sha256:
        raise DownloadError(
            f"{path}: SHA-256 differs from the published {remote.sha256[:12]}...; "
            "delete it and run again"
        )


_CONTENT_RANGE = re.compile(r"bytes (?:(\d+)-\d+|\*)/(\d+|\*)")


def _download(remote: Remote, part: Path, progress: bool) -> int | None:
    """Append the missing bytes to ``part``; return the file's full size if the server said."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(remote.url, headers={"User-Agent": USER_AGENT})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the part may be complete
            match = _CONTENT_RANGE.match(exc.headers.get("Content-Range", ""))
            if match and match[2] != "*" and int(match[2]) == have:
                return have
            part.unlink()  # larger than the file: not a part of it
            return _download(remote, part, progress)
        raise DownloadError(f"{remote.url}: the server answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"{remote.url}: cannot connect ({reason}); check the network") from None
    with response:
        if response.headers.get_content_type() == "text/html":
            raise DownloadError(remote.browser_hint or f"{remote.url} answered with a web page")
        total, mode = _plan(response, have)
        if mode == "wb":
            have = 0
        return _copy(response, part, mode, have, total, progress, remote.url)


def _plan(response: http.client.HTTPResponse, have: int) -> tuple[int | None, str]:
    """The file's full size and how to open the part: append to a 206, restart on a 200."""
    length = response.headers.get("Content-Length")
    if response.status == 206:
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if match is None or match[1] is None or int(match[1]) != have:
            raise DownloadError(
                f"{response.url}: the server resumed at the wrong place; delete the .part file "
                "and run again"
            )
        return (int(match[2]) if match[2] != "*" else None), "ab"
    return (int(length) if length is not None else None), "wb"


def _copy(
    response: http.client.HTTPResponse,
    part: Path,
    mode: str,
    have: int,
    total: int | None,
    progress: bool,
    url: str,
) -> int | None:
    """Stream the body into ``part``; a dropped connection keeps what arrived."""
    with open(part, mode) as fh, progress_bar(total or 0, f"{part.name}", progress) as bar:
        bar.advance(have)
        try:
            while block := response.read(CHUNK):
                fh.write(block)
                bar.advance(len(block))
        except (http.client.IncompleteRead, OSError) as exc:
            fh.flush()
            raise DownloadError(
                f"{url}: the connection dropped after {fh.tell():,} bytes "
                f"({type(exc).__name__}); run the same command again to resume"
            ) from None
    return total
