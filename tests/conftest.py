"""Shared fixtures: the real music in ../shared/data and session-wide built datasets."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

# One intra-op thread in tests (and in the CLIs they start): nothing here measures speed, and
# on a shared 2-core machine OpenMP's spin-waiting threads slow small models many-fold as
# soon as another job runs (seen here: a 0.3 s test taking 60 s).
os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch

torch.set_num_threads(1)

# A test run started in the background without job control (`cmd &` in a script, as a CI
# runner may) inherits SIGINT ignored, and so would every CLI the tests start: the code keeps
# an ignored signal ignored (musegen.errors), so the Ctrl-C tests would see no stop. The
# tests run with Python's usual Ctrl-C handler, however they were started.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

ROOT = Path(__file__).resolve().parents[1]
MODELS = tuple(sorted(p.stem for p in (ROOT / "conf" / "model").glob("*.yaml")))
"""Every backbone with a config, read from ``conf/model/`` (a new one is tested without edits)."""
SHARED_DATA = Path(os.environ.get("MUSEGEN_SHARED_DATA", ROOT.parent / "shared" / "data"))
LPD5_FILE = SHARED_DATA / "lpd" / "lpd5_cleansed_TRAAAGR128F425B14B.npz"
LPD17_FILE = SHARED_DATA / "lpd" / "lpd17_cleansed_TRAAAGR128F425B14B.npz"
LABELS = SHARED_DATA / "lpd" / "labels.tar.gz"
LMD_MIDI = SHARED_DATA / "lmd_midi"
CORRUPT_MIDI = SHARED_DATA / "corrupt_midi"


def need(path: Path) -> Path:
    """Skip the calling test, with the reason, when a piece of ../shared/data is absent."""
    if not path.exists():
        pytest.skip(f"needs {path} (the project's real-music folder ../shared/data is absent)")
    return path


def small(data_dir: Path, *extra: str) -> list[str]:
    """The real training config, shrunk: 40 chorales, a small net, a few batches, CSV log."""
    return [
        f"paths.data_dir={data_dir}",
        "data.max_songs=40",
        "data.progress=false",
        "data.num_workers=0",
        "data.batch_size=32",
        "logger=csv",
        "trainer=cpu",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=4",
        "trainer.limit_val_batches=2",
        "trainer.limit_test_batches=2",
        "trainer.num_sanity_val_steps=0",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "model.net.hidden_size=32",
        "task.head_width=32",
        "evaluate.max_notes=64",
        "evaluate.scratch_samples=8",
        "evaluate.scratch_bars=4",
        "evaluate.reference_samples=16",
        *extra,
    ]


def run_cli(module: str, *args: str, cwd: Path = ROOT, timeout: float = 300):
    """``python -m <module> <args>`` as a user runs it (one thread, see above)."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def tiny_run(session_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small LSTM-GRU trained for a few batches on 40 chorales, evaluated at its end; its
    run folder is complete (``.hydra/config.yaml`` as a Hydra CLI run writes it)."""
    from omegaconf import OmegaConf

    from musegen.train import compose_config
    from musegen.training import train

    out = tmp_path_factory.mktemp("tiny-run")
    cfg = compose_config(
        small(session_data_dir, "trainer.limit_train_batches=6"), output_dir=str(out)
    )
    train(cfg)
    config = out / ".hydra" / "config.yaml"
    if not config.exists():  # a Hydra CLI run writes it; a programmatic one does not
        config.parent.mkdir(exist_ok=True)
        OmegaConf.save(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), config)
    return out


@pytest.fixture(scope="session")
def tiny_ckpt(tiny_run: Path) -> Path:
    return tiny_run / "checkpoints" / "last.ckpt"


LAKH_TRACKS = ("Drums", "Piano", "Bass")


@pytest.fixture(scope="session")
def lakh_run(
    session_data_dir: Path, lmd_lpd5: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A small LSTM-GRU trained for a few batches on 12 Lakh songs, three tracks (Drums,
    Piano, Bass) and velocity classes fitted on them: a model that accompanies and plays
    dynamics. Its run folder is complete; no evaluation (the tests that need one make it)."""
    from omegaconf import OmegaConf

    from musegen.train import compose_config
    from musegen.training import train

    out = tmp_path_factory.mktemp("lakh-run")
    cfg = compose_config(
        small(
            session_data_dir,
            "data=lpd5",
            f"data.root={lmd_lpd5}",
            "data.max_songs=12",
            f"data.tracks=[{','.join(LAKH_TRACKS)}]",
            "task.velocity_classes=6",
            "evaluate.enabled=false",
            "test=false",
        ),
        output_dir=str(out),
    )
    train(cfg)
    config = out / ".hydra" / "config.yaml"
    config.parent.mkdir(exist_ok=True)
    OmegaConf.save(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), config)
    return out


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return need(SHARED_DATA)


@pytest.fixture(scope="session")
def session_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ``paths.data_dir`` for the whole session, so datasets are built once."""
    return tmp_path_factory.mktemp("musegen-data")


@pytest.fixture(scope="session")
def bach_small(session_data_dir: Path) -> Path:
    """The first 24 Bach chorales built as LPD-5 files (real music, ~5 s); returns data_dir."""
    from musegen.data.bach import build_bach

    files = build_bach(session_data_dir / "bach" / "lpd5", max_songs=24, progress=False)
    assert len(files) == 24
    return session_data_dir


@pytest.fixture(scope="session")
def lmd_lpd5(session_data_dir: Path) -> Path:
    """../shared/data/lmd_midi converted to an LPD-5 folder once; returns the folder."""
    from musegen.data.convert import convert_tree

    dest = session_data_dir / "lmd_lpd5"
    convert_tree(need(LMD_MIDI), dest, workers=2, progress=False)
    return dest


@pytest.fixture()
def read_only_dir(tmp_path: Path):
    """A folder nobody can write into: ``chmod 555`` for a normal user; for root, who writes
    through permissions, a read-only tmpfs mounted there (skipped where mounting is denied)."""
    import subprocess

    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("running as root, and a read-only tmpfs cannot be mounted here")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)
