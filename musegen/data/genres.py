"""Genre subsets from LPD's label lists (tagtraum, amg, lastfm).

LPD ships ``labels.tar.gz`` with ``labels/<source>/id_list_<Genre>.txt`` files, one MSD
track id (``TR...``) a line. The same folder layout, extracted, is accepted too.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

LABEL_SOURCES = ("tagtraum", "amg", "lastfm")
LABELS_URL = "https://github.com/salu133445/lakh-pianoroll-dataset/tree/main/data"


def _label_files(labels: Path, source: str) -> dict[str, list[str]]:
    """Map genre name -> MSD ids for one label source, from a tar.gz or a folder."""
    out: dict[str, list[str]] = {}
    prefix = "id_list_"
    if labels.is_dir():
        for path in sorted(labels.rglob(f"{prefix}*.txt")):
            if path.parent.name == source:
                out[path.stem[len(prefix) :]] = path.read_text().split()
        return out
    with tarfile.open(labels, "r:*") as tar:
        for member in tar.getmembers():
            name = Path(member.name)
            if member.isfile() and name.parent.name == source and name.stem.startswith(prefix):
                fh = tar.extractfile(member)
                if fh is not None:
                    out[name.stem[len(prefix) :]] = fh.read().decode("utf-8").split()
    return out


def genre_ids(labels: str | Path, genres: list[str], source: str = "tagtraum") -> set[str]:
    """The MSD track ids labelled with any of ``genres`` (case-insensitive) by ``source``.

    Raises
    ------
    ValueError
        One line naming the unknown source or genre and the valid choices, or the missing file.
    """
    labels = Path(labels).expanduser()
    if source not in LABEL_SOURCES:
        raise ValueError(f"data.label_source: {source!r} is not one of {list(LABEL_SOURCES)}")
    if not labels.exists():
        raise ValueError(
            f"data.labels: {labels} does not exist; get LPD's labels.tar.gz from {LABELS_URL}"
        )
    table = _label_files(labels, source)
    by_lower = {g.lower(): g for g in table}
    ids: set[str] = set()
    for genre in genres:
        key = by_lower.get(str(genre).lower())
        if key is None:
            raise ValueError(
                f"data.genres: {genre!r} is not a {source} genre; choose from {sorted(table)}"
            )
        ids.update(table[key])
    return ids
