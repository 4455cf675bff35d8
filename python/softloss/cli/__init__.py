"""The ``softloss`` command line (``python -m softloss`` is the same program).

- ``softloss demo`` (also a bare ``softloss``): the seed tutorial's worked examples as tables;
- ``softloss bench``: the side-by-side benchmark of :mod:`softloss.bench`, with a progress bar, a
  table of ratios to the memory limit and, with ``--plot``, a bar chart;
- ``softloss eval``: mean cross-entropy, perplexity, top-1 accuracy and a per-class table of
  ``.npy`` logits and targets, streamed from memory maps (:func:`softloss.cli.eval.evaluate`).

rich (tables, progress bars) and matplotlib (``--plot``) come with the ``cli`` extra and are
imported only by the commands that use them: without rich, ``demo`` prints plain text and
``bench`` / ``eval`` exit with status 2 and a one-line hint to install the extra.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["console", "error", "main", "parser"]

INSTALL_HINT = "pip install 'softloss[cli]'"


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_demo(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    commands.add_parser(
        "demo",
        help="print the tutorial's worked examples, computed by softloss (the default)",
        description="The seed tutorial's worked examples, computed by softloss, as tables.",
    )


def _add_bench(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from softloss.bench import add_arguments

    bench = commands.add_parser(
        "bench",
        help="time softloss against NumPy, SciPy, PyTorch and the memory limit",
        description="Time every softloss function side by side with the seed tutorial's NumPy "
        "code, SciPy and PyTorch (when importable) and the memory-traffic limit (the NumPy "
        "operation with the same reads and writes); report each as a ratio to the limit.",
    )
    add_arguments(bench)
    bench.add_argument(
        "--plot", metavar="FILE.png", help="also draw the ratios as a bar chart (matplotlib)"
    )


def _add_eval(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ev = commands.add_parser(
        "eval",
        help="cross-entropy, perplexity and accuracy of .npy logits, streamed in row batches",
        description="Stream LOGITS.npy and TARGETS.npy through memory maps in batches of rows "
        "(files larger than RAM work) and report the mean cross-entropy in nats, perplexity, "
        "top-1 accuracy, the number of ignored targets and the per-class mean loss. The mean "
        "equals softloss.cross_entropy(logits, targets, ...) on the whole arrays, accumulated "
        "in float64, whatever the batch size.",
    )
    ev.add_argument("logits", metavar="LOGITS.npy", help="float16/32/64 logits, (N, C, ...)")
    ev.add_argument("targets", metavar="TARGETS.npy", help="integer class indices, (N, ...)")
    ev.add_argument("--weight", metavar="W.npy", help="per-class weights, shape (C,)")
    ev.add_argument(
        "--axis",
        type=int,
        default=1,
        metavar="A",
        help="the class axis of the logits (default 1, not 0)",
    )
    ev.add_argument(
        "--ignore-index",
        type=int,
        default=-100,
        metavar="I",
        help="targets equal to I do not count (default -100)",
    )
    ev.add_argument(
        "--label-smoothing", type=float, default=0.0, metavar="E", help="in [0, 1] (default 0)"
    )
    ev.add_argument(
        "--rows-per-batch",
        type=_positive,
        metavar="N",
        help="rows (along axis 0) per batch (default: about 64 MiB of logits); any size gives the "
        "same result",
    )
    ev.add_argument("--json", metavar="FILE", help="also write every metric as JSON")
    ev.add_argument(
        "--top",
        type=_positive,
        default=20,
        metavar="K",
        help="show the K classes with the highest mean loss (default 20; JSON has all)",
    )


def parser() -> argparse.ArgumentParser:
    """The argument parser of the ``softloss`` command."""
    from softloss import __version__

    top = argparse.ArgumentParser(
        prog="softloss",
        description="PyTorch's softmax-family losses for NumPy arrays, computed in Rust.",
    )
    top.add_argument("--version", action="version", version=f"softloss {__version__}")
    commands = top.add_subparsers(dest="command", metavar="COMMAND")
    _add_demo(commands)
    _add_bench(commands)
    _add_eval(commands)
    return top


def console(stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr); 160 columns wide when it is not a terminal.

    Output to a file or a pipe is not squeezed into 80 columns (rich's default there), so wide
    tables keep whole cells.
    """
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:  # rich would exit with status 1; main() returns 0
            raise BrokenPipeError

    out = _Console(stderr=stderr, highlight=False)
    if not out.is_terminal:
        out.width = max(out.width, 160)
    return out


def has_rich() -> bool:
    """Whether rich can be imported."""
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


def error(command: str, message: str) -> int:
    """Print ``softloss COMMAND: error: MESSAGE`` (one line) to stderr; return status 2."""
    text = " ".join(message.split())
    print(f"softloss {command}: error: {text}", file=sys.stderr, flush=True)
    return 2


def unwritable(*paths: str | None) -> str | None:
    """Why the first of ``paths`` that cannot be created would fail, or None (checked early)."""
    for path in paths:
        if path is None:
            continue
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path):
            return f"cannot write {path}: it is a directory"
        if not os.path.isdir(folder):
            return f"cannot write {path}: no folder {folder}"
        if not os.access(folder, os.W_OK):
            return f"cannot write {path}: folder {folder} is not writable"
    return None


def _run(args: argparse.Namespace) -> int:
    command: str = args.command or "demo"
    if command == "demo":
        from softloss.cli.demo import run as demo

        return demo()
    if not has_rich():
        return error(command, f"this command needs rich: {INSTALL_HINT}")
    problem = unwritable(args.json, getattr(args, "plot", None))
    if problem:
        return error(command, problem)
    if command == "bench":
        from softloss.cli.bench import run as bench

        return bench(args)
    from softloss.cli.eval_report import run as evaluate

    return evaluate(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (``sys.argv[1:]`` when None); return the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name.

    Returns
    -------
    int
        0 on success, 2 for bad arguments or inputs, 130 when interrupted.
    """
    args = parser().parse_args(argv)
    try:
        return _run(args)
    except BrokenPipeError:  # `softloss | head`: stop quietly, as other command-line tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
