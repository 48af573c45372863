"""The listening page opens in headless Chromium from a file:// URL: nothing missing, every
<audio> loads its file, and the screenshot shows something.

Needs Debian's Chromium (``make system-deps``) and Playwright (the dev extra); skips, saying
which is missing, without them. Playwright drives the system browser: nothing is downloaded.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

BROWSER_ARGS = [
    "--no-sandbox",  # root in CI
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

AUDIO_STATE = """async () => Promise.all([...document.querySelectorAll('audio')].map(a =>
  new Promise(done => {
    const report = () => done({src: a.src, ready: a.readyState, duration: a.duration,
                               error: a.error ? a.error.code : null});
    if (a.readyState >= 1 || a.error) return report();
    a.addEventListener('loadedmetadata', report, {once: true});
    a.addEventListener('error', report, {once: true});
    a.load();
  })))"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("needs Debian's chromium for the listening-page test: make system-deps")
    return found


def check_page(page: Path) -> dict:
    """Open ``page`` in headless Chromium; return what failed and what loaded."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("needs playwright (pip install -e '.[dev]') for the listening-page test")
    from PIL import Image

    failed: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=BROWSER_ARGS)
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 1000})
            # a media element cancels its own request once it has what it needs: ERR_ABORTED
            tab.on(
                "requestfailed",
                lambda r: (
                    failed.append(f"{r.url} {r.failure}")
                    if "ERR_ABORTED" not in str(r.failure)
                    else None
                ),
            )
            tab.goto(page.resolve().as_uri(), wait_until="load")
            audio = tab.evaluate(AUDIO_STATE)
            images = tab.evaluate("[...document.images].map(i => [i.src, i.naturalWidth])")
            shot = Image.open(io.BytesIO(tab.screenshot(full_page=True))).convert("L")
        finally:
            browser.close()
    pixels = np.asarray(shot, dtype=np.float64)
    return {"failed": failed, "audio": audio, "images": images, "pixels": pixels}


def local_links(page: Path) -> list[Path]:
    """Every src/href of the page, resolved against its folder."""
    links = re.findall(r'(?:src|href)="([^"#:]+)"', page.read_text())
    return [page.parent / link for link in links]


def assert_page_works(page: Path, min_audio: int = 1) -> None:
    assert all(p.is_file() for p in local_links(page)), [
        str(p) for p in local_links(page) if not p.is_file()
    ]
    result = check_page(page)
    assert result["failed"] == []
    assert len(result["audio"]) >= min_audio
    for audio in result["audio"]:
        assert audio["error"] is None and audio["ready"] >= 1 and audio["duration"] > 0, audio
    assert result["images"] and all(width > 0 for _, width in result["images"])
    pixels = result["pixels"]
    assert pixels.std() > 10 and (pixels < 200).mean() > 0.01  # not a blank page


def test_evaluation_page_plays_in_chromium(tiny_run: Path) -> None:
    page = tiny_run / "evaluation" / "index.html"
    text = page.read_text()
    songs = json.loads((page.parent / "evaluation.json").read_text())["songs"]
    pairs = min(songs, 3) + 3  # up to 3 songs of each kind (the tiny run has 2 test songs)
    assert text.count('<div class="pair">') == pairs  # the model's piece and the real one
    assert text.count("<audio") == text.count(">MIDI</a>") == 2 * pairs
    assert_page_works(page, min_audio=2 * pairs)


def test_a_page_with_a_missing_wav_fails_the_check(tiny_run: Path, tmp_path: Path) -> None:
    """The check itself can fail: a deleted WAV is reported, by the browser too."""
    folder = tmp_path / "evaluation"
    shutil.copytree(tiny_run / "evaluation", folder)
    wav = next((folder / "samples").glob("*.wav"))
    wav.unlink()
    result = check_page(folder / "index.html")
    broken = [a for a in result["audio"] if a["src"].endswith(wav.name)]
    assert broken and broken[0]["error"] is not None
    assert any(wav.name in f for f in result["failed"])
