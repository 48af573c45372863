"""``make demo``: no training, the shipped models continue and accompany a shipped piece,
and the page it writes plays in a browser (what CI runs)."""

from __future__ import annotations

import json
from pathlib import Path

from musegen.demo import PIECE
from tests.conftest import run_cli
from tests.test_page import assert_page_works


def test_the_demo_writes_a_page_that_plays(tmp_path: Path) -> None:
    done = run_cli("musegen.demo", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    page = tmp_path / "index.html"
    text = page.read_text()
    assert text.count("<audio") == text.count(">MIDI</a>") == 3  # original, continued, accompanied
    assert "pretrained:bach" in text and "pretrained:lakh" in text
    assert PIECE.is_file()  # the piece ships with the package
    drawn = json.loads((tmp_path / "accompaniment" / "generation.json").read_text())["sampling"]
    # experiment=lakh's accompaniment rules, shipped as pretrained:lakh's own sampling
    assert (drawn["pitch"]["harmony"], drawn["step"]["on_kept"]) == (0.6, 1.0)
    assert drawn["tracks"]["Bass"]["pitch"]["root"] == 0.45
    assert drawn["accompaniment"]["step"]["temperature"] == 1.0  # a continuation's: 0.5
    assert drawn["step"]["temperature"] == 0.5
    assert_page_works(page, min_audio=3)
