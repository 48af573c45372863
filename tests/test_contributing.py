"""CONTRIBUTING.md's recipes (a backbone, a head design), followed literally in a copy of
the project.

Every fenced block of the recipe whose first line is ``# <path>`` is applied as written: a
new file is created with the block's text, an ``(append)`` block is added to the end of the
existing file. Then the recipe's own command trains and tests the new backbone
(with a scratch data folder and run folder added) in that copy, so the recipe cannot drift
from what the code needs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from musegen.data.lpd_io import read_lpd_npz
from musegen.data.pianoroll_notes import song_to_notes
from tests.conftest import ROOT

FENCE = re.compile(r"^( *)```(\w+)\n(.*?)^\1```", re.M | re.S)
HEADER = re.compile(r"^# (\S+?)(?: \(append\))?$")


def recipe_blocks(
    text: str, begin: str = "**Built in**", end: str = "**Your own package**"
) -> list[tuple[str, str]]:
    """``(language, code)`` of every fenced block between ``begin`` and ``end``, de-indented."""
    start = text.index(begin)
    section = text[start : text.index(end, start)]
    blocks = []
    for indent, language, body in FENCE.findall(section):
        lines = [line[len(indent) :] for line in body.splitlines()]
        blocks.append((language, "\n".join(lines) + "\n"))
    return blocks


def apply_block(code: str, project: Path) -> Path:
    """Write (or append) a ``# <path>``-headed block into ``project``; return the file."""
    first, _, rest = code.partition("\n")
    match = HEADER.match(first)
    assert match, f"a file block must start with '# <path>': {first!r}"
    path = project / match.group(1)
    if first.endswith("(append)"):
        assert path.is_file(), f"the recipe appends to {path}, which does not exist"
        path.write_text(path.read_text() + "\n" + rest)
    else:
        assert not path.exists(), f"the recipe's new file {path} already exists"
        path.write_text(rest)
    return path


def _run(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(project), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, *args], cwd=project, env=env, capture_output=True, text=True, timeout=300
    )


def _copy_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("musegen", "conf"):
        shutil.copytree(ROOT / name, project / name, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", project)
    return project


def _lint(paths: list[Path]) -> None:
    """The recipe's code meets the project's own lint rules."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff:
        lint = subprocess.run(
            [ruff, "check", *map(str, paths)], cwd=ROOT, capture_output=True, text=True
        )
        assert lint.returncode == 0, lint.stdout


def test_the_add_a_backbone_recipe_works_as_written(session_data_dir: Path, tmp_path: Path):
    blocks = recipe_blocks((ROOT / "CONTRIBUTING.md").read_text())
    project = _copy_project(tmp_path)

    written = [apply_block(code, project) for lang, code in blocks if lang in ("python", "yaml")]
    assert [p.relative_to(project).as_posix() for p in written] == [
        "musegen/models/backbones/gru_ln.py",
        "musegen/models/backbones/__init__.py",
        "conf/model/gru_ln.yaml",
    ]
    _lint(written[:2])

    commands = [c for lang, code in blocks if lang == "bash" for c in code.splitlines()]
    assert commands[0] == "python -m musegen.train model=gru_ln debug=fast"
    run_dir = tmp_path / "run"
    done = _run(
        project,
        *commands[0].split()[1:],
        "logger=csv",
        "evaluate.enabled=false",
        "trainer.enable_progress_bar=false",
        f"paths.data_dir={session_data_dir}",
        f"hydra.run.dir={run_dir}",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["model"] == "gru_ln" and metrics["test/pitch_loss"] > 0

    # what the checkpoint holds is the new backbone, by the name a later load resolves
    stored = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert stored["musegen"]["network"]["net"]["_target_"] == (
        "musegen.models.backbones.LayerNormGRUBackbone"
    )


@pytest.mark.slow  # ~25 s on 2 cores: trains and generates with the recipe's heads
def test_the_add_a_head_design_recipe_works_as_written(lmd_lpd5: Path, tmp_path: Path) -> None:
    """Two files of the package, nothing else: the new heads train on five tracks, the
    checkpoint rebuilds them by name, and ``musegen.generate`` draws notes with their
    ``draw`` (training only ever calls ``forward``)."""
    blocks = recipe_blocks(
        (ROOT / "CONTRIBUTING.md").read_text(), "**A new head design**", "## Adding a data source"
    )
    project = _copy_project(tmp_path)
    written = [apply_block(code, project) for lang, code in blocks if lang == "python"]
    assert [p.relative_to(project).as_posix() for p in written] == [
        "musegen/models/heads/track_pitch.py",
        "musegen/models/heads/__init__.py",
    ]
    _lint(written)
    commands = [c for lang, code in blocks if lang == "bash" for c in code.splitlines()]
    assert commands[0].startswith("python -m musegen.train task.heads=track_pitch data=midi")
    run_dir = tmp_path / "run"
    args = [a for a in commands[0].split()[1:] if not a.startswith(("data=", "data.root="))]
    done = _run(
        project,
        *args,
        "data=lpd5",  # the shared Lakh files, already converted by the session's fixture
        f"data.root={lmd_lpd5}",
        "logger=csv",
        "evaluate.enabled=false",
        "trainer.enable_progress_bar=false",
        f"paths.data_dir={tmp_path / 'data'}",
        f"hydra.run.dir={run_dir}",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test/pitch_loss"] > 0 and metrics["test/track_loss"] > 0
    stored = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert stored["musegen"]["network"]["heads"]["kind"] == "track_pitch"

    # generation: the heads' draw, through the picker (two tracks allowed), from scratch
    out = tmp_path / "generated"
    done = _run(
        project,
        "-m",
        "musegen.generate",
        f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}",
        "primer=none",
        "num_samples=2",
        "num_notes=16",
        "tracks=[Drums,Bass]",
        "audio=false",
        f"out_dir={out}",
        f"hydra.run.dir={tmp_path / 'generate'}",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    samples = json.loads((out / "generation.json").read_text())["samples"]
    assert [(s["primer_notes"], s["notes"]) for s in samples] == [(0, 16), (0, 16)]
    for i in range(2):
        notes = song_to_notes(read_lpd_npz(out / f"sample_{i:03d}.npz"))
        assert set(notes["track"].tolist()) <= {0, 3}  # LPD-5's Drums and Bass only
