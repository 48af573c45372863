"""Run every benchmark and write one report: ``python -m musegen.bench [--out DIR] [name ...]``.

Each benchmark measures its figures against a named baseline in the same run and returns
them as ``Row``s; this writes them all into ``DIR/bench.json`` and ``DIR/bench.md``
(``bench.report``). Run on an otherwise idle machine: a concurrent job slows PyTorch on 2
cores many-fold. ``python -m musegen.bench.<name> --help`` lists a benchmark's own options.
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
from pathlib import Path

from musegen.bench.report import Row, write_report

BENCHMARKS = ("data", "train", "generate", "test_pass", "audio", "prepare")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m musegen.bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: {BENCHMARKS})")
    parser.add_argument("--out", type=Path, default=Path("logs/bench"), help="report folder")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; choose from {list(BENCHMARKS)}")
    rows: list[Row] = []
    for name in args.names or BENCHMARKS:
        print(f"== {name}", flush=True)
        module = importlib.import_module(f"musegen.bench.{name}")
        rows += module.run([])  # its defaults: the names above are not its arguments
    command = "python -m musegen.bench " + shlex.join(argv if argv is not None else sys.argv[1:])
    path = write_report(rows, args.out, command.strip())
    print(f"report: {path} and {path.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
