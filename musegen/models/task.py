"""The one LightningModule for next-note prediction, shared by every backbone and head design.

Batches are dicts of ``(B, seq_len + 1)`` tensors (``musegen.data.windows``); the objective of
a batch (teacher forcing, which positions are scored, the losses) is ``models.objective``'s,
which the training benchmark shares. Two training targets:

* ``target="last"``: TensorFlow's tutorial's, whose losses the paper reports; only the note
  after each window is predicted;
* ``target="all"``: teacher forcing at every position, so each forward pass learns from
  ``seq_len`` predictions instead of one.

Validation and test score what the datamodule's pass marks (``data.test_pass``): every note
of every song once (the song pass), or the note after each window (the tutorial's).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf
from torchmetrics import Metric

from musegen.checks import ConfigError, at_least, check, integer, number, one_of, optional
from musegen.errors import UserError, first_line
from musegen.models.checkpoint import CheckpointError, network_config, read_checkpoint
from musegen.models.config import (
    CHECKPOINT_KEY,
    DEFAULT_ORDER,
    MIN_CONTEXT,
    TIMINGS,
    HeadsConfig,
    NoteNetConfig,
    TimingConfig,
    stored_performance,
)
from musegen.models.losses import LossWeights
from musegen.models.network import NoteNet
from musegen.models.objective import (
    TARGETS,
    batch_losses,
    hidden_states,
    score,
    stream_losses,
    teacher_forcing,
)
from musegen.models.optim import ADAM, checked, describe
from musegen.models.sizing import size_for_budget
from musegen.models.time_classes import TimeClasses, split_coverage
from musegen.models.velocity_classes import VelocityClasses

log = logging.getLogger(__name__)

__all__ = ["CHECKPOINT_KEY", "NextNoteTask", "NonFiniteLoss", "StageMetrics", "teacher_forcing"]

METRICS = (
    "loss",
    "pitch_loss",
    "step_loss",
    "duration_loss",
    "track_loss",
    "pitch_acc",
    "step_acc",
    "duration_acc",
)
INTERVALS = ("epoch", "step")
"""When Lightning steps a scheduler (``task.scheduler_interval``)."""


def weights_for(loss_weights: Mapping[str, Any] | None, timing: str) -> LossWeights:
    """The loss weights of ``timing``: ``loss_weights[timing]`` when given per timing, else
    ``loss_weights`` itself (one mapping, as older checkpoints store it)."""
    weights = dict(loss_weights or {})
    if any(key in TIMINGS for key in weights):
        return LossWeights.from_mapping(weights.get(timing), f"task.loss_weights.{timing}")
    return LossWeights.from_mapping(weights)


def _containers(value: Any) -> Any:
    """OmegaConf containers -> dicts and lists, so checkpoints load with ``weights_only``."""
    if isinstance(value, DictConfig | ListConfig):
        return OmegaConf.to_container(value, resolve=True)
    return value


class NonFiniteLoss(UserError):
    """Training diverged: a loss (or an optimizer step) is NaN or infinite. Raised at once,
    so that no later step changes the weights and no checkpoint keeps them as the best."""

    def __init__(self, what: str, value: float, step: int) -> None:
        super().__init__(
            f"training stopped at step {step}: {what} is {value}; try a lower "
            "task.optimizer.lr, gradient clipping (trainer.gradient_clip_val=1.0), or "
            "resume from an earlier checkpoint"
        )
        self.what, self.value, self.step = what, value, step


class StageMetrics(Metric):
    """Means over an epoch of one stage's losses and pitch accuracy, weighted by targets.

    One summed vector rather than one metric object per value: a training step updates it
    once (a tenth of the cost of six ``MeanMetric`` updates). Sums are reduced across
    processes under DDP. Perplexity is ``exp`` of the epoch's mean pitch cross-entropy,
    not a mean of per-batch perplexities.
    """

    full_state_update = False

    def __init__(self, names: tuple[str, ...] = METRICS) -> None:
        super().__init__()
        self.names = tuple(names)
        self.add_state("sums", default=torch.zeros(len(self.names)), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros(()), dist_reduce_fx="sum")

    def update(self, values: Mapping[str, torch.Tensor], weight: int) -> None:
        stacked = torch.stack([values[name].detach() for name in self.names])  # (n_metrics,)
        self.sums += stacked.to(self.sums.dtype) * weight
        self.count += weight

    def compute(self) -> dict[str, torch.Tensor]:
        means = self.sums / self.count  # (n_metrics,); NaN for a stage that saw no batch
        out = dict(zip(self.names, means.unbind(), strict=True))
        out["pitch_ppl"] = out["pitch_loss"].exp()
        return out


class NextNoteTask(L.LightningModule):
    """Train any backbone to predict the next note's pitch, step, duration (and track).

    Parameters
    ----------
    net : mapping
        Backbone config (``_target_`` + kwargs), from ``conf/model/<name>.yaml``.
    n_tracks, track_names
        The modelled tracks, from the datamodule.
    encoder : mapping
        ``NoteEncoder`` sizes.
    target : {"all", "last"}
        Which positions train (see the module docstring).
    timing : {"regression", "categorical"}
        The regression heads of TensorFlow's tutorial (the paper's losses) for step and
        duration, or classes on the time grid (``models.heads``, ``models.time_classes``).
    time_classes : mapping, optional
        The class set of ``categorical`` (``TimeClasses`` fields).
    heads : {"independent", "chained"}
        How a note's fields are predicted (``models.heads``): each from the hidden state
        alone, or in ``head_order``, each reading the fields before it.
    head_order, head_width
        The chained heads' field order and width (0: the backbone's hidden size).
    context : int, optional
        The notes of a training window (``data.seq_len``): with ``target="all"`` generation
        keeps to it; with ``"last"`` it carries the state (see where it is stored).
    velocity_classes : int
        Velocity as a field of that many classes (``models.velocity_classes``; categorical
        timing), predicted last; 0: not modelled (the tutorial's).
    velocity : mapping, optional
        The fitted classes (``VelocityClasses.to_dict``): ``instantiate.task`` fits them on
        the training notes; without them, ``velocity_classes`` equal-width classes.
    velocity_head : str
        How the velocity head learns (``models.config.VELOCITY_HEADS``): ``readout`` (the
        default) reads the state, ``shared`` trains it like the other fields.
    velocity_grad : float
        The share of the readout's gradient that reaches the backbone's state (0: none).
    loss_weights : mapping
        Weights of the pitch / step / duration / track losses; either one mapping, or one per
        timing (``{"regression": {...}, "categorical": {...}}``), of which ``timing``'s is used.
    positive_pressure : float
        Factor of the ``max(-yhat, 0)`` term on regressed step and duration (TF tutorial: 10).
    optimizer : ``_partial_: true`` node or callable
        Makes the optimizer from the parameters (``models.optim``); default Adam, lr 1e-3.
    scheduler : ``_partial_: true`` node or callable, optional
        Makes a ``torch.optim.lr_scheduler`` from the optimizer. ``T_max: null`` (cosine)
        means the whole run, stepped every optimizer step.
    scheduler_interval, scheduler_monitor
        When Lightning steps the scheduler (``epoch`` or ``step``), and the metric a
        ``ReduceLROnPlateau`` watches.
    param_budget : int, optional
        Set the backbone's ``hidden_size`` so the network has about this many parameters.
    network : mapping, optional
        A stored ``NoteNetConfig`` (``load_task``): the network is built from it as
        it is, and the network keys above are not read.

    ``save_hyperparameters`` stores plain values only (the factories as their description):
    the checkpoint stays loadable with ``weights_only=True``.
    """

    def __init__(
        self,
        net: Mapping[str, Any],
        n_tracks: int = 1,
        track_names: list[str] | None = None,
        encoder: Mapping[str, Any] | None = None,
        target: str = "last",
        timing: str = "regression",
        time_classes: Mapping[str, int] | None = None,
        heads: str = "independent",
        head_order: list[str] | tuple[str, ...] = DEFAULT_ORDER,
        head_width: int = 0,
        context: int | None = None,
        velocity_classes: int = 0,
        velocity: Mapping[str, Any] | None = None,
        velocity_head: str = "readout",
        velocity_grad: float = 0.0,
        loss_weights: Mapping[str, Any] | None = None,
        positive_pressure: float = 10.0,
        optimizer: Any = None,
        scheduler: Any = None,
        scheduler_interval: str = "epoch",
        scheduler_monitor: str = "val/loss",
        param_budget: int | None = None,
        network: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        net, encoder, track_names = _containers(net), _containers(encoder), _containers(track_names)
        loss_weights, time_classes = _containers(loss_weights), _containers(time_classes)
        check(target, "task.target", one_of(TARGETS), " or ".join(TARGETS))
        check(positive_pressure, "task.positive_pressure", number(0.0), "a number >= 0")
        check(param_budget, "task.param_budget", optional(integer(1)), "an integer >= 1 or null")
        at_least(velocity_classes, "task.velocity_classes", 0)
        check(scheduler_interval, "task.scheduler_interval", one_of(INTERVALS), "epoch or step")
        if target == "all":  # the window is the context generation keeps to
            check(
                context,
                "data.seq_len (with task.target=all, the context generation keeps to)",
                optional(integer(MIN_CONTEXT)),
                f"an integer >= {MIN_CONTEXT}",
            )
        self.make_optimizer = checked(optimizer, "task.optimizer") or ADAM
        self.make_scheduler = checked(scheduler, "task.scheduler")
        # what save_hyperparameters stores: the factories as plain descriptions
        optimizer, scheduler = describe(self.make_optimizer), describe(self.make_scheduler)
        self.save_hyperparameters(logger=False, ignore=["network"])
        if network is not None:  # a stored network (load_task): used as it is
            config = NoteNetConfig.from_dict(network)
        else:
            classes = VelocityClasses.from_dict(_containers(velocity))
            if velocity_classes and classes is None:
                classes = VelocityClasses.uniform(velocity_classes)
            config = NoteNetConfig(
                net=net,
                n_tracks=n_tracks,
                track_names=track_names,
                encoder=encoder or {},
                timing=TimingConfig(timing, TimeClasses.from_config(time_classes))
                if timing == "categorical"
                else TimingConfig(timing),
                heads=HeadsConfig(
                    heads,
                    tuple(_containers(head_order)),
                    head_width,
                    velocity_head,
                    velocity_grad,
                ),
                # target=last trains every prediction after exactly seq_len notes: re-reading
                # half a window would show generation fewer notes than training did, so such
                # a network carries its state (measured: experiments/README.md, "Note model")
                context=context if target == "all" else None,
                velocity=classes if velocity_classes else None,
            )
            if param_budget:
                config = size_for_budget(config, int(param_budget))
        self.net = NoteNet(config)
        self.target = target
        self.timing = config.timing.kind
        self.weights = weights_for(loss_weights, self.timing)
        self.pressure = float(positive_pressure)
        self._carried: Any = None  # the state the last stream batch left (data.stream)
        # One metric object per stage: sharing one would mix train and val batches.
        names = METRICS + (("note_nll",) if self.net.categorical else ())
        names += ("velocity_loss",) if config.velocity is not None else ()
        self.train_metrics = StageMetrics(names)
        self.val_metrics = StageMetrics(names)
        self.test_metrics = StageMetrics(names)
        self.val_allpos = StageMetrics(names)
        # How the training songs are played (``data.performance``, as plain values): set from
        # the datamodule when training starts, restored from a checkpoint, stored in each.
        self.performance: dict[str, Any] | None = None

    def num_parameters(self) -> int:
        return self.net.num_parameters()

    # ---- data the classes must cover -----------------------------------------------------
    def on_fit_start(self) -> None:
        """Count the training notes whose step or duration is not a class value (mapped to
        the nearest class) or lies past the last class; log them with the data summary."""
        datamodule = self.trainer.datamodule
        if hasattr(datamodule, "performance"):  # stored with the weights (on_save_checkpoint)
            self.performance = datamodule.performance().to_dict()
        splits = getattr(datamodule, "splits", {})
        if not self.net.categorical or "train" not in splits:
            return
        self.timing_coverage = split_coverage(self.net.tables.classes, splits["train"].columns)
        log.info("timing classes on the training notes: %s", self.timing_coverage)

    def on_train_start(self) -> None:
        """Refuse a validation schedule that never comes: without validation no checkpoint is
        kept, and the run would end with nothing to test (one line instead)."""
        trainer = self.trainer
        every, per_epoch = trainer.val_check_interval, trainer.check_val_every_n_epoch
        if per_epoch is not None or not isinstance(every, int) or not trainer.limit_val_batches:
            return
        total = trainer.max_steps if trainer.max_steps > 0 else None
        if total is None and trainer.max_epochs is not None and trainer.max_epochs > 0:
            total = trainer.max_epochs * trainer.num_training_batches
        if total is not None and math.isfinite(total) and every > total:
            raise ConfigError(
                f"trainer.val_check_interval={every} is more than the {int(total)} training "
                "batches of this run: it would never validate nor keep a checkpoint; lower it"
            )

    def run_metrics(self) -> dict[str, float]:
        """For metrics.json: how well the timing classes cover the training notes."""
        return {f"data/{k}": v for k, v in getattr(self, "timing_coverage", {}).items()}

    def forward(self, notes: Mapping[str, torch.Tensor], state: Any = None) -> Any:
        return self.net.hidden(notes, state)

    # ---- steps -------------------------------------------------------------------------
    def _losses(
        self, batch: Mapping[str, torch.Tensor], target: str
    ) -> tuple[dict[str, torch.Tensor], int]:
        return batch_losses(self.net, batch, target, self.weights, self.pressure)

    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        if "reset" in batch:  # streams (data.stream): the state goes on from the last batch
            losses, n, self._carried = stream_losses(
                self.net, batch, self._carried, self.target, self.weights, self.pressure
            )
        else:
            losses, n = self._losses(batch, self.target)
        if not torch.isfinite(losses["loss"].detach()):  # before it reaches the weights
            raise NonFiniteLoss(
                "the training loss", float(losses["loss"].detach()), self.global_step
            )
        self.train_metrics.update(losses, n)
        # Only on the steps the loggers write (a `self.log` costs ~0.3 ms on a CPU).
        if (self.global_step + 1) % max(self.trainer.log_every_n_steps, 1) == 0:
            # sync_dist: under DDP, the mean over ranks (the global batch's loss); a no-op else
            self.log("train/loss_step", losses["loss"], prog_bar=True, batch_size=n, sync_dist=True)
        return losses["loss"]

    def _eval_step(self, batch: Mapping[str, torch.Tensor], metrics: StageMetrics) -> None:
        h, targets = hidden_states(self.net, batch)  # one backbone pass, scored twice
        args = (self.weights, self.pressure)
        # the song pass's mask, else the tutorial's last note
        metrics.update(*score(self.net, h, targets, batch, "last", *args))
        if metrics is self.val_metrics and "score" not in batch:  # every window position too
            self.val_allpos.update(*score(self.net, h, targets, batch, "all", *args))

    def validation_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, self.val_metrics)

    def test_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, self.test_metrics)

    # ---- epoch ends ------------------------------------------------------------------
    def _log_stage(self, stage: str, metrics: StageMetrics, prog_bar: tuple[str, ...] = ()) -> None:
        for name, value in metrics.compute().items():
            self.log(f"{stage}/{name}", value, prog_bar=name in prog_bar)
        metrics.reset()

    def on_train_epoch_end(self) -> None:
        self._log_stage("train", self.train_metrics)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:  # a couple of batches: not worth recording
            self.val_metrics.reset()
            self.val_allpos.reset()
            return
        if self.val_metrics.count > 0:  # before a checkpoint callback can keep these weights
            loss = float(self.val_metrics.compute()["loss"])
            if not math.isfinite(loss):
                raise NonFiniteLoss("the validation loss", loss, self.global_step)
        self._log_stage("val", self.val_metrics, prog_bar=("loss", "pitch_loss"))
        if self.val_allpos.count > 0:  # the window pass only: every position of each window
            values = self.val_allpos.compute()
            self.log("val/loss_allpos", values["loss"])
            self.log("val/pitch_loss_allpos", values["pitch_loss"])
        self.val_allpos.reset()

    def on_test_epoch_end(self) -> None:
        self._log_stage("test", self.test_metrics)

    # ---- optimisation ----------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        optimizer = self.make_optimizer(self.parameters())
        if self.make_scheduler is None:
            return optimizer
        extra, interval = {}, self.hparams.scheduler_interval
        keywords = getattr(self.make_scheduler, "keywords", {})
        if "T_max" in keywords and keywords["T_max"] is None:  # the whole run
            total = self.trainer.estimated_stepping_batches
            if not math.isfinite(total):
                raise ValueError(
                    "task.scheduler.T_max=null needs a finite run (trainer.max_steps "
                    "or max_epochs), not only trainer.max_time"
                )
            extra["T_max"], interval = int(total), "step"
        scheduler = self.make_scheduler(optimizer, **extra)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {
                "scheduler": scheduler,
                "interval": interval,
                "monitor": self.hparams.scheduler_monitor,
            },
        }

    # ---- checkpoints -----------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The network's own config (after param_budget sizing) beside the weights, so that
        # checkpoint.load_network rebuilds it without Hydra or Lightning.
        network = self.net.config.to_dict()
        checkpoint[CHECKPOINT_KEY] = {
            "format": network["format"],
            "network": network,
            "n_params": self.num_parameters(),
        }
        if self.performance is not None:  # how the training songs are played (plain values)
            checkpoint[CHECKPOINT_KEY]["performance"] = self.performance

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.performance = stored_performance(checkpoint)


TASK_SETTINGS = ("target", "loss_weights", "positive_pressure")
"""What a task needs besides its network to score a checkpoint: the loss and its targets.
The optimizer and scheduler are left out (nothing is trained, nothing named in the file is
called)."""


def load_task(path: str | Path, map_location: str | torch.device = "cpu") -> NextNoteTask:
    """The ``NextNoteTask`` of a checkpoint, weights loaded, ready for ``Trainer.test``.

    Built from the checkpoint alone (its network config and loss settings, loaded
    weights-only), never from a run folder's config, which may come from anyone.
    """
    checkpoint = read_checkpoint(path, map_location)
    network = network_config(checkpoint, path)
    hparams = checkpoint.get("hyper_parameters") or {}
    settings = {k: hparams[k] for k in TASK_SETTINGS if k in hparams}
    try:
        task = NextNoteTask(net=network.net, network=network.to_dict(), **settings)
        task.load_state_dict(checkpoint["state_dict"])
    except (TypeError, ValueError, RuntimeError, KeyError) as exc:
        raise CheckpointError(f"{path}: cannot rebuild its task ({first_line(exc)})") from None
    task.performance = stored_performance(checkpoint)
    return task.to(map_location).eval()
