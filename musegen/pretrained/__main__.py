"""``python -m musegen.pretrained``: the trained models that come with the package.

    python -m musegen.pretrained                 # their names, data, size and test figures
    python -m musegen.pretrained export RUN NAME --data TEXT --licence TEXT [--check SONG ...]
        [--sampling KEY=VALUE ... --sampling-source TEXT]

``export`` writes ``musegen/pretrained/<NAME>.ckpt`` (half-precision weights of the run's
tested checkpoint) and its card (``.md``, ``.json``) from the run folder's records.
``--sampling`` sets sampling rules chosen after the run (keys under ``sampling``), which the
shipped model then uses by default; ``--sampling-source`` says where they were chosen.
"""

from __future__ import annotations

import argparse
import sys

from musegen.errors import run_reported
from musegen.pretrained import card, names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m musegen.pretrained", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    export = sub.add_parser("export", help="make a pretrained model from a run folder")
    export.add_argument("run", help="a finished run folder (metrics.json, .hydra/, checkpoints/)")
    export.add_argument("name", help="the model's name: ckpt_path=pretrained:<name>")
    export.add_argument("--data", required=True, help="what it was trained on, in words")
    export.add_argument("--licence", required=True, help="its licence (the data's)")
    export.add_argument("--title", default=None, help="a one-line description")
    export.add_argument(
        "--check", nargs="*", default=[], help="MIDI files whose note NLL the card records"
    )
    export.add_argument(
        "--sampling",
        nargs="*",
        default=[],
        help="KEY=VALUE sampling settings chosen after the run (e.g. pitch.harmony=0.6)",
    )
    export.add_argument(
        "--sampling-source", default=None, help="where the --sampling settings were chosen"
    )
    args = parser.parse_args(argv)

    def body() -> int:
        if args.command == "export":
            from musegen.pretrained.export import export_run

            path = export_run(
                args.run,
                args.name,
                args.data,
                args.licence,
                args.title,
                args.check,
                sampling=args.sampling,
                sampling_source=args.sampling_source,
            )
            print(f"wrote {path} and its card")
            return 0
        for name in names():
            c = card(name)
            print(
                f"pretrained:{name:<8} {c['title']} ({c['parameters']:,} parameters, "
                f"{c['size_mb']:.1f} MB; test note NLL {c['test']['test/note_nll']:.3f}; "
                f"licence {c['licence']})"
            )
        return 0

    return run_reported(body, prog="musegen.pretrained")


if __name__ == "__main__":
    sys.exit(main())
