"""A trained run, found from its checkpoint: the network and the data it was trained on.

``musegen.train`` leaves ``<run>/checkpoints/*.ckpt`` beside ``<run>/.hydra/config.yaml``.
The checkpoint carries the network's config (so the net is rebuilt without Hydra); the run's
config says which data, tracks and window the model saw, which primers and evaluation need.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from musegen.data.datamodule import NoteDataModule
from musegen.generation.notes import model_track_ids
from musegen.models.checkpoint import CheckpointError, load_network


class RunError(ValueError):
    """A checkpoint's run cannot provide what was asked (one line: what and what to do)."""


@dataclass
class TrainedRun:
    """A loaded checkpoint and, when found, its run's config."""

    ckpt_path: Path
    net: Any  # NoteNet, in eval mode
    track_ids: list[int]  # LPD-5 ids of the model's tracks, in the model's order
    config: DictConfig | None  # the run's .hydra/config.yaml (unresolved), if present

    @property
    def run_dir(self) -> Path:
        return self.ckpt_path.resolve().parent.parent

    @property
    def seq_len(self) -> int:
        if self.config is not None and "data" in self.config:
            return int(self.config.data.seq_len)
        return 25

    @property
    def model_name(self) -> str:
        if self.config is not None and "model" in self.config:
            return str(self.config.model.get("name", "model"))
        target = str(self.net.config["net"].get("_target_", "model"))
        return target.rsplit(".", 1)[-1]

    def datamodule(self, paths: DictConfig | dict, overrides: dict | None = None) -> NoteDataModule:
        """The run's ``NoteDataModule``, with this session's ``paths`` (data_dir)."""
        if self.config is None or "data" not in self.config:
            raise RunError(
                f"{self.run_dir}: no .hydra/config.yaml beside checkpoints/, so the training "
                "data is unknown; use primer=none or primer=<file.mid>"
            )
        import hydra

        merged = OmegaConf.merge(
            {"paths": paths}, {"data": self.config.data}, {"data": overrides or {}}
        )
        data = OmegaConf.to_container(merged.data, resolve=True)
        data["progress"] = False
        return hydra.utils.instantiate(data, _convert_="all")


def load_run(ckpt_path: str | Path | None, device: str = "cpu") -> TrainedRun:
    """Load ``ckpt_path`` (weights only) and its run's config, with one-line errors."""
    if ckpt_path is None or str(ckpt_path) in ("", "None", "???"):
        raise CheckpointError("ckpt_path is not set: ckpt_path=<run>/checkpoints/last.ckpt")
    path = Path(str(ckpt_path)).expanduser()
    net = load_network(path, map_location=device)
    config_file = path.resolve().parent.parent / ".hydra" / "config.yaml"
    config = OmegaConf.load(config_file) if config_file.exists() else None
    return TrainedRun(path, net, model_track_ids(net.config.get("track_names")), config)


def data_overrides(cfg: DictConfig) -> dict:
    """The ``data:`` node of a generate/evaluate config as a plain dict (``{}`` when empty)."""
    node = cfg.get("data")
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else {}
