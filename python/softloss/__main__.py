"""Command line: ``python -m softloss [demo]`` or the ``softloss`` console script."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    from softloss import __version__

    parser = argparse.ArgumentParser(
        prog="softloss",
        description="PyTorch's softmax-family losses for NumPy arrays, computed in Rust.",
    )
    parser.add_argument("--version", action="version", version=f"softloss {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "demo", help="print the tutorial's worked examples, computed by softloss (the default)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (``sys.argv[1:]`` when None); returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command in (None, "demo"):
        from softloss._demo import render

        try:
            sys.stdout.write(render())
            sys.stdout.flush()
        except BrokenPipeError:  # `softloss | head`: stop quietly, as other CLI tools do
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
