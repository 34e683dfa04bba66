"""The ``rtmp-actors`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rtmp_actors import __version__
from rtmp_actors.tools import inspect_dump, pull, push, serve

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with one sub-parser per subcommand."""
    parser = argparse.ArgumentParser(
        prog="rtmp-actors", description="RTMP tools built on rtmp_actors."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve.add_parser(subcommands)
    inspect_dump.add_parser(subcommands)
    push.add_parser(subcommands)
    pull.add_parser(subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for commands that re-run themselves
    try:
        status: int = args.run(args)
    except BrokenPipeError:
        # The reader went away (``| head``); that is not an error of ours.
        sys.stderr.close()
        return 0
    return status
