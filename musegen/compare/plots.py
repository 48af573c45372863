"""The comparison's two charts: every run's validation-loss curve (one colour per row, one
line per seed), and test metrics as bars with the seed spread as error bars.

Matplotlib's object API on the Agg canvas (no pyplot state, no display), written atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from musegen.atomic import atomic_path
from musegen.compare.table import Group

BAR_METRICS = (
    ("test/note_nll", "test note NLL (nats)"),
    ("test/pitch_loss", "test pitch CE (nats)"),
    ("test/step_loss", "test step loss"),
    ("test/duration_loss", "test duration loss"),
    ("eval/oa", "mean OA, continuations"),
    ("eval/scratch/oa", "mean OA, from scratch"),
    ("eval/scratch/bar_oa_drop", "per-bar OA drop, bars 1-4 to 13-16"),
    ("eval/scratch/structure_contrast", "structure contrast, from scratch"),
    ("eval/sim_pitch", "pitch similarity (paper's)"),
    ("eval/sim_step", "step similarity (paper's)"),
    ("eval/sim_duration", "duration similarity (paper's)"),
)


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return path


def _colours(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def val_loss_plot(groups: list[Group], path: Path, key: str = "val/loss") -> Path | None:
    """Validation loss against training step, every run; ``None`` when no run logged any."""
    if not any(r.curve for g in groups for r in g.runs):
        return None
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    for colour, group in zip(_colours(len(groups)), groups, strict=False):
        first = True
        for run in group.runs:
            if not run.curve:
                continue
            steps, values = zip(*run.curve, strict=False)
            ax.plot(
                steps,
                values,
                color=colour,
                alpha=0.85,
                marker=".",
                linestyle="-" if run.ok else ":",
                label=group.label if first else None,
            )
            first = False
    ax.set_xlabel("training step")
    ax.set_ylabel(key)
    ax.set_title("Validation loss of every run (dotted: failed)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return _save(fig, path)


def metric_bars(groups: list[Group], path: Path) -> Path | None:
    """One panel per metric, one bar per row, error bar = std over seeds."""
    panels = [(k, t) for k, t in BAR_METRICS if any(g.stat(k)[2] for g in groups)]
    if not panels:
        return None
    cols = min(3, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig = Figure(figsize=(4 * cols, 3.2 * rows + 0.6))
    colours = _colours(len(groups))
    x = np.arange(len(groups))
    for i, (key, title) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        stats = [g.stat(key) for g in groups]
        ax.bar(x, [s[0] for s in stats], yerr=[s[1] for s in stats], color=colours, capsize=4)
        ax.set_title(title, fontsize="medium")
        ax.set_xticks(x, [g.label for g in groups], rotation=30, ha="right", fontsize="x-small")
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)
