"""The curves of the evaluation over time, as one PNG beside the report.

For each kind of sample, a panel per quantity against the bar number: the per-bar OA
against the real bars at the same bar, and the per-bar features averaged over the pieces
(notes a bar summed over the tracks, the pitched tracks' mean durations averaged over the
tracks, polyphony, pitch-class entropy, the in-key ratio, the similarity to the previous
bar). The model is drawn thick in red, real vs real thick in black, the reference (real
excerpts of the training songs) dashed, every control thin.

Matplotlib's object API on the Agg canvas (no pyplot state, no display), written atomically.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from musegen.atomic import atomic_path
from musegen.metrics import REAL_ROW

PANELS: tuple[tuple[str, str], ...] = (
    ("oa", "per-bar OA vs real bars"),
    ("notes", "notes a bar (all tracks)"),
    ("duration", "mean pitched duration (beats)"),
    ("polyphony", "polyphony"),
    ("pitch_class_entropy", "pitch-class entropy (bits)"),
    ("in_key", "in key of bars 1-4"),
    ("previous_bar", "similarity to the previous bar"),
)
"""``(quantity, title)`` of each panel, in order."""
COLUMNS = 4
REAL = REAL_ROW
REFERENCE = "reference"


def _nan(values: Any) -> np.ndarray:
    """A JSON list (``None`` for undefined) as floats with NaN."""
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _mean_of(curves: Mapping[str, Any], prefix: str, total: bool) -> np.ndarray | None:
    """The sum (``total``) or the NaN-skipping mean of the curves named ``prefix/...``."""
    parts = [_nan(v) for k, v in curves.items() if k.startswith(prefix + "/")]
    if not parts:
        return None
    stack = np.stack(parts)
    if total:
        return stack.sum(axis=0)
    ok = np.isfinite(stack)
    count = ok.sum(axis=0)
    out = np.full(stack.shape[1], np.nan)
    np.divide(np.where(ok, stack, 0.0).sum(axis=0), count, out=out, where=count > 0)
    return out


def panel_values(result: Mapping[str, Any], quantity: str) -> np.ndarray | None:
    """One row's (or the reference's) curve of a panel's quantity; None when it has none."""
    if quantity == "oa":
        return _nan(result["oa"]) if "oa" in result else None
    curves = result.get("curves", {})
    if quantity in ("notes", "duration"):
        return _mean_of(curves, quantity, total=quantity == "notes")
    return _nan(curves[quantity]) if quantity in curves else None


def _style(row: str, model: str, colours: Mapping[str, Any]) -> dict[str, Any]:
    if row == model:
        return {"color": "tab:red", "linewidth": 2.4, "zorder": 4}
    if row == REAL:
        return {"color": "black", "linewidth": 2.0, "zorder": 3}
    if row == REFERENCE:
        return {"color": "black", "linewidth": 1.2, "linestyle": "--", "zorder": 2}
    return {"color": colours.get(row), "linewidth": 0.9, "alpha": 0.8, "zorder": 1}


def _colours(rows: list[str]) -> dict[str, Any]:
    """One colour per control row, the same in every panel (red and black are taken)."""
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    free = [cmap(i) for i in range(cmap.N) if i not in (3, 7)]  # not red, not grey
    return {row: free[i % len(free)] for i, row in enumerate(rows)}


def _draw(
    ax: Axes,
    over_time: Mapping[str, Any],
    quantity: str,
    model: str,
    colours: Mapping[str, Any],
) -> None:
    bars = np.arange(1, int(over_time["bars"]) + 1)
    lines = dict(over_time["rows"])
    if quantity != "oa":
        lines[REFERENCE] = over_time["reference"]
    drawn = False
    for row, result in lines.items():
        values = panel_values(result, quantity)
        if values is not None and np.isfinite(values).any():
            style = _style(row, model, colours)
            ax.plot(bars, values, marker=".", markersize=3, label=row, **style)
            drawn = True
    if not drawn:  # e.g. the per-bar OA where no bar is reached by enough pieces
        ax.text(0.5, 0.5, "not scored: too few pieces", ha="center", transform=ax.transAxes)
    ax.grid(alpha=0.3)
    ax.set_xlim(0.5, bars[-1] + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def over_time_plot(
    kinds: Mapping[str, Mapping[str, Any]], model: str, titles: Mapping[str, str], path: Path
) -> Path | None:
    """Draw the curves of every kind that has them (``scored["over_time"]``) into ``path``.

    Parameters
    ----------
    kinds : mapping of str to dict
        ``report["kinds"]``: kind -> its scored set.
    titles : mapping of str to str
        What to call each kind.

    Returns
    -------
    Path or None
        ``path``, or None (nothing written) when no kind has curves.
    """
    shown = {k: s["over_time"] for k, s in kinds.items() if s.get("over_time", {}).get("rows")}
    if not shown:
        return None
    names = [r for o in shown.values() for r in o["rows"] if r not in (model, REAL)]
    colours = _colours(list(dict.fromkeys(names)))
    per_kind = -(-len(PANELS) // COLUMNS)  # rows of panels a kind
    grid = (per_kind * len(shown), COLUMNS)
    fig = Figure(figsize=(3.4 * COLUMNS, 2.6 * grid[0] + 0.4))
    handles: dict[str, Any] = {}
    for k, (kind, over_time) in enumerate(shown.items()):
        first = k * per_kind * COLUMNS + 1  # the kind's first panel
        for i, (quantity, title) in enumerate(PANELS):
            ax = fig.add_subplot(*grid, first + i)
            _draw(ax, over_time, quantity, model, colours)
            ax.set_title(f"{titles.get(kind, kind)}: {title}", fontsize="small")
            ax.tick_params(labelsize="x-small")
            if i >= len(PANELS) - COLUMNS:
                ax.set_xlabel("bar", fontsize="x-small")
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                handles.setdefault(label, handle)
        if len(PANELS) % COLUMNS:  # the kind's last free slot holds the legend
            ax = fig.add_subplot(*grid, first + per_kind * COLUMNS - 1)
            ax.axis("off")
            ax.legend(list(handles.values()), list(handles), loc="center", fontsize="small")
    fig.tight_layout()
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return path
