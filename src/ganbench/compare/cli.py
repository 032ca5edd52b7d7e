"""``ganbench-compare PATH…``: the command line of :func:`ganbench.compare.compare`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ganbench.compare.comparison import compare
from ganbench.compare.groups import DEFAULT_BY
from ganbench.compare.records import CompareError
from ganbench.compare.wandb_log import log_comparison
from ganbench.console import print_result

EXIT_CODES = """exit codes:
  0  the comparison was written (warnings, including runs left out as malformed, do not change it)
  1  an unexpected internal error (a bug: please report it with the traceback)
  2  a user error, said in one line: a bad argument, a path that does not exist or is a file, no
     valid finished run under the paths, an unknown --by key, an output directory that cannot be
     written
  130  interrupted (Ctrl-C)"""


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="ganbench-compare",
        description="Compare ganbench runs: per group, of each final metric, mean ± std, the median with a "
        "distribution-free interval labelled with its coverage, and the best run; failure rates; exact pairwise "
        "Mann-Whitney tests (Holm) with effect sizes (findings.md); budget curves (expected best of k trials); "
        "metric-vs-iteration plots and the samples of each group's median run, one panel per dataset.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", type=Path, help="run directories, multirun directories or folders above them")
    p.add_argument(
        "--by",
        type=_split,
        default=list(DEFAULT_BY),
        help="comma-separated grouping keys: config-group choices (loss, regularizer, dataset …; loss and "
        "regularizer name the objective as it was run), summary fields or config keys (default: loss,regularizer)",
    )
    p.add_argument("--out", type=Path, default=None, help="output directory (default: PATH/comparison)")
    p.add_argument("--no-plots", action="store_true", help="write the tables only")
    p.add_argument(
        "--metrics",
        type=_split,
        default=[],
        help="comma-separated metrics to show in the tables, tests and plots, in the usual order (default: every "
        "metric of the runs)",
    )
    p.add_argument(
        "--minimize", type=_split, default=[], help="metrics where lower is better, for run records without directions"
    )
    p.add_argument(
        "--maximize", type=_split, default=[], help="metrics where higher is better, for run records without directions"
    )
    p.add_argument(
        "--search",
        nargs="+",
        type=Path,
        default=[],
        metavar="PATH",
        help="the search runs behind the runs compared (e.g. STUDY/*/*/search, after the paths): the budget curves "
        "are theirs, grouped by the same --by keys, beside the tuned table",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap intervals (default 0)")
    p.add_argument(
        "--wandb",
        action="store_true",
        help="also log the comparison as one W&B run (job_type compare) in the group of the runs compared: the "
        "tables, budget curves and sample figures (offline under OUT/wandb without an API key)",
    )
    p.add_argument("--wandb-group", default=None, help="the W&B group (default: the one the runs recorded)")
    p.add_argument("--wandb-project", default=None, help="the W&B project (default: the runs', else ganbench)")
    args = p.parse_args(argv)
    if (args.wandb_group or args.wandb_project) and not args.wandb:
        p.error("--wandb-group and --wandb-project go with --wandb: add --wandb")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = compare(
            args.paths,
            args.by,
            args.out,
            not args.no_plots,
            args.minimize,
            args.maximize,
            args.seed,
            args.metrics,
            args.search,
        )
        logged = log_comparison(result, args.wandb_group, args.wandb_project) if args.wandb else None
    except CompareError as err:
        print(f"ganbench-compare: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ganbench-compare: interrupted", file=sys.stderr)
        return 130
    for w in result.warnings:
        print(f"ganbench-compare: warning: {w}", file=sys.stderr)
    for c in result.caveats:
        print(f"ganbench-compare: caveat: {c}", file=sys.stderr)
    print_result(result.table + "\n\nwrote " + ", ".join(str(f) for f in result.files))
    if logged is not None:
        where, group = logged
        print(f"logged the comparison to W&B (job_type compare, group {group or '(none)'}): {where}")
    return 0
