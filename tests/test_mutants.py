"""``make mutants``' own code, without mutmut: the report's counts and the marks it keeps
(experiments/mutants/report.py), and the private copy each group runs in (run.py).

The marks are what makes a re-run worth reading: a mark must follow its mutant when mutmut
renumbers the function's mutants, and a survivor nobody explained must stand out.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from tests.conftest import ROOT

MUTANTS = ROOT / "experiments" / "mutants"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"mutants_{name}", MUTANTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _diff(old: str, new: str) -> str:
    return f"--- musegen/sweeps.py\n+++ musegen/sweeps.py\n@@ -1,2 +1,2 @@\n-{old}\n+{new}"


@pytest.fixture()
def report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """report.py reading and writing in ``tmp_path``."""
    module = _load("report")
    monkeypatch.setattr(module, "HERE", tmp_path)
    monkeypatch.setattr(module, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(module, "REPORT", tmp_path / "report.md")
    (tmp_path / "results").mkdir()
    return module


def test_a_mutants_module_and_changed_lines(report: ModuleType) -> None:
    assert report.module_of("musegen.sweeps.x_run_job__mutmut_3") == "musegen/sweeps.py"
    assert report.module_of("musegen.models.heads.x_make_heads__mutmut_1") == (
        "musegen/models/heads/__init__.py"  # mutmut names a package's mutants after it
    )
    assert report.module_of("musegen.sweeps.xǁSweepReportǁon_multirun_end__mutmut_5") == (
        "musegen/sweeps.py"
    )
    assert report.changed_lines(_diff("    a = 1", "    a = 2")) == ["-    a = 1", "+    a = 2"]


def test_the_report_counts_and_keeps_the_marks(report: ModuleType, tmp_path: Path) -> None:
    f = "musegen.sweeps.x_summary__mutmut_"
    diffs = {
        f"{f}3": _diff("    x = 1", "    x = 2"),  # marked equivalent as _2: renumbered
        f"{f}4": _diff("    y = 1", "    y = None"),  # its id's mark is of another change
        f"{f}5": _diff("    z = 1", "    z = 0"),  # marked fixed, yet it survives
    }
    status = {f"{f}1": "killed", **dict.fromkeys(diffs, "survived")}
    result = {"group": "g", "modules": ["musegen/sweeps.py"], "tests": [], "mutmut": "3.8.1"}
    result |= {"jobs": 1, "seconds": 10.0, "mutants_per_second": 2.0}
    result |= {"status": status, "diffs": diffs}
    (tmp_path / "results" / "g.json").write_text(json.dumps(result))
    marks = {
        f"{f}1": {"change": ["-old", "+new"], "fixed_by": "tests/test_x.py::test_one"},
        f"{f}2": {"change": ["-    x = 1", "+    x = 2"], "equivalent": "x is never read"},
        f"{f}4": {"change": ["-    y = 1", "+    y = 2"], "equivalent": "before an edit"},
        f"{f}5": {"change": ["-    z = 1", "+    z = 0"], "fixed_by": "tests/test_x.py::test_z"},
        f"{f}9": {"change": ["-gone", "+gone"], "equivalent": "a mutant no more"},
    }
    (tmp_path / "survivors.yaml").write_text(yaml.safe_dump(marks, allow_unicode=True))
    text = report.write_report().read_text()
    assert "| `musegen/sweeps.py` | 4 | 1 | 3 | 0 | 0 | 0 | 25.0% (below target) |" in text
    assert "| g | `musegen/sweeps.py` | 3.8.1 | ? | 1 | 4 | 10 s | 0.50 s |" in text
    assert f"- `{f}3` (survived): equivalent: x is never read (marked as `{f}2`)" in text
    assert f"- `{f}4` (survived): **unexplained**" in text
    assert f"- `{f}5` (survived): **still survived**, although marked fixed by `" in text
    assert f"- `{f}1`: by `tests/test_x.py::test_one`" in text  # marked fixed, now killed
    stale = text.split("## Stale marks")[1].split("\n\n")[1]
    assert stale == f"- `{f}4`\n- `{f}9`"
    assert "Unexplained survivors: 1." in text
    assert "  +    y = None" in text  # each survivor's diff, indented under it


def test_a_group_runs_in_a_copy_that_mutates_its_modules_only() -> None:
    group = {"modules": ["musegen/metrics/overlap.py"], "tests": ["tests/test_overlap.py", "-x"]}
    run = _load("run")
    copy = run.project_copy(group)
    try:
        settings = run.tomllib.loads((copy / "pyproject.toml").read_text())["tool"]
        ours = run.tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
        assert settings["mutmut"] == {
            **ours["mutmut"],
            "only_mutate": group["modules"],
            "pytest_add_cli_args_test_selection": group["tests"],
        }
        assert settings["pytest"] == ours["pytest"]  # the rest of the file as it was
        assert (copy / "musegen" / "metrics" / "overlap.py").read_text() == (
            ROOT / "musegen" / "metrics" / "overlap.py"
        ).read_text()
        assert (copy / "conf" / "train.yaml").is_file() and (copy / "tests").is_dir()
    finally:
        shutil.rmtree(copy)
