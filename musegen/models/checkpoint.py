"""Load a trained network from a checkpoint safely, without Hydra or Lightning.

Checkpoints are read with ``torch.load(weights_only=True)``: tensors and plain containers
only, so a file from an untrusted source cannot run code while it is unpickled. The network
config sits beside the weights (``NextNoteTask.on_save_checkpoint``), and the backbone class
it names must live in ``musegen.models.backbones`` (``network.resolve_backbone``).
Nothing here imports Lightning (``task.load_task`` builds a task from a checkpoint):
generating from a checkpoint, or refusing a bad one, does not wait the seconds its import
takes.
"""

from __future__ import annotations

import logging
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from musegen.errors import UserError, first_line
from musegen.models.config import CHECKPOINT_KEY, FORMAT, NoteNetConfig
from musegen.models.network import NoteNet

log = logging.getLogger(__name__)

STATE_PREFIX = "net."


class CheckpointError(UserError):
    """A checkpoint cannot be used; the message is one line naming the file and why."""


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """``torch.load`` with ``weights_only=True``, turning every failure into ``CheckpointError``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if not zipfile.is_zipfile(path):  # torch.save has written zip archives since torch 1.6
        with open(path, "rb") as fh:
            if fh.read(4) == b"PK\x03\x04":  # the start of one, cut short
                raise CheckpointError(f"{path}: corrupt or truncated checkpoint (incomplete zip)")
        raise CheckpointError(f"{path}: not a checkpoint file (not a PyTorch zip archive)")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:  # weights_only refused an object, or bad pickle
        raise CheckpointError(
            f"{path}: refused: it holds more than plain weights ({_refusal(exc)}); "
            "musegen loads only checkpoints of tensors and plain values"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: corrupt or truncated checkpoint ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'unreadable'})"
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{path}: not a Lightning checkpoint (no 'state_dict')")
    return checkpoint


def network_config(checkpoint: dict[str, Any], path: str | Path = "checkpoint") -> NoteNetConfig:
    """The network config stored in a checkpoint by ``NextNoteTask``, of any format."""
    entry = checkpoint.get(CHECKPOINT_KEY)
    if not isinstance(entry, dict) or "network" not in entry:
        raise CheckpointError(
            f"{path}: not a musegen NextNoteTask checkpoint (no {CHECKPOINT_KEY!r} entry)"
        )
    if entry.get("format", 0) > FORMAT:
        raise CheckpointError(
            f"{path}: checkpoint format {entry.get('format')} is newer than this musegen "
            f"reads ({FORMAT}); upgrade musegen"
        )
    try:
        return NoteNetConfig.from_dict(entry["network"])
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: cannot read its network config: {exc}") from None


def load_network(
    path: str | Path, map_location: str | torch.device = "cpu", expect: str | None = None
) -> NoteNet:
    """Rebuild the trained ``NoteNet`` of a checkpoint, in eval mode (``network_from``)."""
    return network_from(read_checkpoint(path, map_location), path, map_location, expect)


def network_from(
    checkpoint: dict[str, Any],
    path: str | Path,
    map_location: str | torch.device = "cpu",
    expect: str | None = None,
) -> NoteNet:
    """Rebuild the trained ``NoteNet`` of a read checkpoint (``read_checkpoint``), in eval
    mode.

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
    config = network_config(checkpoint, path)
    target = config.net.get("_target_")
    if expect is not None and target != expect:
        raise CheckpointError(f"{path}: checkpoint of model {target!r}, expected {expect!r}")
    try:
        net = NoteNet(config)
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
            f"{path}: weights do not match the stored network config ({first_line(exc)})"
        ) from None
    bad = next(
        (k for k, v in state.items() if v.is_floating_point() and not v.isfinite().all()), None
    )
    if bad is not None:
        raise CheckpointError(
            f"{path}: weights are not finite (NaN or infinite in {bad}): the run diverged; "
            "use an earlier checkpoint of it"
        )
    return net.to(map_location).eval()


def check_compatible(
    path: str | Path,
    expected: NoteNetConfig,
    key: str = "ckpt_path",
    stored: NoteNetConfig | None = None,
) -> None:
    """Fail early, in one line naming the difference, when resuming (``ckpt_path``) or
    fine-tuning (``init_from``) from a checkpoint of another network: another backbone or
    size, encoder, timing or class vocabulary, heads, tracks or velocity classes.

    ``expected`` is this run's ``NoteNet.config``; ``stored`` the checkpoint's when it is
    read already. Lightning would otherwise fail deep inside ``load_state_dict`` with a page
    of key names and shapes.
    """
    stored = stored or network_config(read_checkpoint(path), path)
    s_target, e_target = stored.net.get("_target_"), expected.net.get("_target_")
    if s_target != e_target:
        raise CheckpointError(
            f"{key}: {path} holds model {s_target!r}, but this run's model is {e_target!r}"
        )
    for name, where in (
        ("net", "model.net"),
        ("encoder", "task.encoder"),
        ("timing", "task.timing"),
        ("heads", "task.heads"),
        ("track_names", "data.tracks"),
        ("n_tracks", "data.tracks"),
        ("velocity", "task.velocity_classes"),
    ):
        if name == "track_names" and stored.track_names is None:  # written before names
            continue
        mine, theirs = _as_written(getattr(stored, name)), _as_written(getattr(expected, name))
        if mine != theirs:
            where, mine, theirs = _first_difference(where, mine, theirs)
            raise CheckpointError(
                f"{key}: {path} was trained with {where}={_show(mine)}, "
                f"this run has {_show(theirs)}"
            )


def _first_difference(where: str, mine: Any, theirs: Any) -> tuple[str, Any, Any]:
    """The first key at which two config parts differ, and its two values: a whole network
    config would not fit one line."""
    while isinstance(mine, dict) and isinstance(theirs, dict):
        keys = sorted(set(mine) | set(theirs), key=str)
        key = next(k for k in keys if mine.get(k) != theirs.get(k))
        where, mine, theirs = f"{where}.{key}", mine.get(key), theirs.get(key)
    return where, mine, theirs


def _as_written(value: Any) -> Any:
    """A config part as the user wrote it: a sub-config as its dict."""
    return value.to_dict() if hasattr(value, "to_dict") else value


def _show(value: Any) -> str:
    """A config value as a user writes it on the command line (``[Drums, Piano]``)."""
    if isinstance(value, list | tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def _refusal(exc: BaseException) -> str:
    """What weights-only loading refused, without torch's advice to load the file unsafely
    (which musegen never gives)."""
    advice = ("weights_only", "Weights only", "documentation", "file an issue", "WeightsUnpickler")
    lines = [ln.strip() for ln in str(exc).splitlines()]
    detail = [ln for ln in lines if ln and not any(a in ln for a in advice)]
    return detail[0].rstrip(".") if detail else "an object weights-only loading does not allow"


def tested_checkpoint(trainer: Any, trained: bool, ckpt_path: str | None) -> str | None:
    """Which weights a run tests: after training, the best checkpoint by the monitored
    metric (``None``, the final weights, when no checkpoint callback kept one); without
    training, the checkpoint given."""
    if not trained:
        return ckpt_path
    best = getattr(trainer.checkpoint_callback, "best_model_path", "") or ""
    if not best:
        log.warning("no checkpoint callback kept a best checkpoint: testing the final weights")
    return best or None


def __getattr__(name: str) -> Any:
    """``AtomicCheckpointIO`` under its old name, which the configs of earlier runs name as
    their checkpoint plugin (``musegen.models.checkpoint_io`` holds it now)."""
    if name == "AtomicCheckpointIO":
        from musegen.models.checkpoint_io import AtomicCheckpointIO

        return AtomicCheckpointIO
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
