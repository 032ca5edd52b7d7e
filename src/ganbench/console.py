"""Printing a command's result to a standard output that may close early (``… --status | head``)."""

from __future__ import annotations

import os
import sys


def print_result(text: str) -> None:
    """Print ``text`` to stdout. When the reader has gone (a closed pipe), stop quietly: stdout is
    pointed at ``/dev/null`` so the interpreter's own flush at exit cannot fail either."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
