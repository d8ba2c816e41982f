"""The ``polyalign`` command: a thin layer over the Python API.

Each area owns its sub-commands in a ``cli`` module exposing ``register(subparsers)``; this file only
wires them together and turns :class:`~polyalign.errors.PolyalignError` into a one-line message.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .console import configure
from .errors import PolyalignError

# (module, description) — imported lazily so `polyalign --help` stays fast.
COMMAND_MODULES = [
    "polyalign.models.cli",
    "polyalign.data.cli",
    "polyalign.data.synth.cli",
    "polyalign.train.cli",
    "polyalign.eval.cli",
    "polyalign.mine.cli",
    "polyalign.report_cli",
    "polyalign.demo",
    "polyalign.study",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="polyalign",
        description="Better multilingual sentence encoders from multi-way parallel text.",
    )
    parser.add_argument("--version", action="version", version=f"polyalign {__version__}")
    _add_output_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # area not present in this build
                continue
            raise
        module.register(sub)
    for command in sub.choices.values():
        _add_output_options(command)
    return parser


def _add_output_options(parser: argparse.ArgumentParser, top: bool = False) -> None:
    """``-v`` and ``--no-progress`` before or after the command (``polyalign train -v …``), also on
    nested commands (``polyalign data build …``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _add_output_options(child)
    # Below the top level the default is SUPPRESS, so a flag given before the command survives.
    default = False if top else argparse.SUPPRESS
    group = parser.add_argument_group("output") if top else parser
    if "--verbose" not in parser._option_string_actions:
        group.add_argument(
            "-v",
            "--verbose",
            action="store_true",
            default=default,
            help="debug logging, and the log lines and progress bars of transformers, datasets, …",
        )
    if "--no-progress" not in parser._option_string_actions:
        group.add_argument(
            "--no-progress",
            action="store_true",
            default=default,
            help="no progress bars (they are drawn only when stderr is a terminal anyway)",
        )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure(verbose=args.verbose, progress=not args.no_progress)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except PolyalignError as e:
        print(f"polyalign {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:  # training saves a checkpoint first and says where
        print(f"polyalign {args.command}: interrupted" + (f": {e}" if str(e) else ""), file=sys.stderr)
        return getattr(e, "exit_code", 130)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
