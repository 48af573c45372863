"""``trainer=ddp`` on 2 CPU processes (gloo) learns what one process learns with the same global
batch: the same loss at each of 20 steps and the same weights at the end, within float
tolerance. Both runs go through the real CLI, as a user starts them; Lightning re-launches
``python -m musegen.train`` for rank 1. About a minute on 2 cores."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch

from tests.conftest import ROOT, small

STEPS = 20


def _train(out: Path, data_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    args = [a for a in small(data_dir) if a != "trainer=cpu"]
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "musegen.train",
            *args,
            f"hydra.run.dir={out}",
            f"trainer.limit_train_batches={STEPS}",
            "trainer.log_every_n_steps=1",
            "trainer.limit_val_batches=1.0",  # all: the per-process batch differs
            "test=false",
            "evaluate.enabled=false",
            "model.net.dropout=0.0",
            "seed=3",
            *extra,
        ],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=400,
    )


def _losses(run: Path, key: str = "train/loss_step") -> list[float]:
    with open(run / "csv" / "metrics.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get(key)]
    return [float(r[key]) for r in sorted(rows, key=lambda r: int(r["step"]))]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


@pytest.mark.slow  # ~15 s on 2 cores: two DDP processes and one plain run
@pytest.mark.timeout(600)
def test_ddp_on_two_processes_matches_one_process(session_data_dir: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    proc = _train(one, session_data_dir, "trainer=cpu", "data.batch_size=32")
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = _train(
        two,
        session_data_dir,
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "data.batch_size=16",  # per process: the same global batch of 32
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    a, b = _losses(one), _losses(two)
    assert len(a) == len(b) == STEPS
    torch.testing.assert_close(torch.tensor(b), torch.tensor(a), rtol=1e-4, atol=1e-5)
    assert a[0] != a[-1]  # it trained: the comparison is not of a constant
    wa, wb = _weights(one), _weights(two)
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wb[key], wa[key], rtol=1e-4, atol=1e-5, msg=key)
    ma = json.loads((one / "metrics.json").read_text())
    mb = json.loads((two / "metrics.json").read_text())
    assert ma["global_step"] == mb["global_step"] == STEPS
    # validation ran whole on each rank; its sums are reduced over both, so the mean is exact
    va, vb = _losses(one, "val/loss"), _losses(two, "val/loss")
    assert len(va) == len(vb) == 1 and abs(va[0] - vb[0]) < 1e-4


class Dtypes(L.Callback):
    """Record the dtype of the backbone's and the heads' outputs during training steps."""

    def __init__(self) -> None:
        self.seen: dict[str, set] = {"backbone": set(), "heads": set()}

    def on_train_start(self, trainer, pl_module) -> None:
        def hook(name: str):
            def record(module, inputs, output) -> None:
                first = output[0] if isinstance(output, tuple) else output
                first = next(iter(first.values())) if isinstance(first, dict) else first
                self.seen[name].add(first.dtype)

            return record

        pl_module.net.backbone.register_forward_hook(hook("backbone"))
        pl_module.net.heads.register_forward_hook(hook("heads"))


def test_bf16_mixed_precision_trains_on_cpu(session_data_dir: Path, tmp_path: Path) -> None:
    """bf16 really runs (the encoder and heads compute in bfloat16), and the recurrent
    backbone stays in float32, which oneDNN needs on many CPUs (``NoteNet.hidden``)."""
    from musegen.train import compose_config
    from musegen.training import train

    dtypes = Dtypes()
    cfg = compose_config(
        small(session_data_dir, "trainer.precision=bf16-mixed", "evaluate.enabled=false"),
        output_dir=str(tmp_path / "bf16"),
    )
    metrics = train(cfg, extra_callbacks=[dtypes])
    assert dtypes.seen["heads"] == {torch.bfloat16}
    assert dtypes.seen["backbone"] == {torch.float32}
    assert metrics["status"] == "finished" and metrics["test/loss"] == metrics["test/loss"]
