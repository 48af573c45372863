"""A backbone from outside musegen trains, generates and reloads from its checkpoint.

``tests/plugin`` is a researcher's own package (a causal convolution backbone): it is
``pip install``ed into a scratch folder, registered by its entry point under
``musegen.backbones``, and its config is found through ``hydra.searchpath`` — no line of
musegen changed. Unregistered classes are refused, in training and when loading.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT

PLUGIN = ROOT / "tests" / "plugin"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip install`` the plugin package into a folder that goes on PYTHONPATH."""
    work = tmp_path_factory.mktemp("plugin")
    shutil.copytree(PLUGIN, work / "src")  # setuptools writes build files beside the source
    target = work / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(work / "src"),
        ],
        check=True,
        capture_output=True,
    )
    assert (target / "musegen_causal_conv").is_dir()
    return target


def _run(module: str, args: list[str], site: Path | None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _train_args(tmp_path: Path, data_dir: Path) -> list[str]:
    return [
        f"hydra.searchpath=[file://{PLUGIN / 'conf'}]",
        "model=causal_conv",
        "debug=fast",
        "logger=csv",
        "trainer.enable_progress_bar=false",
        "evaluate.max_songs=4",
        "evaluate.max_notes=32",
        "evaluate.num_samples=1",
        "evaluate.audio=false",
        f"paths.data_dir={data_dir}",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]


@pytest.mark.slow  # ~15 s on 2 cores: a CLI training; make test runs the recipe's backbone
def test_a_registered_backbone_trains_generates_and_reloads(
    installed: Path, session_data_dir: Path, tmp_path: Path
) -> None:
    done = _run("musegen.train", _train_args(tmp_path, session_data_dir), installed)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["model"] == "causal_conv" and metrics["test/pitch_loss"] > 0
    # the end-of-run evaluation decoded it; its keys do not carry the model's name
    assert "eval/sim_pitch" in metrics and "eval/sim_pitch/causal_conv" not in metrics
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    stored = torch.load(ckpt, weights_only=True)["musegen"]["network"]["net"]
    assert stored["_target_"] == "musegen_causal_conv.CausalConvBackbone"

    out = tmp_path / "samples"
    args = [
        f"ckpt_path={ckpt}",
        "primer=none",
        "num_samples=2",
        "num_notes=20",
        "audio=false",
        f"out_dir={out}",
        f"hydra.run.dir={tmp_path / 'gen'}",
    ]
    done = _run("musegen.generate", args, installed)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "generation.json").read_text())
    assert [s["notes"] for s in summary["samples"]] == [20, 20]

    # the same checkpoint where the package is not installed: refused in one line
    done = _run("musegen.generate", args, None)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "nor registered under the entry-point group musegen.backbones" in done.stderr


def test_an_unregistered_backbone_is_refused_before_training(
    session_data_dir: Path, tmp_path: Path
) -> None:
    """The package importable but not installed (no entry point): one line, no run."""
    done = _run("musegen.train", _train_args(tmp_path, session_data_dir), PLUGIN)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "error: model.net._target_: 'musegen_causal_conv.CausalConvBackbone' is neither"
        )
    )
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_the_plugin_backbone_keeps_its_state_across_chunks() -> None:
    """The interface's contract, on the plugin: chunks with the carried state = one pass."""
    sys.path.insert(0, str(PLUGIN))
    try:
        from musegen_causal_conv import CausalConvBackbone
    finally:
        sys.path.remove(str(PLUGIN))
    torch.manual_seed(0)
    net = CausalConvBackbone(input_size=6, hidden_size=8).eval()
    x = torch.randn(2, 9, 6)
    full, _ = net(x)
    first, state = net(x[:, :5])
    pieces = [first]
    for t in range(5, 9):
        out, state = net(x[:, t : t + 1], state)
        pieces.append(out)
    torch.testing.assert_close(torch.cat(pieces, dim=1), full)
