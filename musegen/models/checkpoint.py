"""Load a trained network from a checkpoint safely, without Hydra or Lightning.

Checkpoints are read with ``torch.load(weights_only=True)``: tensors and plain containers
only, so a file from an untrusted source cannot run code while it is unpickled. The network
config sits beside the weights (``NextNoteTask.on_save_checkpoint``), and the backbone class
it names must live in ``musegen.models.backbones`` (``network.resolve_backbone``).
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from musegen.models.network import NoteNet
from musegen.models.task import CHECKPOINT_FORMAT, CHECKPOINT_KEY

STATE_PREFIX = "net."


class CheckpointError(ValueError):
    """A checkpoint cannot be used; the message is one line naming the file and why."""


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """``torch.load`` with ``weights_only=True``, turning every failure into ``CheckpointError``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:  # weights_only refused an object, or bad pickle
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path}: not a plain-weights checkpoint (refused by weights-only loading: {first})"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: corrupt or truncated checkpoint ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'unreadable'})"
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{path}: not a Lightning checkpoint (no 'state_dict')")
    return checkpoint


def network_config(checkpoint: dict[str, Any], path: str | Path = "checkpoint") -> dict[str, Any]:
    """The network config stored in a checkpoint by ``NextNoteTask``."""
    entry = checkpoint.get(CHECKPOINT_KEY)
    if not isinstance(entry, dict) or "network" not in entry:
        raise CheckpointError(
            f"{path}: not a musegen NextNoteTask checkpoint (no {CHECKPOINT_KEY!r} entry)"
        )
    if entry.get("format", 0) > CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path}: checkpoint format {entry.get('format')} is newer than this musegen "
            f"reads ({CHECKPOINT_FORMAT}); upgrade musegen"
        )
    return entry["network"]


def load_network(
    path: str | Path, map_location: str | torch.device = "cpu", expect: str | None = None
) -> NoteNet:
    """Rebuild the trained ``NoteNet`` of a checkpoint, in eval mode.

    Parameters
    ----------
    path : path
        A ``.ckpt`` written by ``musegen.train`` (e.g. ``<run>/checkpoints/last.ckpt``).
    expect : str, optional
        The backbone ``_target_`` the caller expects (e.g. the current config's
        ``model.net._target_``); another model's checkpoint then raises ``CheckpointError``.

    Raises
    ------
    CheckpointError
        Missing, corrupt or untrusted file; not a musegen checkpoint; another model's
        checkpoint; weights that do not fit the stored config.
    """
    checkpoint = read_checkpoint(path, map_location)
    config = network_config(checkpoint, path)
    target = config.get("net", {}).get("_target_")
    if expect is not None and target != expect:
        raise CheckpointError(f"{path}: checkpoint of model {target!r}, expected {expect!r}")
    try:
        net = NoteNet.from_config(config)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot rebuild its network: {exc}") from None
    state = {
        k[len(STATE_PREFIX) :]: v
        for k, v in checkpoint["state_dict"].items()
        if k.startswith(STATE_PREFIX)
    }
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(
            f"{path}: weights do not match the stored network config ({_first_line(exc)})"
        ) from None
    return net.to(map_location).eval()


def check_compatible(path: str | Path, expected: dict[str, Any]) -> None:
    """Fail early, in one line, when resuming from another model's checkpoint.

    ``expected`` is this run's ``NoteNet.config``. Lightning would otherwise fail deep
    inside ``load_state_dict`` with a page of key names and shapes.
    """
    stored = network_config(read_checkpoint(path), path)
    s_target = stored.get("net", {}).get("_target_")
    e_target = expected.get("net", {}).get("_target_")
    if s_target != e_target:
        raise CheckpointError(
            f"ckpt_path: {path} holds model {s_target!r}, but this run's model is {e_target!r}"
        )
    for key, where in (
        ("net", "model.net"),
        ("encoder", "task.encoder"),
        ("n_tracks", "data.tracks"),
    ):
        if stored.get(key) != expected.get(key):
            raise CheckpointError(
                f"ckpt_path: {path} was trained with {where}={stored.get(key)}, "
                f"this run has {expected.get(key)}"
            )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
