"""What is committed under experiments/: every listening page plays, shows at least three
songs of each kind with every row's piece beside the real one and its MIDI file, and no page
or record names a folder of the machine that wrote it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_page import assert_page_works

EXPERIMENTS = ROOT / "experiments"
PAGES = sorted(EXPERIMENTS.rglob("index.html"))
ACCOMPANIMENT = [p for p in PAGES if "<title>Accompaniment by " in p.read_text()]
LISTENING = [p for p in PAGES if p not in ACCOMPANIMENT]
TEXT = {".md", ".html", ".json", ".csv", ".yaml", ".log", ".txt"}
MACHINE_PATH = re.compile(r"(?<![\w.<])/(?:work|tmp|home|root|Users|mnt|scratch)/")
PLACEHOLDER = re.compile(r"<(?:sweep|repo|runs|data_dir)>")
"""What ``experiments/keep_runs.py`` writes for a machine's folders: what follows is relative."""
"""An absolute path of a machine (``/work/...``, ``/tmp/...``, ...)."""


def _pairs(page: str) -> dict[str, list[str]]:
    """The page's sections (``<h2>``) and, in each, its pairs: one song's pieces."""
    sections = {}
    for part in page.split("<h2>")[1:]:
        title = part.split("</h2>", 1)[0]
        sections[title] = part.split('<div class="pair">')[1:]
    return sections


def test_the_committed_pages_are_found() -> None:
    assert len(LISTENING) >= 6, PAGES  # two evaluations, the note model, three comparisons
    assert ACCOMPANIMENT, PAGES  # the Lakh accompaniment


@pytest.mark.parametrize("page", LISTENING, ids=lambda p: str(p.parent.relative_to(EXPERIMENTS)))
def test_every_committed_listening_page_shows_three_songs_and_plays(page: Path) -> None:
    text = page.read_text()
    titles = re.findall(r"<h2>(.*?)</h2>", text)
    assert len(titles) == len(set(titles)), titles  # one section per title
    sections = _pairs(text)
    assert {"Continuations", "From scratch"} <= set(sections), list(sections)
    for title in ("Continuations", "From scratch"):
        pairs = sections[title]
        assert len(pairs) >= 3, (title, len(pairs))
        rows = {p.count("<figure>") for p in pairs}
        assert len(rows) == 1 and rows.pop() >= 2, title  # the real piece and every row's
        for pair in pairs:
            assert pair.count("<audio") == pair.count(">MIDI</a>") == pair.count("<figure>")
            assert "real music" in pair and " qpm" in pair
    assert "What to listen for" in text and "LUFS" in text and "SoundFont" in text
    assert_page_works(page, min_audio=12)


@pytest.mark.parametrize(
    "page", ACCOMPANIMENT, ids=lambda p: str(p.parent.relative_to(EXPERIMENTS))
)
def test_every_committed_accompaniment_page_plays_three_songs_three_ways(page: Path) -> None:
    """Each song: the kept tracks alone, with the real accompaniment, with the model's."""
    text = page.read_text()
    pairs = _pairs(text)["Accompaniments"]
    assert len(pairs) >= 3, len(pairs)
    for pair in pairs:
        assert pair.count("<figure>") == pair.count("<audio") == pair.count(">MIDI</a>") == 3
        assert "the kept tracks alone" in pair and "with its real accompaniment" in pair
    assert "What to listen for" in text and "LUFS" in text and "SoundFont" in text
    assert_page_works(page, min_audio=9)


def test_no_committed_record_names_a_folder_of_the_machine_that_wrote_it() -> None:
    found = []
    for path in sorted(EXPERIMENTS.rglob("*")):
        if path.is_file() and path.suffix in TEXT:
            for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if MACHINE_PATH.search(PLACEHOLDER.sub("x", line)):
                    found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:120]}")
    assert not found, "\n".join(found[:20]) + f"\n({len(found)} lines)"


def test_the_path_check_finds_a_path() -> None:
    assert MACHINE_PATH.search("Checkpoint: `/work/runs/x/checkpoints/a.ckpt`")
    assert MACHINE_PATH.search('"data_dir": "/tmp/pytest-1/data"')
    assert not MACHINE_PATH.search("hydra.run.dir=<sweep>/0 and experiments/results/bach/")
    assert not MACHINE_PATH.search("see docs/work/x.md")
    assert not MACHINE_PATH.search(PLACEHOLDER.sub("x", "dirpath: <sweep>/scratch/checkpoints"))
    assert MACHINE_PATH.search(PLACEHOLDER.sub("x", "<code>/work/runs/a.ckpt</code>"))
