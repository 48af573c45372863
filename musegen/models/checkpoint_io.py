"""The checkpoint writer of training runs (``trainer.plugins``), kept apart from
``checkpoint``, which reads checkpoints without importing Lightning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins import TorchCheckpointIO

from musegen.atomic import atomic_path, clean_stale


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, made atomic on a local disk (``musegen.atomic``).

    Lightning's own ``_atomic_save`` stages the file in the system temporary folder and
    copies it across when that is another file system, and a killed run leaves the staged
    file behind. Here the checkpoint is written beside its final name and renamed into
    place; temporaries of killed runs in the same folder are removed before the first save.
    Remote paths (``s3://``, ...) go to Lightning's writer unchanged.
    """

    def __init__(self) -> None:
        super().__init__()
        self._cleaned: set[Path] = set()

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None or "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        path = Path(path)
        if path.parent not in self._cleaned:
            clean_stale(path.parent)
            self._cleaned.add(path.parent)
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)
