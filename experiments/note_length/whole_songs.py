"""Note NLL of whole songs read in one pass, the state carried from the first note to the last.

    python experiments/note_length/whole_songs.py OUT.md [--split val|test] [--mean] NAME=CKPT ...

The validation and test pass (``data.test_pass=song``) score every note once in windows of
``seq_len`` notes, each started afresh and re-reading half a window: the context a network
trained on random windows knows. A network trained on streams (``data.stream=true``) learnt
to carry its state through whole songs and has only seen a fresh state at a song's first
note. This scores both ways on the same notes: each song of the split in one pass from its
first note (every note after it a target, as in training), beside the checkpoint's own
windowed figure from its run's ``metrics.json``. Writes ``OUT.md``, a row per checkpoint
(``--mean``: and their mean).
Made for experiments/note_length/README.md, "Streams".
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

from musegen.data.windows import FEATURES
from musegen.generation.runs import load_run
from musegen.models.losses import LossWeights
from musegen.models.objective import batch_losses


def song_batch(split, index: int, track_lut: np.ndarray) -> dict[str, torch.Tensor]:  # type: ignore[no-untyped-def]
    """Song ``index`` of ``split`` as a batch of one window of all its notes, ``(1, n)``."""
    lo, hi = int(split.offsets[index]), int(split.offsets[index + 1])
    batch = {}
    for name, dtype in FEATURES.items():
        values = np.asarray(split.columns[name][lo:hi])
        if name == "track":
            values = track_lut[values]
        batch[name] = torch.as_tensor(
            values.astype(np.float32 if dtype == torch.float32 else np.int64)
        )[None]
    return batch


@torch.no_grad()
def whole_song_nll(ckpt: str, split_name: str) -> tuple[float, int]:
    """The mean note NLL over every note after each song's first, and how many."""
    run = load_run(ckpt)
    data_dir = os.environ.get("MUSEGEN_DATA_DIR", "data")  # as conf/paths reads it
    paths = {"root_dir": str(Path.cwd()), "data_dir": data_dir}  # run from the repository
    dm = run.datamodule(paths, command="evaluate")
    dm.prepare_data()
    dm.setup("test")
    net = run.net.eval()
    split = dm.splits[split_name]
    total, count = 0.0, 0
    for i in range(split.n_songs):
        batch = song_batch(split, i, dm.track_lut)
        if batch["pitch"].shape[1] < 2:
            continue
        losses, n = batch_losses(net, batch, "all", LossWeights(), 0.0)
        total += float(losses["note_nll"]) * n
        count += n
    return total / count, count


def main(argv: list[str]) -> None:
    mean = "--mean" in argv
    argv = [a for a in argv if a != "--mean"]
    split = "val"
    if "--split" in argv:
        at = argv.index("--split")
        split = argv[at + 1]
        del argv[at : at + 2]
    out, items = Path(argv[0]), argv[1:]
    lines = [
        f"# Note NLL of the {split} songs, whole songs against windows",
        "",
        "| run | whole songs, state carried | windows (the run's own, metrics.json) | notes |",
        "| --- | --- | --- | --- |",
    ]
    wholes, owns = [], []
    for item in items:
        name, _, ckpt = item.partition("=")
        nll, n = whole_song_nll(ckpt, split)
        metrics = Path(ckpt).parent.parent / "metrics.json"
        own = json.loads(metrics.read_text()).get(f"{split}/note_nll") if metrics.exists() else None
        own_cell = "–" if own is None else f"{own:.3f}"
        lines.append(f"| {name} | {nll:.3f} | {own_cell} | {n:,} |")
        print(lines[-1], flush=True)
        wholes.append(nll)
        owns.append(math.nan if own is None else own)
    if mean:
        lines.append(f"| mean | {statistics.fmean(wholes):.3f} | {statistics.fmean(owns):.3f} | |")
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
