"""``python -m musegen.compare PATH... [--out DIR]``: one comparison of the runs under PATHs.

PATH is a multirun folder (its numbered jobs are the runs), a folder of runs, or run folders
themselves. The output goes into the single PATH given, or ``--out``: ``comparison.md`` and
``.csv``, the plots, and ``index.html``, a listening page with each row's samples. A run
that did not finish is listed as failed with its last error line (one that a live process
still holds is listed as running); it never stops the report. When no run finished, the
report is written all the same and the command ends with exit code 1: there was nothing to
compare.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from musegen.atomic import check_writable
from musegen.compare.page import write_comparison_page
from musegen.compare.plots import metric_bars, val_loss_plot
from musegen.compare.report import comparison_csv, comparison_markdown, write_text
from musegen.compare.runs import Run, find_runs, read_run
from musegen.compare.table import Group, config_splits, group_runs
from musegen.errors import UserError, run_reported

EXIT_NOTHING_FINISHED = 1
"""``compare``'s exit code when no run finished (the report lists each one's reason)."""


class CompareError(UserError):
    """Nothing to compare, or nowhere to write it."""


@dataclass
class Comparison:
    """What ``compare`` wrote, and the groups it wrote them from."""

    keys: list[str]
    groups: list[Group]
    files: dict[str, Path]


def compare(
    paths: list[Path | str],
    out: Path | str | None = None,
    title: str = "Comparison",
    command: str | None = None,
    paper: bool = False,
    same: Sequence[str] = (),
) -> Comparison:
    """Read the runs under ``paths``, write ``comparison.csv``/``.md`` and plots to ``out``."""
    paths = [Path(p) for p in paths]
    for path in paths:
        if not path.is_dir():
            raise CompareError(f"{path}: no such folder; give a sweep folder or run folders")
    if out is None:
        if len(paths) != 1:
            raise CompareError("several folders given: say where the comparison goes with --out")
        out = paths[0]
    run_dirs = find_runs(paths)
    if not run_dirs:
        raise CompareError(
            f"no run folders under {', '.join(map(str, paths))} (a run folder holds "
            "metrics.json, train.log or .hydra/overrides.yaml)"
        )
    runs = [read_run(p) for p in run_dirs]
    check_same(same, runs)
    out = check_writable(out, "--out")
    keys, groups = group_runs(runs, same)
    files: dict[str, Path] = {}
    plots = []
    for name, draw in (("val_loss.png", val_loss_plot), ("test_metrics.png", metric_bars)):
        if draw(groups, out / name) is not None:
            files[name] = out / name
            plots.append(name)
    files["comparison.csv"] = write_text(out / "comparison.csv", comparison_csv(keys, groups))
    markdown = comparison_markdown(keys, groups, title, plots, command, paper)
    files["comparison.md"] = write_text(out / "comparison.md", markdown)
    page = write_comparison_page(groups, out, title, markdown)
    if page is not None:  # a listening page only where the runs wrote samples
        files["index.html"] = page
    return Comparison(keys, groups, files)


def check_same(same: Sequence[str], runs: list[Run]) -> None:
    """``--same`` names config keys (``data.transpose``) that some run's
    ``.hydra/config.yaml`` holds; a misspelt one would silently change nothing."""
    known = {k for r in runs for k in r.flat_config()}
    for key in same:
        if key not in known:
            hidden = config_splits(runs)
            hint = (
                f"the config keys that split rows here: {', '.join(hidden)}"
                if hidden
                else "no config key splits a row here, so --same is not needed"
            )
            raise CompareError(f"--same {key}: no run's .hydra/config.yaml has this key; {hint}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="musegen.compare", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path, help="sweep folder(s) or run folders")
    parser.add_argument("--out", type=Path, default=None, help="where to write (default: PATH)")
    parser.add_argument("--title", default="Comparison", help="the report's heading")
    parser.add_argument(
        "--command", default=None, help="the command that made the runs, quoted in the report"
    )
    parser.add_argument(
        "--paper", action="store_true", help="add the paper's reported numbers (Section IV)"
    )
    parser.add_argument(
        "--same",
        nargs="+",
        default=(),
        metavar="KEY",
        help="config keys that do not split rows although their values differ (a key added "
        "to the configs between runs that keeps the old behaviour); say so in --command",
    )
    parser.add_argument(
        "--wandb",
        metavar="GROUP",
        nargs="?",
        const="",
        default=None,
        help="also log the table to W&B (offline; `wandb sync` later) in GROUP "
        "(default: the output folder's name, the group a sweep's runs share)",
    )
    args = parser.parse_args(argv)

    def body() -> int:
        result = compare(args.paths, args.out, args.title, args.command, args.paper, args.same)
        if args.wandb is not None:
            from musegen.compare.wandb_table import log_table

            out = result.files["comparison.md"].parent
            log_table(result, out, args.wandb or out.name)
        print(result.files["comparison.md"].read_text())
        print("wrote " + ", ".join(str(p) for p in result.files.values()), file=sys.stderr)
        runs = [r for g in result.groups for r in g.runs]
        if not any(r.ok for r in runs):
            running = sum(r.running for r in runs)
            print(
                f"musegen.compare: none of the {len(runs)} runs finished "
                f"({len(runs) - running} failed, {running} running): nothing to compare; "
                "each run's reason is in comparison.md",
                file=sys.stderr,
            )
            return EXIT_NOTHING_FINISHED
        return 0

    return run_reported(body, prog="musegen.compare")
