"""The tables of README.md and docs/training.md, written from the files they report.

Hand-copied numbers drifted from the committed results (an old model's score kept under a
new model's name) and hand-kept config lists lost groups and choices; so each table lives
in a marked region that this module rewrites from its sources::

    <!-- table: note-model -->
    | row | note NLL | ... |
    ...

    *Written by `python -m musegen.docs_tables` from [comparison.csv](...).*
    <!-- end table -->

``python -m musegen.docs_tables`` rewrites every region in place; ``--check`` rewrites
nothing and exits 1 with one line per region that differs (the test suite runs it). A
region whose source is missing, or lacks a column, is left as it is and reported in one
line, never a traceback: a results folder may not be committed yet.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from musegen.atomic import write_bytes_atomic
from musegen.config_checks import group_choices
from musegen.metrics import REAL_ROW

ROOT = Path(__file__).resolve().parents[1]
COMMAND = "python -m musegen.docs_tables"
REGION = re.compile(r"<!-- table: (?P<name>[\w-]+) -->\n(?P<body>.*?)<!-- end table -->", re.S)


class DocsTableError(ValueError):
    """A table that cannot be written from its sources; the message is one line."""


# --- formatting ----------------------------------------------------------------------------


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A markdown table as lines, in the style of ``musegen.compare``'s reports."""
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def mean_std(mean: float, std: float, digits: int = 3) -> str:
    """``mean ± std`` (``mean`` alone when the std is not finite, ``–`` for no mean)."""
    if not math.isfinite(mean):
        return "–"
    if not math.isfinite(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _float(text: str | None) -> float:
    return math.nan if text in (None, "") else float(text)


# --- sources -------------------------------------------------------------------------------


@dataclass
class Comparison:
    """One ``comparison.csv`` of ``musegen.compare``: rows keyed by its first column."""

    path: str
    rows: dict[str, dict[str, str]]

    @classmethod
    def read(cls, root: Path, path: str) -> Comparison:
        with open(root / path, newline="") as f:
            reader = csv.DictReader(f)
            key = (reader.fieldnames or ["?"])[0]
            return cls(path, {r[key]: r for r in reader})

    def value(self, row: str, column: str) -> float:
        """One cell as a float (NaN when empty: no finished run recorded it)."""
        if column not in self.rows[row]:
            raise DocsTableError(f"{self.path} has no column {column}")
        return _float(self.rows[row][column])

    def cell(self, row: str, metric: str, digits: int = 3) -> str:
        """The row's ``mean ± std`` over its seeds; the mean alone for one run."""
        if row not in self.rows:
            return "–"
        std = self.value(row, f"{metric}_std") if self.value(row, "n_runs") > 1 else math.nan
        return mean_std(self.value(row, f"{metric}_mean"), std, digits)

    def real(self, metric: str, digits: int = 3) -> str:
        """The real-vs-real control: the same data in every row, so one value (a range if
        the rows disagree, which means they were scored on different data)."""
        values = [self.value(r, f"{metric}/real_vs_real_mean") for r in self.rows]
        texts = sorted({f"{v:.{digits}f}" for v in values if math.isfinite(v)}, key=float)
        return "–" if not texts else texts[0] if len(texts) == 1 else f"{texts[0]}–{texts[-1]}"

    def best(self, column: str, rows: Sequence[str], lowest: bool) -> str:
        """The row (of ``rows``) with the lowest or highest finite value of ``column``."""
        found = [(self.value(r, column), r) for r in rows if r in self.rows]
        found = [(v if lowest else -v, r) for v, r in found if math.isfinite(v)]
        return min(found)[1] if found else "–"


def _read_json(root: Path, path: str) -> dict[str, Any]:
    with open(root / path) as f:
        return json.load(f)


# --- the tables ----------------------------------------------------------------------------

DATASETS = (
    ("Bach", "Bach", "experiments/results/bach/comparison.csv"),
    ("Lakh", "Lakh, five tracks", "experiments/results/lakh/comparison.csv"),
    ("POP909", "POP909", "experiments/results/pop909/comparison.csv"),
)
"""The paper's comparison: ``(short name, column title, comparison.csv)`` per dataset."""
PAPER_BACKBONES = ("rnn", "lstm", "gru", "lstm_gru")


def comparison_table(root: Path) -> list[str]:
    """Note NLL and mean OA per backbone and dataset, then the lines that say who leads
    (the prose reads them, so a regenerated sweep cannot leave it naming the wrong one).
    No speed: a sweep's timing columns hold only when nothing else ran beside it, which its
    files cannot show; speed is ``make bench``'s, measured against a baseline in one run."""
    sets = [(name, title, Comparison.read(root, p)) for name, title, p in DATASETS]
    models = list(dict.fromkeys(m for _, _, c in sets for m in c.rows))
    header = ["backbone"] + [f"{t}: {m}" for _, t, _ in sets for m in ("note NLL", "mean OA")]
    rows = [
        [m] + [c.cell(m, k) for _, _, c in sets for k in ("test/note_nll", "eval/oa")]
        for m in models
    ]
    rows.append(["*real vs real*"] + [x for _, _, c in sets for x in ("", c.real("eval/oa"))])

    def each(fn: Callable[[Comparison], str]) -> str:
        return ", ".join(f"{fn(c)} ({name})" for name, _, c in sets)

    def best(column: str, rows: list[str], lowest: bool) -> str:
        return each(lambda c: c.best(column, rows, lowest))

    four = [m for m in models if m in PAPER_BACKBONES]
    nll, oa = "test/note_nll_mean", "eval/oa_mean"
    facts = [
        f"Lowest note NLL: {best(nll, models, True)}; of the paper's four: "
        f"{best(nll, four, True)}.",
        f"Highest mean OA: {best(oa, models, False)}; of the paper's four: "
        f"{best(oa, four, False)}.",
        f"The paper's cosine similarity (pitch) of the repeated primer: {each(_primer_cosine)}.",
    ]
    return [*table(header, rows), "", " ".join(facts)]


DETAIL = (
    ("note NLL", "test/note_nll", 3),
    ("pitch NLL", "test/pitch_loss", 3),
    ("continuations: mean OA", "eval/oa", 3),
    ("from scratch: mean OA", "eval/scratch/oa", 3),
    ("scale consistency", "eval/scale_consistency", 3),
    ("pitch sim (a cosine, cf. the paper's 0.81)", "eval/sim_pitch", 3),
)
"""The columns of one dataset's table in experiments/README.md: (title, metric, digits)."""
DETAIL_CONTROLS = ("real_vs_real", "unigram", "repeat_primer")


def detail_table(path: str) -> Callable[[Path], list[str]]:
    """One dataset's comparison in more columns: each backbone's width, its losses and the
    quality measures the prose reads, then the real and control rows scored by the same
    code (the first backbone's evaluation: they are the same songs in every row)."""

    def write(root: Path) -> list[str]:
        c = Comparison.read(root, path)
        header = ["backbone", "hidden"] + [t for t, _, _ in DETAIL]
        rows = [
            [m, f"{c.value(m, 'hidden_size_mean'):.0f}"] + [c.cell(m, k, d) for _, k, d in DETAIL]
            for m in c.rows
        ]
        first = next(iter(c.rows))
        for control in DETAIL_CONTROLS:
            cells = []
            for _, metric, digits in DETAIL:
                column = f"{metric}/{control}_mean"
                value = c.value(first, column) if column in c.rows[first] else math.nan
                cells.append("–" if not math.isfinite(value) else f"{value:.{digits}f}")
            rows.append([f"*{control.replace('_', ' ')}*", "", *cells])
        return table(header, rows)

    return write


def _primer_cosine(c: Comparison) -> str:
    return f"{c.value(next(iter(c.rows)), 'eval/sim_pitch/repeat_primer_mean'):.3f}"


EVALUATION = "experiments/evaluation/lakh/evaluation.json"
KINDS = (("continuation", "continuations"), ("scratch", "from scratch"))


def evaluation_table(root: Path) -> list[str]:
    """Mean OA of the model's and every control's continuations and pieces from scratch,
    then the checkpoint scored (the file, not the prose, says which model this is), the
    ranking and the per-instrument figures the prose explains."""
    report = _read_json(root, EVALUATION)
    try:
        model, kinds = report["model"], report["kinds"]
        overlap = {k: kinds[k]["overlap"] for k, _ in KINDS if k in kinds}
        cont = kinds["continuation"]
    except KeyError as e:
        raise DocsTableError(f"{EVALUATION} has no {e}") from None
    names = list(dict.fromkeys(r for o in overlap.values() for r in o))
    rows = []
    for name in names:
        cells = [overlap.get(k, {}).get(name, {}).get("mean", {}) for k, _ in KINDS]
        label = f"`{name}`" if name == model else f"*{name}*"
        rows.append(
            [label] + [mean_std(c.get("oa", math.nan), c.get("oa_std", math.nan)) for c in cells]
        )
    ranked = sorted(cont["overlap"], key=lambda r: -cont["overlap"][r]["mean"]["oa"])
    tracks = cont["tracks"]

    def per_track(stat: str) -> str:
        keys = [k for k in tracks if k.startswith(f"{stat}/") and k.count("/") == 1]
        return ", ".join(
            f"{k.split('/')[1]} {tracks[k][model]['mean']:.3f} "
            f"({tracks[k]['real vs real']['mean']:.3f})"
            for k in keys
            if model in tracks[k] and REAL_ROW in tracks[k]
        )

    header = ["row"] + [f"{title}: mean OA" for k, title in KINDS if k in overlap]
    return [
        *table(header, rows),
        "",
        f"Scored: `{model}` from `{report.get('ckpt_path', '?')}`, {report.get('songs', '?')} "
        f"test songs continued. Continuations ranked by mean OA: {', '.join(ranked)}. Per "
        "instrument, the model's continuations (real vs real in brackets): share of notes "
        f"outside the real pitch range: {per_track('out_of_range')}; mean note duration "
        f"(beats): {per_track('duration')}.",
    ]


NOTE_MODEL = "experiments/note_model/lakh/comparison.csv"
NOTE_MODEL_ROWS = {
    "lakh": "chained heads, 100 notes (`experiment=lakh`)",
    "lakh_independent": "independent heads, 25 notes (`experiment=lakh_independent`)",
}
NOTE_MODEL_COLUMNS = (  # (metric, header, digits, which is best: "min", "max" or "")
    ("test/note_nll", "note NLL", 3, "min"),
    ("eval/oa", "continuations: mean OA", 3, "max"),
    ("eval/pitch_mean/Bass", "bass: mean pitch", 1, ""),
    ("eval/out_of_range/Bass", "bass: out of range", 3, ""),
    ("eval/scale_consistency", "scale consistency", 3, ""),
    ("eval/pitch_class_entropy", "pitch-class entropy (bits)", 3, ""),
)


def note_model_table(root: Path) -> list[str]:
    """The chained against the independent heads, the best NLL and OA in bold."""
    c = Comparison.read(root, NOTE_MODEL)
    best = {
        m: c.best(f"{m}_mean", list(c.rows), lowest=b == "min")
        for m, _, _, b in NOTE_MODEL_COLUMNS
        if b
    }
    rows = [
        [NOTE_MODEL_ROWS.get(r, f"`experiment={r}`")]
        + [
            f"**{c.cell(r, m, d)}**" if best.get(m) == r else c.cell(r, m, d)
            for m, _, d, _ in NOTE_MODEL_COLUMNS
        ]
        for r in c.rows
    ]
    rows.append(
        ["*real vs real*"]
        + ["" if m == "test/note_nll" else c.real(m, d) for m, _, d, _ in NOTE_MODEL_COLUMNS]
    )
    return table(["row"] + [h for _, h, _, _ in NOTE_MODEL_COLUMNS], rows)


GROUP_DESCRIPTIONS = {
    "data": "the `NoteDataModule`: source, tracks, window, batch, split",
    "model": "the backbone (`model.net`)",
    "task": "the one LightningModule: target, timing and note heads, encoder, loss weights, "
    "optimizer and scheduler (`_partial_: true`), `param_budget`",
    "sampling": "temperature, top-k, top-p of every categorical field, optionally per field "
    "(training's evaluation, `generate`, `evaluate`)",
    "callbacks": "checkpoints (best and last), LR monitor, progress bar, run statistics, "
    "resumable randomness",
    "logger": "loggers, W&B offline by default (the CSV log always)",
    "trainer": "Lightning's `Trainer`",
    "paths": "every folder (`paths.*`): data, logs, the run's output",
    "hydra": "run and sweep folders; a sweep's failed jobs reported at its end",
    "evaluation": "what the end-of-run evaluation scores (`evaluate.*`), the same settings as "
    "`musegen.evaluate`'s",
    "experiment": "named sets of overrides (only what differs, each line with its source); "
    "none by default",
    "hparams_search": "Hydra's Optuna sweeper over lr, hidden size, layers, dropout (with `-m`)",
    "debug": "a few batches end to end",
    "hydra/launcher": "where a sweep's jobs run: `slurm` through submitit; Hydra's `basic` when "
    "none is chosen, the installed `joblib` for jobs in parallel",
}
"""What each config group sets: the one hand-written column (a test fails when a group of
``conf/`` has no entry here)."""


def config_groups(conf: Path) -> list[str]:
    """Every folder of ``conf/`` holding choices, as Hydra names it (``hydra/launcher``)."""
    folders = [p for p in sorted(conf.rglob("*")) if p.is_dir()]
    return [g for g in (p.relative_to(conf).as_posix() for p in folders) if group_choices(g, conf)]


def group_defaults(train_yaml: Path) -> dict[str, str | None]:
    """``{group: default choice}`` in the order of the defaults list (``None``: optional)."""
    found: dict[str, str | None] = {}
    for entry in yaml.safe_load(train_yaml.read_text()).get("defaults", []):
        if isinstance(entry, dict):
            for key, value in entry.items():
                group = key.removeprefix("override ").split("@")[0]
                found[group] = None if value is None else str(value)
    return found


def config_table(root: Path) -> list[str]:
    """One row per config group: its choices, the default first and marked."""
    conf = root / "conf"
    defaults = group_defaults(conf / "train.yaml")
    groups = config_groups(conf)
    order = {g: i for i, g in enumerate(defaults)}
    rows = []
    for g in sorted(groups, key=lambda g: (order.get(g, len(order)), g)):
        if g not in GROUP_DESCRIPTIONS:
            raise DocsTableError(
                f"conf/{g}: no description in musegen.docs_tables.GROUP_DESCRIPTIONS"
            )
        choices, default = group_choices(g, conf), defaults.get(g)
        if default is not None and default not in choices:
            raise DocsTableError(
                f"conf/train.yaml: default {g}: {default} has no conf/{g}/{default}.yaml"
            )
        first = [f"`{default}` (default)"] if default else []
        cells = first + [f"`{c}`" for c in choices if c != default]
        rows.append([f"`{g}`", ", ".join(cells), GROUP_DESCRIPTIONS[g]])
    return table(["group", "choices", "what it sets"], rows)


@dataclass(frozen=True)
class Region:
    """How one region is written: its sources (path, the command that writes it)."""

    write: Callable[[Path], list[str]]
    sources: tuple[tuple[str, str], ...]


REGIONS = {
    "comparison": Region(
        comparison_table,
        (
            (DATASETS[0][2], "make compare"),
            (DATASETS[1][2], "make compare-lakh"),
            (DATASETS[2][2], "make compare-pop909"),
        ),
    ),
    "evaluation": Region(evaluation_table, ((EVALUATION, "python -m musegen.evaluate"),)),
    "note-model": Region(note_model_table, ((NOTE_MODEL, "make note-model"),)),
    "config-groups": Region(config_table, (("conf/", "by hand"), ("conf/train.yaml", "by hand"))),
    **{
        f"comparison-{name.lower()}": Region(detail_table(path), ((path, command),))
        for (name, _, path), command in zip(
            DATASETS, ("make compare", "make compare-lakh", "make compare-pop909"), strict=True
        )
    },
}
DOCS = {
    "README.md": ("comparison", "evaluation", "note-model", "config-groups"),
    "docs/training.md": ("config-groups",),
    "experiments/README.md": ("comparison-bach", "comparison-lakh", "comparison-pop909"),
}
"""The files this module keeps, and the regions each must hold."""


def region_body(root: Path, doc: str, name: str) -> str:
    """The text between a region's markers: the table, then the line naming its sources.

    Parameters
    ----------
    root : Path
        The project folder; every source path is relative to it.
    doc : str
        The markdown file the region is in, relative to ``root``: the links are relative
        to its folder, so that they work on GitHub from ``docs/`` too.
    name : str
        A key of :data:`REGIONS`.

    Returns
    -------
    str
        The body, ending in a newline, so that ``<!-- end table -->`` starts its own line.

    Raises
    ------
    DocsTableError
        A source is missing or lacks what the table needs (one line, for the CLI).
    """
    region = REGIONS[name]
    for path, how in region.sources:
        if not (root / path).exists():
            raise DocsTableError(f"{path} is missing (written by `{how}`)")
    try:
        lines = region.write(root)
    except DocsTableError:
        raise
    except (KeyError, ValueError, TypeError, OSError, yaml.YAMLError) as e:
        raise DocsTableError(
            f"cannot read {', '.join(p for p, _ in region.sources)}: {e!r}"
        ) from None
    here = (root / doc).parent
    links = ", ".join(
        f"[{p}]({Path(os.path.relpath(root / p, here)).as_posix()})" for p, _ in region.sources
    )
    return "\n".join([*lines, "", f"*Written by `{COMMAND}` from {links}.*", ""])


@dataclass
class Result:
    """A doc rewritten: its new text, the regions that differed, what could not be done."""

    text: str
    stale: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def rewrite(root: Path, doc: str) -> Result:
    """``doc``'s text with every region rewritten.

    A region that cannot be written (a missing source, an unknown name, a lost end marker)
    is kept as it is and named in ``problems``: one unreadable results folder must not
    stop the other tables, nor delete what the reader has.

    Parameters
    ----------
    root : Path
        The project folder.
    doc : str
        A markdown file relative to ``root``; the regions :data:`DOCS` lists for it must be
        there (a deleted marker would otherwise pass ``--check`` silently).

    Returns
    -------
    Result
        The new text, the regions whose text changed, and one line per problem.
    """
    text = (root / doc).read_text()
    result = Result(text)
    found = [m["name"] for m in REGION.finditer(text)]
    result.problems += [
        f"{doc}: no region <!-- table: {n} -->" for n in DOCS.get(doc, ()) if n not in found
    ]

    def replace(m: re.Match[str]) -> str:
        name = m["name"]
        if "<!-- table:" in m["body"]:  # its end marker lost: the match runs into the next
            result.problems.append(f"{doc}: table `{name}` has no <!-- end table -->")
            return m[0]
        if name not in REGIONS:
            result.problems.append(f"{doc}: unknown table `{name}` (known: {', '.join(REGIONS)})")
            return m[0]
        try:
            body = region_body(root, doc, name)
        except DocsTableError as e:
            result.problems.append(f"{doc}: table `{name}`: {e}")
            return m[0]
        if body != m["body"]:
            result.stale.append(name)
        return f"<!-- table: {name} -->\n{body}<!-- end table -->"

    result.text = REGION.sub(replace, text)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite (or with ``--check`` compare) every region of :data:`DOCS`; 1 on any
    difference or problem, each on one line."""
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a table is stale"
    )
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="the project folder (default: this one)"
    )
    args = parser.parse_args(argv)
    failed = False
    for doc in DOCS:
        if not (args.root / doc).is_file():
            print(f"{doc}: missing", file=sys.stderr)
            failed = True
            continue
        result = rewrite(args.root, doc)
        for line in result.problems:
            print(line, file=sys.stderr)
        failed |= bool(result.problems)
        if args.check:
            for name in result.stale:
                print(f"{doc}: table `{name}` is stale; run `make docs-tables`", file=sys.stderr)
            failed |= bool(result.stale)
        elif result.stale:
            write_bytes_atomic(args.root / doc, result.text.encode())
            print(f"{doc}: rewrote {', '.join(result.stale)}")
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())
