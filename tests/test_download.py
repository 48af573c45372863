"""``musegen.data.download`` against a real HTTP server on 127.0.0.1 (no internet here).

The server speaks enough HTTP/1.1 for the cases that matter: ``Range`` requests (206 and
416), a connection that drops mid-body, and a web page instead of the file (what Google
Drive sends when it wants a browser). The archives are real tar.gz files of npz files.
"""

from __future__ import annotations

import io
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from musegen.data import download as dl
from musegen.data.fetch import DownloadError, Remote, fetch, part_path

FILES = 7


class Served:
    """What the server sends, and what it was asked."""

    def __init__(self) -> None:
        self.payload = b""
        self.content_type = "application/gzip"
        self.cut_after: int | None = None  # drop the connection after this many body bytes
        self.ranges: list[str | None] = []


def _handler(served: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep pytest's output clean
            pass

        def do_GET(self) -> None:
            rng = self.headers.get("Range")
            served.ranges.append(rng)
            data, start = served.payload, 0
            if rng is not None:
                start = int(rng.removeprefix("bytes=").split("-")[0])
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Type", served.content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if served.cut_after is not None:
                self.wfile.write(body[: served.cut_after])
                served.cut_after = None
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[str, Served]]:
    served = Served()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/lpd_5_cleansed.tar.gz", served
    finally:
        httpd.shutdown()
        httpd.server_close()


def _archive(files: int = FILES) -> bytes:
    """A tar.gz laid out like LPD's: ``lpd_5/lpd_5_cleansed/A/B/C/<MSD id>/<md5>.npz``."""
    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for i in range(files):
            npz = io.BytesIO()
            np.savez_compressed(npz, pianoroll=rng.integers(0, 128, (96, 128), dtype=np.uint8))
            letter = "AB"[i % 2]
            info = tarfile.TarInfo(
                f"lpd_5/lpd_5_cleansed/{letter}/B/C/TR{letter}BC{i:04d}/{i:032x}.npz"
            )
            info.size = npz.getbuffer().nbytes
            tar.addfile(info, io.BytesIO(npz.getvalue()))
    return buffer.getvalue()


def _temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def _run(url: str, dest: Path, *extra: str) -> int:
    return dl.main(["lpd5", "--dest", str(dest), "--url", url, "--quiet", *extra])


def test_interrupted_download_resumes_with_a_range_request(server, tmp_path, capsys):
    url, served = server
    served.payload = _archive()
    cut = len(served.payload) // 3
    served.cut_after = cut

    assert _run(url, tmp_path, "--expect-files", str(FILES)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "run the same command again to resume" in err
    part = part_path(tmp_path / "lpd_5_cleansed.tar.gz")
    assert part.stat().st_size == cut
    assert not (tmp_path / "lpd_5_cleansed").exists()

    assert _run(url, tmp_path, "--expect-files", str(FILES)) == 0
    assert served.ranges == [None, f"bytes={cut}-"]
    root = tmp_path / "lpd_5_cleansed" / "lpd_5" / "lpd_5_cleansed"
    assert capsys.readouterr().out.strip() == f"data.root={root}"
    assert (tmp_path / "lpd_5_cleansed.tar.gz").read_bytes() == served.payload
    assert len(list(root.rglob("*.npz"))) == FILES
    assert not part.exists() and not _temporaries(tmp_path)

    # a third call finds the tree in place and asks the server nothing
    assert _run(url, tmp_path, "--expect-files", str(FILES)) == 0
    assert len(served.ranges) == 2


def test_damaged_archive_is_rejected_and_nothing_is_left_extracted(server, tmp_path, capsys):
    url, served = server
    payload = bytearray(_archive())
    middle = len(payload) // 2
    payload[middle : middle + 64] = bytes(b ^ 0xFF for b in payload[middle : middle + 64])
    served.payload = bytes(payload)

    assert _run(url, tmp_path, "--expect-files", str(FILES)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "damaged" in err and "download: " in err
    assert not (tmp_path / "lpd_5_cleansed").exists()
    assert not _temporaries(tmp_path)


def test_wrong_file_count_is_reported(server, tmp_path, capsys):
    url, served = server
    served.payload = _archive()

    assert _run(url, tmp_path) == 2  # the official count, 21,425, against 7
    err = capsys.readouterr().err.strip()
    assert f"holds {FILES} npz files, expected 21,425" in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "lpd_5_cleansed").exists() and not _temporaries(tmp_path)


def test_an_archive_saved_by_hand_is_used_without_a_download(server, tmp_path, capsys):
    url, served = server
    (tmp_path / "lpd_5_cleansed.tar.gz").write_bytes(_archive())
    assert _run(url, tmp_path, "--expect-files", str(FILES)) == 0
    assert served.ranges == []
    assert capsys.readouterr().out.startswith("data.root=")


def test_a_complete_part_is_finished_on_a_416(server, tmp_path):
    url, served = server
    served.payload = _archive()
    dest = tmp_path / "lpd_5_cleansed.tar.gz"
    part_path(dest).write_bytes(served.payload)
    fetch(Remote(url), dest, progress=False)
    assert served.ranges == [f"bytes={len(served.payload)}-"]
    assert dest.read_bytes() == served.payload


def test_a_web_page_instead_of_the_file_says_to_use_a_browser(server, tmp_path):
    url, served = server
    served.payload, served.content_type = b"<html>virus scan warning</html>", "text/html"
    remote = dl.DATASETS["lpd5/cleansed"].remote
    with pytest.raises(DownloadError, match=r"wants a browser .* save the file as"):
        fetch(Remote(url, browser_hint=remote.browser_hint), tmp_path / "x.tar.gz", False)
    assert not (tmp_path / "x.tar.gz").exists()


def test_labels_are_checked_against_their_published_checksum(server, tmp_path):
    url, served = server
    served.payload = b"not the genre lists"
    labels = dl.DATASETS["labels"].remote
    with pytest.raises(DownloadError, match="bytes, expected 869,278"):
        fetch(Remote(url, size=labels.size, sha256=labels.sha256), tmp_path / "labels.tar.gz")
    with pytest.raises(DownloadError, match="SHA-256 differs"):
        fetch(Remote(url, sha256=labels.sha256), tmp_path / "labels2.tar.gz", False)


def test_labels_in_shared_data_match_the_pinned_checksum(shared_data):
    """The pinned SHA-256 is that of the copy this project tests against."""
    from musegen.data.fetch import sha256_of

    assert sha256_of(shared_data / "lpd" / "labels.tar.gz") == dl.DATASETS["labels"].remote.sha256


@pytest.mark.parametrize("value", ["-3", "0", "many"])
def test_expect_files_must_be_a_positive_count(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as stop:
        dl.main(["lpd5", "--dest", str(tmp_path), "--expect-files", value])
    assert stop.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.endswith(f"argument --expect-files: must be an integer >= 1, got '{value}'")
    assert not any(tmp_path.iterdir())  # nothing fetched
