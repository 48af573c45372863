"""Mutation testing of the modules whose tests must catch one-line mistakes (``make mutants``).

    python experiments/mutants/run.py [--group NAME ...] [--jobs N] [--keep]

For each group of ``modules.yaml`` (modules, and the tests that exercise them), mutmut
(``[tool.mutmut]`` in pyproject.toml) mutates the modules and runs the group's tests against
every mutant; each group's outcome is kept in ``results/<group>.json`` (every mutant's status,
the diff of every one not killed, the run's time) and ``report.py`` then rewrites
``report.md`` from all of them and ``survivors.yaml``. A group not run keeps its last result.

mutmut runs in a private copy of the project (a temporary folder, removed after unless
``--keep``): it writes a mutated tree (``mutants/``) beside the sources, and the working tree
stays as it is while someone edits it. Not part of ``make test``: hours on 2 cores
(CONTRIBUTING.md, "Mutation testing").
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import yaml

try:
    import tomllib
except ImportError:  # Python 3.10: the toml package, which mutmut reads its config with
    import toml as tomllib

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
from report import RESULTS, write_report  # noqa: E402

COPIED = ("musegen", "tests", "conf")
SECTION = re.compile(r"^\[tool\.mutmut\]\n(?:(?!\[).*\n)*", re.M)
"""pyproject.toml's ``[tool.mutmut]`` table, up to the next table."""


def load_groups() -> dict[str, dict]:
    return yaml.safe_load((HERE / "modules.yaml").read_text())["groups"]


def project_copy(group: dict) -> Path:
    """A copy of the project whose ``[tool.mutmut]`` mutates ``group``'s modules only and
    selects its tests (the other settings as pyproject.toml has them)."""
    root = Path(tempfile.mkdtemp(prefix="musegen-mutants-"))
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in COPIED:
        shutil.copytree(REPO / name, root / name, ignore=ignore)
    text = (REPO / "pyproject.toml").read_text()
    base = SECTION.search(text)
    assert base, "pyproject.toml has no [tool.mutmut] table"
    settings = tomllib.loads(base.group(0))["tool"]["mutmut"]
    settings["only_mutate"] = list(group["modules"])
    settings["pytest_add_cli_args_test_selection"] = list(group["tests"])
    # JSON's strings, numbers, booleans and lists are TOML's
    table = "".join(f"{key} = {json.dumps(value)}\n" for key, value in settings.items())
    (root / "pyproject.toml").write_text(SECTION.sub(f"[tool.mutmut]\n{table}\n", text))
    return root


def mutmut(root: Path, *args: str, check: bool = True) -> str:
    """``mutmut <args>`` in ``root``: one intra-op thread (2 cores, forked workers), and the
    shared music where the tests look for it."""
    shared = os.environ.get("MUSEGEN_SHARED_DATA", str(REPO.parent / "shared" / "data"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MUSEGEN_SHARED_DATA": shared}
    exe = Path(sys.executable).with_name("mutmut")
    done = subprocess.run([str(exe), *args], cwd=root, env=env, capture_output=True, text=True)
    if check and done.returncode != 0:
        sys.exit(f"mutmut {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-3000:]}")
    return done.stdout


def run_group(name: str, group: dict, jobs: int, keep: bool) -> dict:
    root = project_copy(group)
    print(f"{name}: mutmut in {root}", flush=True)
    start = time.monotonic()
    try:
        out = mutmut(root, "run", "--max-children", str(jobs))
        seconds = time.monotonic() - start
        rate = re.findall(r"([\d.]+) mutations/second", out)
        listed = mutmut(root, "results", "--all", "true")
        status = dict(line.strip().rsplit(": ", 1) for line in listed.splitlines() if ": " in line)
        diffs = {
            mutant: mutmut(root, "show", mutant).split("\n", 1)[1].strip()
            for mutant, state in sorted(status.items())
            if state != "killed"
        }
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    return {
        "group": name,
        "modules": group["modules"],
        "tests": group["tests"],
        "mutmut": version("mutmut"),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "jobs": jobs,
        "seconds": round(seconds, 1),  # all of it: the copy, the tests' first runs, mutants
        "mutants_per_second": float(rate[-1]) if rate else None,  # the mutants alone
        "status": dict(sorted(status.items())),
        "diffs": diffs,
    }


def main(argv: list[str] | None = None) -> None:
    groups = load_groups()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--group", action="append", choices=list(groups), help="default: all")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="mutants at once")
    parser.add_argument("--keep", action="store_true", help="keep the private copy (debugging)")
    args = parser.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    for name in args.group or list(groups):
        result = run_group(name, groups[name], args.jobs, args.keep)
        path = RESULTS / f"{name}.json"
        path.write_text(json.dumps(result, indent=1) + "\n")
        print(f"{name}: {len(result['status'])} mutants in {result['seconds']:.0f} s -> {path}")
    print(f"wrote {write_report().relative_to(REPO)}")


if __name__ == "__main__":
    main()
