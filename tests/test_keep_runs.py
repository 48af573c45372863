"""``experiments/keep_runs.py``: a sweep's records copied into experiments/ name no folder of
the machine that made them (the sweep, the checkout or worktree a job ran in, the shared
data beside it, ``MUSEGEN_DATA_DIR``), and what follows each placeholder stays."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.test_committed import MACHINE_PATH, PLACEHOLDER


def _keep_runs():
    spec = importlib.util.spec_from_file_location("keep_runs", ROOT / "experiments/keep_runs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_kept_records_name_placeholders_for_every_folder_of_the_machine(tmp_path: Path) -> None:
    keep = _keep_runs()
    worktree, data = tmp_path / "wt", tmp_path / "cache"
    sweep = worktree / "logs" / "sweep"  # inside the checkout: the longer path names it
    shared = keep.REPO.parent / "shared"
    job = sweep / "0"
    (job / ".hydra").mkdir(parents=True)
    (job / "csv").mkdir()
    (job / ".hydra" / "hydra.yaml").write_text(
        f"hydra:\n  runtime:\n    cwd: {worktree}\n    output_dir: {job}\n"
    )
    (job / "csv" / "hparams.yaml").write_text(
        f"data:\n  data_dir: {data}\n  root: {shared}/data/pop909\nconf: {worktree}/conf\n"
    )
    (job / "metrics.json").write_text(f'{{"output_dir": "{job}", "repo": "{keep.REPO}/x"}}')
    (sweep / "comparison.md").write_text(f"runs in `{sweep}`\n")
    dest = keep.keep_runs(sweep, tmp_path / "kept")
    hydra = (dest / "runs/0/.hydra/hydra.yaml").read_text()
    assert hydra == "hydra:\n  runtime:\n    cwd: <repo>\n    output_dir: <sweep>/0\n"
    hparams = (dest / "runs/0/csv/hparams.yaml").read_text()
    assert hparams == (
        "data:\n  data_dir: <data_dir>\n  root: <repo>/../shared/data/pop909\nconf: <repo>/conf\n"
    )
    metrics = (dest / "runs/0/metrics.json").read_text()
    assert metrics == '{"output_dir": "<sweep>/0", "repo": "<repo>/x"}'
    assert (dest / "comparison.md").read_text() == "runs in `<sweep>`\n"
    for path in dest.rglob("*"):
        if path.is_file():
            assert not MACHINE_PATH.search(PLACEHOLDER.sub("x", path.read_text())), path
