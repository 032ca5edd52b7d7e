"""Reading ``metrics.csv`` back: which rows are whole, and their values.

One validator for every reader: ``ganbench-compare`` (the curves it plots) and a resumed run
(:func:`ganbench.loggers.truncate_metrics`, which keeps the rows logged before the checkpoint). A
row is whole when it has as many fields as the header, every non-empty cell is a plain number, its
iteration (``iteration`` or ``step``) is an integer, and it ends with a line end: the last line of
a run that was cut off while writing it may read ``1.`` where ``1.134`` was meant.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

METRICS_CSV = "metrics.csv"
ITERATION_COLUMNS = ("iteration", "step")
NUMBER = re.compile(r"^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|nan|inf|infinity)$", re.IGNORECASE)


def number(text: str) -> float | None:
    """The value of a metrics.csv cell, or None when it is not a plain number."""
    text = text.strip()
    return float(text) if NUMBER.match(text) else None


def parse_row(header: list[str], line: str, last: bool = False) -> tuple[dict[str, float] | None, str | None]:
    """``(values, None)`` for a whole row (empty cells left out), else ``(None, what is wrong)``.
    ``last``: the line is the file's last one (a missing line end means it was cut off)."""
    if last and not line.endswith(("\n", "\r")):
        return None, "the last row has no line end (cut off while being written)"
    cells = next(csv.reader([line]))
    if len(cells) != len(header):
        return None, f"{len(cells)} fields, the header has {len(header)}"
    row: dict[str, float] = {}
    for name, cell in zip(header, cells):
        if cell.strip() == "":
            continue
        value = number(cell)
        if value is None:
            return None, f"column {name}: {cell!r} is not a number"
        if name in ITERATION_COLUMNS and not (math.isfinite(value) and value == int(value)):
            return None, f"column {name}: {cell!r} is not an iteration number"
        row[name] = value
    return row, None


def read_rows(path: Path) -> tuple[list[str], list[tuple[int, str, dict[str, float] | None, str | None]]]:
    """The header of ``path`` and, for each non-blank line after it, ``(line number, text, values,
    problem)`` as :func:`parse_row` gives them. OSError or UnicodeDecodeError when it cannot be read."""
    with open(path, newline="") as f:  # line ends as written: a resumed run keeps its rows verbatim
        lines = f.read().splitlines(keepends=True)
    if not lines:
        return [], []
    header = next(csv.reader([lines[0]]))
    out = []
    for line_number, line in enumerate(lines[1:], start=2):
        if line.strip():
            values, problem = parse_row(header, line, last=line_number == len(lines))
            out.append((line_number, line, values, problem))
    return header, out


def read_metrics_csv(path: Path) -> tuple[list[dict[str, float]], list[str]]:
    """The whole rows of a ``metrics.csv`` as ``{column: value}`` (empty cells left out), and one
    ``"path:line: what is wrong"`` per row left out."""
    try:
        _, parsed = read_rows(path)
    except (OSError, UnicodeDecodeError) as err:
        return [], [f"{path}: cannot be read ({err})"]
    rows = [values for _, _, values, _ in parsed if values is not None]
    problems = [f"{path}:{n}: {problem}" for n, _, _, problem in parsed if problem is not None]
    return rows, problems
