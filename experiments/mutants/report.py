"""``report.md`` from the mutation runs kept in ``results/`` and the hand-kept ``survivors.yaml``.

    python experiments/mutants/report.py

A mutant that survives is either equivalent (no test can tell it from the code: say why) or
a missing test (write it, then say which test kills it); ``survivors.yaml`` holds these
markings by mutant id, each with the lines the mutant changed, so that a mark follows its
mutant when mutmut renumbers a function's mutants, and a survivor nobody has explained is
listed as **unexplained**. Run by ``run.py`` after every run; run it alone after editing
``survivors.yaml``.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RESULTS = HERE / "results"
REPORT = HERE / "report.md"
TARGET = 0.85
"""The share of mutants the tests must kill, per module."""
CAUGHT = ("killed", "timeout")  # a mutant that makes the tests hang is caught too
UNCOUNTED = ("skipped", "not checked")


def changed_lines(diff: str) -> list[str]:
    """The lines a mutant removes and adds (``-``/``+``, without the file headers)."""
    return [
        line
        for line in diff.splitlines()
        if line[:1] in "-+" and not line.startswith(("---", "+++"))
    ]


def module_of(mutant: str) -> str:
    """``musegen.sweeps.x_run_job__mutmut_3`` -> ``musegen/sweeps.py`` (or a package's
    ``__init__.py``, whose mutants mutmut names after the package)."""
    path = mutant.rsplit(".", 1)[0].replace(".", "/")
    return f"{path}/__init__.py" if (REPO / path).is_dir() else f"{path}.py"


def function_of(mutant: str) -> str:
    return mutant.rsplit("__mutmut_", 1)[0]


def load_results() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]


def load_marks() -> dict[str, dict]:
    path = HERE / "survivors.yaml"
    return (yaml.safe_load(path.read_text()) if path.is_file() else None) or {}


def find_mark(mutant: str, diff: str, marks: dict[str, dict]) -> tuple[str, dict] | None:
    """The mark of this mutant: by its id with the same change, else (renumbered) any mark
    of the same function with the same change."""
    change = changed_lines(diff)
    mark = marks.get(mutant)
    if mark and mark.get("change") == change:
        return mutant, mark
    for key, mark in marks.items():
        if function_of(key) == function_of(mutant) and mark.get("change") == change:
            return key, mark
    return None


def verdict(mutant: str, status: str, found: tuple[str, dict] | None) -> str:
    if found is None:
        return "**unexplained**"
    key, mark = found
    moved = "" if key == mutant else f" (marked as `{key}`)"
    if "equivalent" in mark:
        return f"equivalent: {mark['equivalent']}{moved}"
    return f"**still {status}**, although marked fixed by `{mark.get('fixed_by')}`{moved}"


def score_table(results: list[dict]) -> list[str]:
    counts: dict[str, Counter] = {}
    for result in results:
        for mutant, status in result["status"].items():
            counts.setdefault(module_of(mutant), Counter())[status] += 1
    rows = [
        "| module | mutants | killed | survived | no tests | timeout | other | killed % |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    total = Counter()
    for module in sorted(counts):
        c = counts[module]
        total.update(c)
        rows.append(_row(f"`{module}`", c))
    if len(counts) > 1:
        rows.append(_row("**all**", total))
    return rows


def _row(name: str, c: Counter) -> str:
    tested = sum(c.values()) - sum(c[s] for s in UNCOUNTED)
    caught = sum(c[s] for s in CAUGHT)
    other = tested - caught - c["survived"] - c["no tests"]
    share = caught / tested if tested else float("nan")
    flag = "" if share >= TARGET else " (below target)"
    return (
        f"| {name} | {sum(c.values())} | {c['killed']} | {c['survived']} | {c['no tests']} "
        f"| {c['timeout']} | {other} | {share:.1%}{flag} |"
    )


def write_report() -> Path:
    results, marks = load_results(), load_marks()
    status = {m: s for r in results for m, s in r["status"].items()}
    lines = [
        "# Mutation testing",
        "",
        "Written by `experiments/mutants/report.py` from `results/*.json` (one per group of",
        "`modules.yaml`, written by `make mutants`, i.e. `python experiments/mutants/run.py`)",
        "and the hand-kept `survivors.yaml`. What the tool is and when to run it:",
        'CONTRIBUTING.md, "Mutation testing". Target: '
        f"at least {TARGET:.0%} of each module's mutants killed.",
        "",
        "Time: the whole run of a group (the copy, its tests' first runs, the mutants); per",
        "mutant: the mutants' part alone, divided by their number (`workers` at once).",
        "",
        "| group | modules | mutmut | when | workers | mutants | time | per mutant |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        rate = r.get("mutants_per_second")
        lines.append(
            f"| {r['group']} | {', '.join(f'`{m}`' for m in r['modules'])} | {r['mutmut']} "
            f"| {r.get('date', '?')} | {r['jobs']} | {len(r['status'])} | {r['seconds']:.0f} s "
            f"| {f'{1 / rate:.2f} s' if rate else '?'} |"
        )
    lines += ["", "## Killed, by module", "", *score_table(results), ""]
    lines += ["## Survivors", ""]
    used: set[str] = set()
    unexplained = 0
    for r in results:
        for mutant, diff in r["diffs"].items():
            found = find_mark(mutant, diff, marks)
            if found:
                used.add(found[0])
            unexplained += found is None
            state = r["status"][mutant]
            lines += [
                f"- `{mutant}` ({state}): {verdict(mutant, state, found)}",
                "",
                "  ```diff",
                *(f"  {line}" for line in changed_lines(diff)),
                "  ```",
                "",
            ]
    if not any(r["diffs"] for r in results):
        lines += ["None.", ""]
    fixed = [k for k in marks if k not in used and status.get(k) in CAUGHT]
    stale = [k for k in marks if k not in used and k not in fixed and module_run(k, results)]
    if fixed:
        lines += ["## Marked fixed, now killed", ""]
        lines += [
            f"- `{k}`: by `{marks[k]['fixed_by']}`"
            if "fixed_by" in marks[k]
            else f"- `{k}`: was marked equivalent, yet a test kills it: remove the mark"
            for k in fixed
        ] + [""]
    if stale:
        lines += ["## Stale marks (no such survivor now: remove them)", ""]
        lines += [f"- `{k}`" for k in stale] + [""]
    lines += [f"Unexplained survivors: {unexplained}.", ""]
    REPORT.write_text("\n".join(lines))
    return REPORT


def module_run(mutant: str, results: list[dict]) -> bool:
    """Whether the last results cover the module of ``mutant`` (else its mark waits)."""
    return any(module_of(mutant) == module_of(m) for r in results for m in r["status"])


if __name__ == "__main__":
    print(f"wrote {write_report().relative_to(REPO)}")
