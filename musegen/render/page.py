"""A listening page: ``index.html`` beside a report, with its samples' audio and pianorolls.

The page is self-contained: every link is relative to the page's folder, nothing is fetched
from a network, and it opens from a ``file://`` URL. The report's own markdown becomes the
page's tables (Python-Markdown with its ``tables`` extension), so the page and the ``.md``
file never disagree.

Samples are grouped (continuations, pieces from scratch) and, within a group, stacked by
``pair``: the pieces of one song, one under another, so that their pianorolls (drawn on one
time axis by the caller) line up bar by bar. Each shows its audio, its MIDI file and its
pianoroll at the picture's own width: a scaled-down picture would drop notes again.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import markdown

from musegen.atomic import write_bytes_atomic

STYLE = """
body { font-family: sans-serif; max-width: 1400px; margin: 1.5em auto; padding: 0 1em;
       color: #222; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.pair { margin: 0 0 1.5em; padding: 0.5em; border: 1px solid #ddd; }
.pair h3 { margin: 0.2em 0 0.4em; font-size: 1em; }
figure { margin: 0 0 0.8em; }
figure img { display: block; max-width: 100%; }
.controls { display: flex; gap: 1em; align-items: center; }
.controls audio { width: 480px; }
figcaption { font-size: 0.9em; margin-bottom: 0.3em; }
.listen { background: #f6f6f0; padding: 0.2em 1em; border-left: 4px solid #bba; }
"""


@dataclass(frozen=True)
class Media:
    """One sample on the page: its caption, pianoroll, audio and MIDI file (any may be
    missing). ``group``: the section; ``pair``: the pieces shown together in it (one song),
    titled by ``pair`` itself (None: a piece on its own)."""

    caption: str
    png: Path | None = None
    audio: Path | None = None
    group: str = "Samples"
    midi: Path | None = None
    pair: str | None = None


def _rel(path: Path, base: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), base.resolve())).as_posix()


def _figure(item: Media, base: Path) -> list[str]:
    parts = [f"<figure><figcaption>{html.escape(item.caption)}</figcaption>"]
    controls = []
    if item.audio is not None:
        src = html.escape(_rel(item.audio, base))
        controls.append(f'<audio controls preload="metadata" src="{src}"></audio>')
    else:
        controls.append("<span>(no audio)</span>")
    if item.midi is not None:
        controls.append(f'<a href="{html.escape(_rel(item.midi, base))}">MIDI</a>')
    parts.append(f'<div class="controls">{"".join(controls)}</div>')
    if item.png is not None:
        src = html.escape(_rel(item.png, base))
        parts.append(f'<a href="{src}"><img src="{src}" alt="pianoroll"></a>')
    parts.append("</figure>")
    return parts


def page_html(
    title: str,
    body_markdown: str,
    media: Sequence[Media],
    base: Path,
    intro_markdown: str = "",
) -> str:
    """The page's HTML: ``intro_markdown`` (how the audio was made, what to listen for),
    the samples (grouped, then stacked by pair, in order), then the report's tables."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if intro_markdown:
        parts.append(
            f'<div class="listen">{markdown.markdown(intro_markdown, extensions=["tables"])}</div>'
        )
    groups: dict[str, dict[str | None, list[Media]]] = {}
    for item in media:
        pairs = groups.setdefault(item.group, {})
        pairs.setdefault(item.pair if item.pair is not None else item.caption, []).append(item)
    for group, pairs in groups.items():
        parts.append(f"<h2>{html.escape(group)}</h2>")
        for pair, items in pairs.items():
            parts.append('<div class="pair">')
            if items[0].pair is not None:
                parts.append(f"<h3>{html.escape(str(pair))}</h3>")
            for item in items:
                parts += _figure(item, base)
            parts.append("</div>")
    parts.append(markdown.markdown(body_markdown, extensions=["tables"]))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_page(
    path: str | Path,
    title: str,
    body_markdown: str,
    media: Sequence[Media] = (),
    intro_markdown: str = "",
) -> Path:
    """Write ``index.html`` (or ``path``) atomically; links are relative to its folder."""
    path = Path(path)
    text = page_html(title, body_markdown, media, path.parent, intro_markdown)
    return write_bytes_atomic(path, text.encode())
