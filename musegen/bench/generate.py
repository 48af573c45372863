"""Generation speed, in notes per second: ``python -m musegen.bench.generate``.

Baselines, measured in the same run:
1. incremental decoding (state carried, O(1) per note) against re-running the window at
   every note (the paper's reference approach), at seq_len 25 and 400;
2. 64 pieces decoded as one batch against one piece.
The network is an untrained LSTM(128) ``NoteNet``: speed does not depend on the weights.
"""

from __future__ import annotations

import argparse
import sys

import torch

from musegen.bench.report import Row
from musegen.bench.timing import best_of
from musegen.generation.decode import generate
from musegen.generation.sampling import Picker, Sampling
from musegen.models.config import NoteNetConfig
from musegen.models.network import NoteNet

NUM_NOTES = 1000


def _net() -> NoteNet:
    net = NoteNet(
        NoteNetConfig(
            net={
                "_target_": "musegen.models.backbones.LSTMBackbone",
                "hidden_size": 128,
                "num_layers": 1,
                "dropout": 0.0,
            }
        )
    )
    return net.eval()


def _primer(batch: int, length: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "pitch": torch.randint(40, 80, (batch, length), generator=g),
        "step": torch.rand(batch, length, generator=g),
        "duration": torch.rand(batch, length, generator=g),
        "track": torch.zeros(batch, length, dtype=torch.int64),
    }


def notes_per_second(
    net: NoteNet, batch: int, seq_len: int, mode: str, n: int, repeats: int = 3
) -> float:
    """Generated notes per second, all pieces of the batch counted (best of ``repeats``)."""
    primer = _primer(batch, seq_len)

    def run() -> None:
        pick = Picker(Sampling(), torch.Generator().manual_seed(0))
        generate(net, primer, n, pick, mode, seq_len)

    return batch * n / best_of(run, repeats).best


def main(argv: list[str] | None = None) -> None:
    run(argv)


def run(argv: list[str] | None = None) -> list[Row]:
    """Print and return the rows: incremental vs window re-run, batched vs one piece."""
    parser = argparse.ArgumentParser(prog="python -m musegen.bench.generate", description=__doc__)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the best is kept")
    args = parser.parse_args(argv)
    net = _net()
    print(
        f"generation of {NUM_NOTES} notes, untrained NoteNet LSTM(128), CPU "
        f"({torch.get_num_threads()} threads); best of {args.repeats}"
    )
    rows = []
    for seq_len in (25, 400):
        inc = notes_per_second(net, 1, seq_len, "incremental", NUM_NOTES, args.repeats)
        n_win = NUM_NOTES if seq_len <= 25 else 200  # the baseline is slow; rate is per note
        win = notes_per_second(net, 1, seq_len, "window", n_win, args.repeats)
        print(
            f"  seq_len {seq_len:>3}: incremental {inc:9.0f} notes/s | window re-run "
            f"(baseline) {win:9.0f} notes/s | ratio {inc / win:5.1f}x "
            f"(target >= {2 if seq_len == 25 else 8}x)"
        )
        rows.append(
            Row(
                "generate",
                f"generation, seq_len {seq_len}, one piece",
                "notes/s",
                inc,
                "incremental (state carried)",
                win,
                "window re-run at every note",
                higher_is_better=True,
                target=f">= {2 if seq_len == 25 else 8}x",
            )
        )
    one = notes_per_second(net, 1, 25, "incremental", NUM_NOTES, args.repeats)
    many = notes_per_second(net, 64, 25, "incremental", NUM_NOTES, args.repeats)
    print(
        f"  batch: 64 pieces {many:9.0f} notes/s | 1 piece (baseline) {one:9.0f} notes/s | "
        f"ratio {many / one:5.1f}x (target >= 20x)"
    )
    rows.append(
        Row(
            "generate",
            "generation, seq_len 25, incremental",
            "notes/s",
            many,
            "64 pieces as one batch",
            one,
            "one piece",
            higher_is_better=True,
            target=">= 20x",
        )
    )
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
