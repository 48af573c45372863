"""A trained run, found from its checkpoint: the network and the data it was trained on.

``musegen.train`` leaves ``<run>/checkpoints/*.ckpt`` beside ``<run>/.hydra/config.yaml``.
The checkpoint carries the network's config (so the net is rebuilt without Hydra); the run's
config says which data, tracks and window the model saw, which primers and evaluation need.

A run folder may come from someone else (a download, a shared drive), so its config is data,
never code: only the ``data`` section is read, as plain values, checked against
``NoteDataModule``'s parameters, and no ``_target_`` in it is ever called.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from musegen.checks import integer
from musegen.config_checks import CONFIG_DIR, check_overrides
from musegen.data.performance import Performance
from musegen.data.tracks import LPD5_TRACKS
from musegen.errors import UserError, first_line, reported
from musegen.generation.notes import model_track_ids
from musegen.models.checkpoint import CheckpointError, network_from, read_checkpoint
from musegen.models.config import stored_performance

if TYPE_CHECKING:
    from musegen.data.datamodule import NoteDataModule

DATAMODULE_TARGET = "musegen.data.datamodule.NoteDataModule"
TUTORIAL_WINDOW = 25
"""The notes TensorFlow's tutorial reads before each prediction: the primer of a checkpoint
that stores neither its run's window nor its own context."""


@functools.cache
def data_keys() -> frozenset[str]:
    """The keys a run's ``data`` section may hold: ``NoteDataModule``'s parameters (its
    module imports Lightning, so only a run whose data is read imports it)."""
    from musegen.data.datamodule import NoteDataModule

    return frozenset(inspect.signature(NoteDataModule).parameters)


GIVE_DATA = "data.source=<bach|lpd5|midi> (and data.root=<folder> for lpd5 and midi)"
NO_RUN_DATA = {
    "generate": f"use primer=none or primer=<file.mid>, or give the data to prime from: "
    f"{GIVE_DATA}",
    "evaluate": f"give the data to score it on: {GIVE_DATA}; data.split=test makes every song "
    "of the folder a test song",
}
"""What to do, per command, when a checkpoint comes without its run config."""


class RunError(UserError):
    """A checkpoint's run cannot provide what was asked (one line: what and what to do)."""


def _is_plain(value: Any) -> bool:
    """A scalar, or a list of scalars: what a data setting can be (never a dict to call)."""
    scalar = (str, int, float, bool, type(None))
    if isinstance(value, list):
        return all(isinstance(v, scalar) for v in value)
    return isinstance(value, scalar)


@dataclass
class TrainedRun:
    """A loaded checkpoint and, when found, its run's config."""

    ckpt_path: Path
    net: Any  # NoteNet, in eval mode
    track_ids: list[int]  # LPD-5 ids of the model's tracks, in the model's order
    config: DictConfig | None  # the run's .hydra/config.yaml (unresolved), if present
    performance: Performance  # the training songs' tempo and velocities, or the defaults

    @property
    def run_dir(self) -> Path:
        return self.ckpt_path.resolve().parent.parent

    @property
    def config_file(self) -> Path:
        return config_file(self.ckpt_path)

    @property
    def seq_len(self) -> int:
        """The training window: the run's ``data.seq_len``, else the one the checkpoint
        stores (its trained context), else the tutorial's (``TUTORIAL_WINDOW``)."""
        value = OmegaConf.select(self.config, "data.seq_len") if self.config else None
        if value is None:
            return self.net.config.context or TUTORIAL_WINDOW
        if not integer(1)(value):
            raise RunError(f"{self.config_file}: data.seq_len is {value!r}, not an integer >= 1")
        return value

    @property
    def model_name(self) -> str:
        name = OmegaConf.select(self.config, "model.name") if self.config else None
        if isinstance(name, str) and name:
            return name
        target = str(self.net.config.net.get("_target_", "model"))
        return target.rsplit(".", 1)[-1]

    @property
    def _source(self) -> str:
        """Where the data settings come from, as errors name it."""
        return str(self.config_file) if self.config is not None else "data.<key>= overrides"

    def data_config(
        self, paths: DictConfig | dict, overrides: dict | None = None, command: str = "generate"
    ) -> dict:
        """The run's data settings as plain values, with this session's ``paths`` (data_dir)
        and ``overrides`` applied.

        A checkpoint without its run config has no data settings of its own: then the
        overrides are the data, with ``data.source`` required and the model's tracks and
        window (from the checkpoint) as defaults. ``command`` (``generate``, ``evaluate``)
        picks the advice when neither is there.

        Raises
        ------
        RunError
            No run config and no ``data.source``; a ``_target_`` other than musegen's
            datamodule; a key that is not a data setting; a value that is not plain (a
            dict, which Hydra could call).
        """
        if self.config is not None and "data" not in self.config:
            raise RunError(
                f"{self.config_file}: holds no data section (cut short?); restore the run's "
                "config or give the data with data.<key>= overrides"
            )
        run_data = (
            self.config.data
            if self.config is not None
            else self._data_without_run(overrides or {}, command)
        )
        try:
            merged = OmegaConf.merge(
                {"paths": paths}, {"data": run_data}, {"data": overrides or {}}
            )
            data = OmegaConf.to_container(merged.data, resolve=True)
        except OmegaConfBaseException as exc:
            raise RunError(f"{self._source}: data cannot be read ({first_line(exc)})") from None
        target = data.pop("_target_", DATAMODULE_TARGET)
        if target != DATAMODULE_TARGET:
            raise RunError(
                f"{self._source}: data._target_ is {target!r}, not musegen's "
                f"{DATAMODULE_TARGET}; refusing to call it"
            )
        for key, value in data.items():
            if key not in data_keys():
                raise RunError(f"{self._source}: data.{key} is not a data setting")
            if not _is_plain(value):
                raise RunError(
                    f"{self._source}: data.{key} is not a plain value; refusing to use it"
                )
        data["progress"] = False
        return data

    def _data_without_run(self, overrides: dict, command: str) -> dict:
        """The data of a checkpoint without its run config: the model's tracks and window,
        the session's data folder; ``data.source`` (and its ``data.root``) must be given."""
        if "source" not in overrides:
            what = NO_RUN_DATA.get(command, NO_RUN_DATA["evaluate"])
            raise RunError(
                f"{self.run_dir}: no .hydra/config.yaml beside "
                f"checkpoints/, so the training data is unknown; {what}"
            )
        return {
            "tracks": [LPD5_TRACKS[t] for t in self.track_ids],
            "seq_len": self.seq_len,
            "data_dir": "${paths.data_dir}",
        }

    def datamodule(
        self, paths: DictConfig | dict, overrides: dict | None = None, command: str = "generate"
    ) -> NoteDataModule:
        """The run's ``NoteDataModule`` (see ``data_config``), built from plain values."""
        from musegen.data.datamodule import NoteDataModule

        try:
            return NoteDataModule(**self.data_config(paths, overrides, command))
        except UserError:
            raise
        except (TypeError, ValueError) as exc:
            raise RunError(f"{self._source}: {first_line(exc)}") from None


def check_device(device: str) -> str:
    """``device=`` as torch names it, and there: a missing GPU is one line, before anything
    is loaded (torch would otherwise fail deep in unpickling the checkpoint)."""
    try:
        kind = torch.device(device).type
    except (RuntimeError, ValueError, TypeError):
        raise RunError(f"device={device}: not a device torch knows; use cpu or cuda") from None
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
    }.get(kind, False)
    if not available:
        raise RunError(
            f"device={device}: no {kind.upper()} device on this machine "
            f"(torch {torch.__version__}); use device=cpu"
        )
    return device


def config_file(ckpt: Path) -> Path:
    """Where a checkpoint's run config is: ``<run>/.hydra/config.yaml`` beside
    ``<run>/checkpoints/``, or a shipped model's ``<name>.yaml`` beside it."""
    from musegen.pretrained import FOLDER

    ckpt = ckpt.resolve()
    if ckpt.parent == FOLDER:
        return ckpt.with_suffix(".yaml")
    return ckpt.parent.parent / ".hydra" / "config.yaml"


def load_run(ckpt_path: str | Path | None, device: str = "cpu") -> TrainedRun:
    """Load ``ckpt_path`` (weights only; ``pretrained:<name>`` for a model that ships with
    the package) and its run's config, with one-line errors."""
    from musegen.pretrained import resolve

    check_device(device)
    if ckpt_path is None or str(ckpt_path) in ("", "None", "???"):
        raise CheckpointError("ckpt_path is not set: ckpt_path=<run>/checkpoints/last.ckpt")
    path = resolve(ckpt_path)
    checkpoint = read_checkpoint(path, map_location=device)
    net = network_from(checkpoint, path, map_location=device)
    performance = Performance.from_dict(stored_performance(checkpoint))
    found = config_file(path)
    config = None
    if found.exists():
        try:
            config = OmegaConf.load(found)
        except (OmegaConfBaseException, OSError, ValueError, yaml.YAMLError) as exc:
            raise RunError(
                f"{found}: not a readable run config ({first_line(exc)}); "
                "give data.<key>= overrides or restore the run's config"
            ) from None
        if not isinstance(config, DictConfig):
            raise RunError(f"{found}: not a run config (not a mapping)")
    return TrainedRun(path, net, model_track_ids(net.config.track_names), config, performance)


def data_overrides(cfg: DictConfig) -> dict:
    """The ``data:`` node of a generate/evaluate config as a plain dict (``{}`` when empty)."""
    node = cfg.get("data")
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else {}


def main_with_data_overrides(config_name: str, hydra_main: Callable[[], None]) -> None:
    """The entry point of generate/evaluate: ``data.<key>=`` arguments become overrides of
    the run's data config, bad overrides are one line, and ``hydra_main`` runs the rest."""
    with reported():
        sys.argv[1:] = data_override_args(sys.argv[1:])
        check_overrides(sys.argv[1:], CONFIG_DIR, config_name)
        hydra_main()


def data_override_args(args: list[str]) -> list[str]:
    """Command-line ``data.<key>=<value>`` as ``++data.<key>=<value>``.

    ``data:`` of generate/evaluate starts empty (it overrides the run's own data config), so
    Hydra would refuse ``data.root=...`` as an unknown key; unknown data keys are reported by
    ``TrainedRun.data_config`` instead.
    """
    return [f"++{a}" if a.startswith("data.") and "=" in a else a for a in args]
