"""A finished run as a model that ships with the package, and the check its card records.

The shipped checkpoint keeps what generation, evaluation and fine-tuning read: the network's
weights (floating point ones in half precision: an 800k-parameter network is then 1.6 MB),
its config and stored performance (``musegen`` entry), and the loss settings a test pass
needs; no optimizer state. Its card records the run's own figures (trained in full
precision) and ``check``: the note NLL of the shipped weights on a few named songs, which
``note_nll`` recomputes exactly (the tests do).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import yaml
from omegaconf import OmegaConf

from musegen.atomic import atomic_path, write_bytes_atomic, write_json_atomic
from musegen.checks import ConfigError
from musegen.generation.sampling import Sampling
from musegen.models.checkpoint import read_checkpoint
from musegen.models.task import TASK_SETTINGS, load_task
from musegen.pretrained import FOLDER

HALF = torch.float16
RUN_KEYS = ("data", "model", "task", "sampling", "evaluate", "seed")
"""The parts of a run's config a shipped model keeps (``<name>.yaml``)."""


def small_checkpoint(path: Path) -> dict[str, Any]:
    """The parts of a training checkpoint a shipped model keeps (module docstring)."""
    full = read_checkpoint(path)
    hparams = full.get("hyper_parameters") or {}
    return {
        "state_dict": {
            k: v.to(HALF) if v.is_floating_point() else v for k, v in full["state_dict"].items()
        },
        "musegen": full["musegen"],
        "hyper_parameters": {k: hparams[k] for k in TASK_SETTINGS if k in hparams},
        "pytorch-lightning_version": full.get("pytorch-lightning_version"),
        "epoch": 0,
        "global_step": 0,
    }


def note_nll(ckpt: str | Path, files: Sequence[str | Path]) -> float:
    """The test note NLL of ``ckpt`` on the MIDI ``files``, all of them test songs, scored
    as training's test pass scores (the song pass), on one thread."""
    import lightning as L

    from musegen.data.datamodule import NoteDataModule
    from musegen.data.lpd_io import write_lpd_npz
    from musegen.data.midi_to_lpd import midi_to_song
    from musegen.generation.runs import load_run

    run = load_run(ckpt)
    with tempfile.TemporaryDirectory() as tmp:
        songs = Path(tmp) / "songs"
        for f in files:
            write_lpd_npz(songs / f"{Path(f).stem}.npz", midi_to_song(f))
        names = [*(run.net.config.track_names or ["Piano"])]
        dm = NoteDataModule(
            source="lpd5",
            root=str(songs),
            data_dir=str(Path(tmp) / "data"),
            tracks=names,
            seq_len=run.seq_len,
            split="test",
            progress=False,
            build_workers=1,
            batch_size=16,
        )
        trainer = L.Trainer(
            accelerator="cpu",
            devices=1,
            logger=False,
            enable_progress_bar=False,
            enable_checkpointing=False,
            enable_model_summary=False,
        )
        (metrics,) = trainer.test(load_task(ckpt), datamodule=dm, verbose=False)
    return float(metrics["test/note_nll"])


def with_sampling(config: Any, settings: Sequence[str]) -> dict[str, Any]:
    """Set ``settings`` (``KEY=VALUE``, keys under ``sampling``, values read as YAML) in
    ``config`` and check the whole sampling node as generation will read it; return them as
    a mapping for the card. A malformed or unknown setting stops here, before anything is
    written, with one line naming it."""
    added: dict[str, Any] = {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep or not key or key.startswith("sampling."):
            raise ConfigError(
                f"--sampling: {setting!r} is not KEY=VALUE with KEY under sampling "
                "(e.g. pitch.harmony=0.6)"
            )
        added[key] = yaml.safe_load(value)
        OmegaConf.update(config, f"sampling.{key}", added[key], force_add=True)
    Sampling.from_config(config.get("sampling") or {})
    return added


def _command(run: Path) -> str:
    overrides = yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text()) or []
    return " ".join(["python -m musegen.train", *overrides])


def export_run(
    run: str | Path,
    name: str,
    data: str,
    licence: str,
    title: str | None = None,
    check: Sequence[str | Path] = (),
    folder: Path = FOLDER,
    sampling: Sequence[str] = (),
    sampling_source: str | None = None,
) -> Path:
    """Write ``<folder>/<name>.ckpt`` and its card from the finished run folder ``run``.

    ``sampling``: settings chosen after the run (``KEY=VALUE`` under ``sampling``, e.g. a
    rule measured on its checkpoint later) that the shipped model's users get by default,
    on top of the run's own; ``sampling_source`` says where they were chosen (the card
    records both)."""
    run = Path(run)
    metrics = json.loads((run / "metrics.json").read_text())
    # the run's settings that generation and evaluation take as defaults (and its data,
    # for primer=test and the test songs where they exist)
    config = OmegaConf.load(run / ".hydra" / "config.yaml")
    kept = OmegaConf.masked_copy(config, [k for k in RUN_KEYS if k in config])
    added = with_sampling(kept, sampling)
    if added and not sampling_source:
        raise ConfigError("--sampling needs --sampling-source: where the settings were chosen")
    out = folder / f"{name}.ckpt"
    with atomic_path(out) as tmp:
        torch.save(small_checkpoint(run / metrics["best_ckpt"]), tmp)
    write_bytes_atomic(folder / f"{name}.yaml", OmegaConf.to_yaml(kept).encode())
    figures = {k: v for k, v in metrics.items() if k.startswith("test/")}
    evaluation = {k: metrics[k] for k in ("eval/oa", "eval/scratch/oa") if k in metrics}
    checked = [Path(f) for f in check]
    card = {
        "name": name,
        "title": title or f"{metrics.get('model', 'model')} on {data}",
        "data": data,
        "licence": licence,
        "command": _command(run),
        "commit": metrics.get("commit"),
        "parameters": metrics.get("n_params"),
        "size_mb": out.stat().st_size / 1e6,
        "test": figures,
        "evaluation": evaluation,
        "sampling_after_training": {"settings": added, "source": sampling_source}
        if added
        else None,
        "check": {
            "songs": [f.name for f in checked],
            "note_nll": note_nll(out, checked) if checked else None,
        },
    }
    write_json_atomic(folder / f"{name}.json", card, indent=2)
    write_bytes_atomic(folder / f"{name}.md", card_markdown(card).encode())
    return out


def card_markdown(card: dict[str, Any]) -> str:
    """A model card: what it is, how it was made, how well it does, and its licence."""
    test = card["test"]
    rows = [f"| {k} | {v:.4f} |" for k, v in sorted(test.items())]
    rows += [f"| {k} | {v:.4f} |" for k, v in sorted(card["evaluation"].items())]
    check = card["check"]
    lines = [
        f"# pretrained:{card['name']}",
        "",
        card["title"] + ".",
        "",
        f"- **Data**: {card['data']}.",
        f"- **Licence**: {card['licence']}.",
        f"- **Made by**: `{card['command']}` at commit `{card['commit']}`, then "
        f"`python -m musegen.pretrained export` (weights in half precision: "
        f"{card['size_mb']:.1f} MB, {card['parameters']:,} parameters).",
        f"- **Use**: `python -m musegen.generate ckpt_path=pretrained:{card['name']}`; "
        f"fine-tune with `python -m musegen.train init_from=pretrained:{card['name']} ...` "
        "(docs/your_music.md).",
        *_later_sampling(card.get("sampling_after_training")),
        "",
        "Figures of the run (its test songs, full precision):",
        "",
        "| figure | value |",
        "| --- | --- |",
        *rows,
    ]
    if check["note_nll"] is not None:
        lines += [
            "",
            f"Check (the shipped weights): note NLL {check['note_nll']:.4f} on "
            + ", ".join(check["songs"])
            + " as test songs (`tests/test_pretrained.py` recomputes it).",
        ]
    return "\n".join(lines) + "\n"


def _later_sampling(later: dict[str, Any] | None) -> list[str]:
    """The card's line on the sampling settings chosen after training (none: no line)."""
    if not later:
        return []
    settings = ", ".join(f"`{k}={v}`" for k, v in later["settings"].items())
    return [
        "- **Sampling chosen after training** (what generate and evaluate use by default, on "
        f"top of the run's own): {settings}; {later['source']}."
    ]
