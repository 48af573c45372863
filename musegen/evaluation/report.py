"""The evaluation report of a network on a datamodule's test songs.

Three parts, written to ``evaluation.json`` and ``evaluation.md``:

1. the test losses (``Trainer.test``'s, passed in);
2. the paper's cosine similarity made precise: each test song is primed with its first
   ``seq_len`` notes, a continuation as long as the real one (at most ``max_notes``) is
   generated, and four note histograms of the two are compared (``metrics.similarity``);
   the same code scores reference rows (real vs real, unigram, uniform random, repeating
   the primer) so that the number means something;
3. musical metrics (MusPy's and MuseGAN's) of the generated vs the real continuations.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from musegen.atomic import write_bytes_atomic
from musegen.errors import UserError
from musegen.generation.continuation import DecodeOptions, continue_primers
from musegen.generation.sampling import Sampling
from musegen.metrics.musical import RHYTHM_METRICS, metrics_table, to_markdown
from musegen.metrics.references import reference_rows
from musegen.metrics.similarity import FEATURES, SimilarityResult, score_continuations
from musegen.render.outputs import write_sample


class EvaluationError(UserError):
    """The data cannot be evaluated on (one line: what and what to do)."""


@dataclass(frozen=True)
class EvaluationSettings:
    """What is scored and how continuations are drawn."""

    max_songs: int = 32  # test songs scored (those with more notes than the primer)
    max_notes: int = 256  # continuation notes per song (the real one, capped)
    num_samples: int = 2  # samples written beside the report (MIDI, npz, PNG, WAV)
    audio: bool = True  # WAV samples when FluidSynth is installed
    seed: int = 0
    sampling: Sampling = field(default_factory=Sampling)


def evaluate_songs(
    net: Any,
    track_ids: Sequence[int],
    seq_len: int,
    dm: Any,
    out_dir: Path,
    settings: EvaluationSettings,
    model_name: str = "model",
    losses: dict[str, float] | None = None,
    ckpt_path: str | None = None,
) -> dict[str, Any]:
    """Score ``net`` on ``dm``'s test split; write evaluation.{json,md} and samples.

    ``dm`` is set up for testing (``splits``); the unigram reference draws from its
    training notes, or from the test notes when there are none (``data.split=test``).
    """
    split = dm.splits["test"]
    usable = np.flatnonzero(np.diff(split.offsets) > seq_len)[: settings.max_songs]
    if usable.size == 0:
        raise EvaluationError(f"no test song has more than {seq_len} notes to evaluate on")
    songs = [split.song(int(i)) for i in usable]
    primers = [s[:seq_len] for s in songs]
    real = [s[seq_len : seq_len + settings.max_notes] for s in songs]
    options = DecodeOptions(sampling=settings.sampling, seed=settings.seed, seq_len=seq_len)
    generated = continue_primers(net, primers, max(len(r) for r in real), track_ids, options)
    generated = [g[: len(r)] for g, r in zip(generated, real, strict=True)]

    rows = {model_name: score_continuations(real, generated)}
    unigram_source = "train" if dm.splits["train"].n_notes else "test"
    rows.update(
        reference_rows(
            songs,
            dm.splits[unigram_source].columns,
            list(track_ids),
            seq_len,
            max_len=settings.max_notes,
            seed=settings.seed,
        )
    )
    table = metrics_table({"real test": real, model_name: generated}, list(track_ids))
    samples = []
    for i in range(min(settings.num_samples, len(songs))):
        files = write_sample(
            np.concatenate([primers[i], generated[i]]),
            out_dir / "samples",
            f"eval_{i:03d}",
            primer_len=seq_len,
            audio=settings.audio,
            track_ids=list(track_ids),
            title=f"{model_name}, test song {i}",
        )
        samples.append({k: str(v) for k, v in files.items()})
    report = {
        "ckpt_path": None if ckpt_path is None else str(ckpt_path),
        "model": model_name,
        "primer_len": seq_len,
        "songs": len(songs),
        "max_notes": settings.max_notes,
        "unigram_source": unigram_source,
        "seed": settings.seed,
        "sampling": settings.sampling.to_dict(),
        "test": dict(losses or {}),  # keys as in training: "test/pitch_loss", ...
        "similarity": {name: res.to_dict() for name, res in rows.items()},
        "metrics": table,
        "samples": samples,
    }
    write_report(report, rows, table, out_dir)
    return report


def write_report(
    report: dict[str, Any], rows: dict[str, SimilarityResult], table: dict, out_dir: Path
) -> None:
    """``evaluation.json`` (everything) and ``evaluation.md`` (the tables), atomically."""
    name, losses = report["model"], report["test"]
    md = [f"# Evaluation of {name}", "", f"Checkpoint: `{report['ckpt_path']}`", ""]
    if losses:
        md += ["## Test losses", "", "| metric | value |", "| --- | --- |"]
        md += [f"| {k} | {v:.4f} |" for k, v in sorted(losses.items())] + [""]
    md += [
        "## Continuation similarity (cosine, mean ± std over test songs)",
        "",
        f"Primer: the first {report['primer_len']} notes of each of {report['songs']} test "
        f"songs; continuations of up to {report['max_notes']} notes.",
        "",
        similarity_markdown(rows),
        "",
        "## Rhythm (generated vs real continuations)",
        "",
        to_markdown({k: table[k] for k in RHYTHM_METRICS if k in table}),
        "",
        "## Musical metrics (continuations)",
        "",
        to_markdown(table),
        "",
    ]
    text = json.dumps(report, indent=2, default=float)
    write_bytes_atomic(out_dir / "evaluation.json", text.encode())
    write_bytes_atomic(out_dir / "evaluation.md", "\n".join(md).encode())


def _fmt(mean: float, std: float) -> str:
    return "n/a" if math.isnan(mean) else f"{mean:.3f} ± {std:.3f}"


def similarity_markdown(rows: dict[str, SimilarityResult]) -> str:
    """The similarity table: one row per model or reference, mean ± std per feature."""
    head = "| row | " + " | ".join(FEATURES) + " | songs |"
    lines = [head, "|" + " --- |" * (len(FEATURES) + 2)]
    for name, res in rows.items():
        cells = [_fmt(res.mean[f], res.std[f]) for f in FEATURES]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {len(res.song_index)} |")
    return "\n".join(lines)
