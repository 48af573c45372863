"""Evaluate a trained checkpoint: ``python -m musegen.evaluate ckpt_path=...``.

Three parts, written to ``evaluation.json`` and ``evaluation.md`` in ``out_dir``:

1. the test losses, computed by the same Lightning ``test`` as in training;
2. the paper's cosine similarity made precise: each test song is primed with its first
   ``seq_len`` notes, a continuation as long as the real one (at most ``max_notes``) is
   generated, and four note histograms of the two are compared (``metrics.similarity``);
   the same code scores reference rows (real vs real, unigram, uniform random, repeating
   the primer) so that the number means something;
3. musical metrics (MusPy's and MuseGAN's) of the generated vs the real continuations.

``musegen.train`` calls ``evaluate_run`` at the end of a run.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig

from musegen.atomic import check_writable, clean_stale, write_bytes_atomic
from musegen.config_checks import CONFIG_DIR, check_overrides, integer, require
from musegen.errors import reported
from musegen.generate import sampling_from
from musegen.generation.decode import generate
from musegen.generation.notes import notes_to_tensors, tensors_to_notes
from musegen.generation.runs import (
    RunError,
    TrainedRun,
    data_override_args,
    data_overrides,
    load_run,
)
from musegen.generation.sampling import Sampling
from musegen.metrics.musical import metrics_table, to_markdown
from musegen.metrics.references import reference_rows
from musegen.metrics.similarity import FEATURES, SimilarityResult, score_continuations
from musegen.models.checkpoint import load_task
from musegen.render.outputs import write_sample

log = logging.getLogger(__name__)


def test_losses(run: TrainedRun, dm: Any, device: str = "cpu") -> dict[str, float]:
    """The checkpoint's test metrics, by the same ``Trainer.test`` as training runs; the
    task comes from the checkpoint itself (``load_task``), not from the run's config."""
    import lightning as L

    task = load_task(run.ckpt_path, map_location=device)
    trainer = L.Trainer(
        accelerator=device,
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    results = trainer.test(task, datamodule=dm, verbose=False)
    return {k: float(v) for k, v in (results[0] if results else {}).items()}


def continuations(
    run: TrainedRun,
    songs: list[np.ndarray],
    primer_len: int,
    max_notes: int,
    sampling: Sampling,
    seed: int,
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Primers, real continuations and generated ones (all songs decoded as one batch)."""
    primers = [s[:primer_len] for s in songs]
    real = [s[primer_len : primer_len + max_notes] for s in songs]
    device = next(run.net.parameters()).device
    tensors = notes_to_tensors(primers, run.track_ids, device)
    generator = torch.Generator(device=device).manual_seed(seed)
    out = generate(
        run.net, tensors, max(len(r) for r in real), sampling, generator, seq_len=primer_len
    )
    starts = [int(p["time"][-1]) for p in primers]
    generated = tensors_to_notes(out, run.track_ids, start_times=starts)
    return primers, real, [g[: len(r)] for g, r in zip(generated, real, strict=True)]


def _fmt(mean: float, std: float) -> str:
    return "n/a" if math.isnan(mean) else f"{mean:.3f} ± {std:.3f}"


def similarity_markdown(rows: dict[str, SimilarityResult]) -> str:
    head = "| row | " + " | ".join(FEATURES) + " | songs |"
    lines = [head, "|" + " --- |" * (len(FEATURES) + 2)]
    for name, res in rows.items():
        cells = [_fmt(res.mean[f], res.std[f]) for f in FEATURES]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {len(res.song_index)} |")
    return "\n".join(lines)


def evaluate_run(
    run: TrainedRun,
    dm: Any,
    out_dir: Path,
    max_songs: int = 64,
    max_notes: int = 256,
    sampling: Sampling | None = None,
    seed: int = 0,
    losses: dict[str, float] | None = None,
    num_samples: int = 2,
    audio: bool = True,
) -> dict[str, Any]:
    """Score ``run`` on ``dm``'s test split; write evaluation.{json,md} and samples."""
    sampling = sampling or Sampling()
    split = dm.splits["test"]
    primer_len = run.seq_len
    usable = np.flatnonzero(np.diff(split.offsets) > primer_len)[:max_songs]
    if usable.size == 0:
        raise RunError(f"no test song has more than {primer_len} notes to evaluate on")
    songs = [split.song(int(i)) for i in usable]
    primers, real, generated = continuations(run, songs, primer_len, max_notes, sampling, seed)
    rows = {run.model_name: score_continuations(real, generated)}
    # The unigram row draws from the training notes; data evaluated whole (data.split=test)
    # has none, so it draws from the test notes (a slightly optimistic reference).
    unigram_source = "train" if dm.splits["train"].n_notes else "test"
    rows.update(
        reference_rows(
            songs,
            dm.splits[unigram_source].columns,
            run.track_ids,
            primer_len,
            max_len=max_notes,
            seed=seed,
        )
    )
    table = metrics_table({"real test": real, run.model_name: generated}, run.track_ids)
    samples = []
    for i in range(min(num_samples, len(songs))):
        files = write_sample(
            np.concatenate([primers[i], generated[i]]),
            out_dir / "samples",
            f"eval_{i:03d}",
            primer_len=primer_len,
            audio=audio,
            track_ids=run.track_ids,
            title=f"{run.model_name}, test song {i}",
        )
        samples.append({k: str(v) for k, v in files.items()})
    report = {
        "ckpt_path": str(run.ckpt_path),
        "model": run.model_name,
        "primer_len": primer_len,
        "songs": len(songs),
        "max_notes": max_notes,
        "unigram_source": unigram_source,
        "seed": seed,
        "sampling": {
            "temperature": sampling.temperature,
            "top_k": sampling.top_k,
            "top_p": sampling.top_p,
        },
        "test": dict(losses or {}),  # keys as in training: "test/pitch_loss", ...
        "similarity": {name: res.to_dict() for name, res in rows.items()},
        "metrics": table,
        "samples": samples,
    }
    md = [f"# Evaluation of {run.model_name}", "", f"Checkpoint: `{run.ckpt_path}`", ""]
    if losses:
        md += ["## Test losses", "", "| metric | value |", "| --- | --- |"]
        md += [f"| {k} | {v:.4f} |" for k, v in sorted(losses.items())] + [""]
    md += [
        "## Continuation similarity (cosine, mean ± std over test songs)",
        "",
        f"Primer: the first {primer_len} notes of each of {len(songs)} test songs; "
        f"continuations of up to {max_notes} notes.",
        "",
        similarity_markdown(rows),
        "",
        "## Musical metrics (continuations)",
        "",
        to_markdown(table),
        "",
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(
        out_dir / "evaluation.json", json.dumps(report, indent=2, default=float).encode()
    )
    write_bytes_atomic(out_dir / "evaluation.md", "\n".join(md).encode())
    return report


def run_evaluation(cfg: DictConfig) -> dict[str, Any]:
    """``python -m musegen.evaluate``'s work, on a composed config."""
    sampling = sampling_from(cfg)
    for key in ("max_songs", "max_notes"):
        require(cfg, key, integer(1), "an integer >= 1")
    require(cfg, "num_samples", integer(0), "an integer >= 0")
    out_dir = check_writable(cfg.out_dir, "out_dir")
    clean_stale(out_dir, recursive=True)
    device = str(cfg.get("device", "cpu"))
    run = load_run(cfg.ckpt_path, device=device)
    dm = run.datamodule(cfg.paths, data_overrides(cfg))
    dm.prepare_data()
    dm.setup("test")
    losses = test_losses(run, dm, device) if cfg.get("losses", True) else None
    return evaluate_run(
        run,
        dm,
        out_dir,
        int(cfg.max_songs),
        int(cfg.max_notes),
        sampling,
        int(cfg.seed),
        losses,
        int(cfg.num_samples),
        bool(cfg.audio),
    )


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def _hydra_main(cfg: DictConfig) -> None:
    with reported():
        run_evaluation(cfg)
    print((Path(cfg.out_dir) / "evaluation.md").read_text())


def main() -> None:
    """Entry point: ``data.<key>=`` overrides the run's data config (e.g. ``data.root``)."""
    with reported():
        sys.argv[1:] = data_override_args(sys.argv[1:])
        check_overrides(sys.argv[1:], CONFIG_DIR, "evaluate")
        _hydra_main()


if __name__ == "__main__":
    main()
