"""Run every benchmark: ``python -m musegen.bench [data|train|generate ...]``.

Each benchmark prints its own ratios against a named baseline measured in the same run.
Run them on an otherwise idle machine: a concurrent job slows PyTorch on 2 cores many-fold.
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ("data", "train", "generate")


def main(argv: list[str] | None = None) -> int:
    """``python -m musegen.bench [name ...]``: each named benchmark (all by default) with its
    own default arguments; run ``python -m musegen.bench.<name> --help`` for its options."""
    names = list(argv if argv is not None else sys.argv[1:]) or list(BENCHMARKS)
    for name in names:
        if name not in BENCHMARKS:
            print(f"unknown benchmark {name!r}; choose from {list(BENCHMARKS)}", file=sys.stderr)
            return 2
    for name in names:
        try:
            module = importlib.import_module(f"musegen.bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"musegen.bench.{name}":
                print(f"== {name}: not available yet", flush=True)
                continue
            raise
        print(f"== {name}", flush=True)
        module.main([])  # its defaults: the names above are not its arguments
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
