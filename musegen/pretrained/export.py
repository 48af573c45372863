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
from musegen.models.checkpoint import TASK_SETTINGS, load_task, read_checkpoint
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
) -> Path:
    """Write ``<folder>/<name>.ckpt`` and its card from the finished run folder ``run``."""
    run = Path(run)
    metrics = json.loads((run / "metrics.json").read_text())
    out = folder / f"{name}.ckpt"
    with atomic_path(out) as tmp:
        torch.save(small_checkpoint(run / metrics["best_ckpt"]), tmp)
    # the run's settings that generation and evaluation take as defaults (and its data,
    # for primer=test and the test songs where they exist)
    config = OmegaConf.load(run / ".hydra" / "config.yaml")
    kept = OmegaConf.masked_copy(config, [k for k in RUN_KEYS if k in config])
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
