"""A listening page: ``index.html`` beside a report, with its samples' audio and pianorolls.

The page is self-contained: every link is relative to the page's folder, nothing is fetched
from a network, and it opens from a ``file://`` URL. The report's own markdown becomes the
page's tables (Python-Markdown with its ``tables`` extension), so the page and the ``.md``
file never disagree.
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
.samples { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; padding: 0.5em; border: 1px solid #ddd; width: 660px; }
figure img { width: 100%; }
figure audio { width: 100%; }
figcaption { font-size: 0.9em; margin-bottom: 0.3em; }
"""


@dataclass(frozen=True)
class Media:
    """One sample on the page: its caption, pianoroll and audio (either may be missing)."""

    caption: str
    png: Path | None = None
    audio: Path | None = None
    group: str = "Samples"


def _rel(path: Path, base: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), base.resolve())).as_posix()


def page_html(title: str, body_markdown: str, media: Sequence[Media], base: Path) -> str:
    """The page's HTML: the samples (grouped, in order) above the report's tables."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    groups: dict[str, list[Media]] = {}
    for item in media:
        groups.setdefault(item.group, []).append(item)
    for group, items in groups.items():
        parts += [f"<h2>{html.escape(group)}</h2>", '<div class="samples">']
        for item in items:
            parts.append(f"<figure><figcaption>{html.escape(item.caption)}</figcaption>")
            if item.audio is not None:
                src = html.escape(_rel(item.audio, base))
                parts.append(f'<audio controls preload="metadata" src="{src}"></audio>')
            if item.png is not None:
                src = html.escape(_rel(item.png, base))
                parts.append(f'<a href="{src}"><img src="{src}" alt="pianoroll"></a>')
            parts.append("</figure>")
        parts.append("</div>")
    parts.append(markdown.markdown(body_markdown, extensions=["tables"]))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_page(
    path: str | Path, title: str, body_markdown: str, media: Sequence[Media] = ()
) -> Path:
    """Write ``index.html`` (or ``path``) atomically; links are relative to its folder."""
    path = Path(path)
    text = page_html(title, body_markdown, media, path.parent)
    return write_bytes_atomic(path, text.encode())
