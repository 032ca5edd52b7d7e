"""Write the generator-gradient table of every objective into docs/objectives.md.

    python scripts/objective_gradient_table.py          # rewrite the table in place
    python scripts/objective_gradient_table.py --check  # exit 1 if the table is out of date

The table sits between the markers ``<!-- gradient-table:start -->`` and ``<!-- gradient-table:end -->``;
tests/losses/test_gradient_behaviour.py checks that it matches :func:`ganbench.losses.gradients.gradient_table`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ganbench.losses.gradients import gradient_table

DOC = Path(__file__).resolve().parents[1] / "docs" / "objectives.md"
START, END = "<!-- gradient-table:start -->", "<!-- gradient-table:end -->"


def render(text: str, table: str) -> str:
    """``text`` with the block between the markers replaced by ``table``."""
    if START not in text or END not in text:
        raise SystemExit(f"{DOC} lacks the markers {START} and {END}; add them where the table belongs.")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the table is up to date")
    args = parser.parse_args(argv)
    text = DOC.read_text(encoding="utf-8")
    updated = render(text, gradient_table())
    if args.check:
        if updated != text:
            print(f"{DOC}: the gradient table is out of date; run python scripts/objective_gradient_table.py")
            return 1
        return 0
    DOC.write_text(updated, encoding="utf-8")
    print(f"wrote the gradient table to {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
