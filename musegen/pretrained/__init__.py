"""Trained models that come with the package, loaded by name: ``ckpt_path=pretrained:lakh``.

Each is a small checkpoint (``<name>.ckpt``: the network's weights in half precision, its
config, and what a test pass needs; no optimizer state) beside its model card
(``<name>.md``, and ``<name>.json`` with the same figures as data): its data, the exact
command and commit that trained it, its test figures, and its licence, which follows the
data's. ``python -m musegen.pretrained`` lists them; ``export`` makes one from a run.

Wherever a checkpoint is read by name (``musegen.generate``, ``musegen.evaluate``,
``musegen.train init_from=``), ``resolve`` turns ``pretrained:<name>`` into its path, or
stops with one line that lists the names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from musegen.errors import UserError

FOLDER = Path(__file__).resolve().parent
PREFIX = "pretrained:"


class PretrainedError(UserError):
    """An unknown pretrained model's name (one line listing the names)."""


def names() -> list[str]:
    """The models that ship with the package, sorted."""
    return sorted(p.stem for p in FOLDER.glob("*.ckpt"))


def resolve(value: str | Path, key: str = "ckpt_path") -> Path:
    """``pretrained:<name>`` as the path of its checkpoint; any other value as a path.

    Raises
    ------
    PretrainedError
        An unknown name: one line naming ``key`` and the names there are.
    """
    text = str(value)
    if not text.startswith(PREFIX):
        return Path(text).expanduser()
    name = text[len(PREFIX) :]
    if name not in names():
        known = ", ".join(f"{PREFIX}{n}" for n in names()) or "none in this installation"
        raise PretrainedError(f"{key}: no pretrained model {name!r}; the models: {known}")
    return FOLDER / f"{name}.ckpt"


def card(name: str) -> dict[str, Any]:
    """A model's card as data (``<name>.json``)."""
    return json.loads((FOLDER / f"{name}.json").read_text())
