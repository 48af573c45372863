"""``python -m musegen.demo [--out DIR]`` (``make demo``): see ``musegen.demo``."""

from __future__ import annotations

import argparse
import sys

from musegen.demo import run_demo
from musegen.errors import run_reported


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m musegen.demo", description=__doc__)
    parser.add_argument("--out", default="logs/demo", help="where the pieces and page go")
    args = parser.parse_args(argv)

    def body() -> int:
        page = run_demo(args.out)
        print(f"wrote {page}: open it in a browser")
        return 0

    return run_reported(body, prog="musegen.demo")


if __name__ == "__main__":
    sys.exit(main())
