"""Command-line entry points used by the Makefile and by readers re-running the study.

``python -m helpers prepare-model``        convert the embedded default model once
``python -m helpers run CONFIG``           run every stage of a study with papermill (skips finished runs)
``python -m helpers status CONFIG``        list done / pending / failed runs
``python -m helpers build-book CONFIG``    assemble the executed notebooks into the HTML book
``python -m helpers benchmark``            measure generation throughput on this machine
"""

from __future__ import annotations

import argparse
import sys


def _prepare_model(args: argparse.Namespace) -> int:
    from .models import prepare_embedded_model

    print(f"Embedded default model ready in {prepare_embedded_model(force=args.force)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m helpers", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    prepare = sub.add_parser("prepare-model", help="convert the embedded SmolLM2 GGUF into a Hugging Face folder")
    prepare.add_argument("--force", action="store_true", help="convert again even if the folder exists")
    prepare.set_defaults(func=_prepare_model)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
