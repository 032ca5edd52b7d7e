"""Write the generated tables of docs/objectives.md: every loss option (class, arguments, what the
theory tests check of it, its YAML's description) and the generator gradient of every objective.

    python scripts/loss_tables.py          # rewrite the tables in place
    python scripts/loss_tables.py --check  # exit 1 if they are out of date

The tables sit between ``<!-- loss-table:start -->`` / ``<!-- loss-table:end -->`` and
``<!-- gradient-table:start -->`` / ``<!-- gradient-table:end -->``; they are rendered from
``conf/loss/*.yaml`` by :func:`ganbench.losses.catalog.render_docs`, and
tests/losses/test_docs_tables.py fails when the page differs from it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ganbench.losses.catalog import render_docs

DOC = Path(__file__).resolve().parents[1] / "docs" / "objectives.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the tables are up to date")
    args = parser.parse_args(argv)
    text = DOC.read_text(encoding="utf-8")
    try:
        updated = render_docs(text)
    except ValueError as err:
        raise SystemExit(f"{DOC}: {err}") from None
    if args.check:
        if updated != text:
            print(f"{DOC}: the loss tables are out of date; run python scripts/loss_tables.py")
            return 1
        return 0
    DOC.write_text(updated, encoding="utf-8")
    print(f"wrote the loss tables to {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
