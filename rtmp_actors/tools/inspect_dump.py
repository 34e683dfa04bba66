"""``rtmp-actors inspect``: decode a raw dump of one direction of an RTMP connection.

INTERFACE STUB: filled in with the protocol core.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser"]


def add_parser(subcommands: Any) -> None:
    """Register the ``inspect`` subcommand."""
    parser: argparse.ArgumentParser = subcommands.add_parser(
        "inspect",
        help="decode a raw byte dump of one direction of an RTMP connection",
        description=(
            "Decode a raw dump of the bytes one side of an RTMP connection sent (starting at C0 "
            "or S0) and print one JSON object per message."
        ),
    )
    parser.add_argument("file", help="the dump file ('-' for standard input)")
    parser.add_argument(
        "--role",
        choices=("client", "server"),
        required=True,
        help="who sent the bytes: the client (dump starts with C0) or the server (S0)",
    )
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    raise NotImplementedError
