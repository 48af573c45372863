"""Shared fixtures: the real music in ../shared/data and session-wide built datasets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# One intra-op thread in tests (and in the CLIs they start): nothing here measures speed, and
# on a shared 2-core machine OpenMP's spin-waiting threads slow small models many-fold as
# soon as another job runs (seen here: a 0.3 s test taking 60 s).
os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
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
