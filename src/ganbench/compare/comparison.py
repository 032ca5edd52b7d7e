"""The comparison from end to end: find and read the runs, group them, compute the statistics,
write the tables and plots. :func:`compare` is what ``ganbench-compare`` runs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ganbench.compare.code_versions import code_warnings
from ganbench.compare.findings import FINDINGS, write_findings
from ganbench.compare.groups import DEFAULT_BY, group_runs, resolve_directions
from ganbench.compare.plots import UnplottableError, plot_budget, plot_metric
from ganbench.compare.records import CompareError, Run, find_runs
from ganbench.compare.samples import write_sample_figures
from ganbench.compare.stats import BudgetCurve, GroupStats, Significance, budget_curves, significance, summarize
from ganbench.compare.tables import (
    budget_rows,
    group_rows,
    markdown_report,
    markdown_table,
    metric_names,
    significance_rows,
    significance_table,
    write_rows,
)
from ganbench.summary import FAILURES, atomic_write_text

COUNTED = ("completed", *FAILURES)


@dataclass
class Comparison:
    """The result of :func:`compare`: the groups' statistics, the tests, the budget curves, the
    warnings and the files written."""

    by: list[str]
    stats: list[GroupStats]
    warnings: list[str]
    table: str
    files: list[Path]
    directions: dict[str, str | None] = field(default_factory=dict)
    significance: list[Significance] = field(default_factory=list)
    budget: list[BudgetCurve] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    out: Path | None = None  # the output directory
    samples: list[Path] = field(default_factory=list)  # the sample figures, one per dataset
    sample_notes: list[str] = field(default_factory=list)  # the panels left without samples, and why
    paths: list[Path] = field(default_factory=list)  # the directories compared


def counted_runs(paths: Sequence[Path | str]) -> tuple[list[Run], list[str], list[str]]:
    """The finished runs under ``paths`` (completed, diverged or failed), the warnings about what
    was left out, and the problems of the records that could not be read. CompareError for none."""
    runs, unfinished, left_out = find_runs(paths)
    warnings = list(left_out)
    if unfinished:
        warnings.append(
            f"{len(unfinished)} run director{'y has' if len(unfinished) == 1 else 'ies have'} metrics.csv but no "
            f"summary.json (still running, or killed) and are left out, e.g. {unfinished[0]}"
        )
    other = [r for r in runs if r.status not in COUNTED]
    if other:
        kinds = sorted({r.status for r in other})
        warnings.append(f"{len(other)} run(s) with status {', '.join(kinds)} left out (resume them to include them)")
    runs = [r for r in runs if r.status in COUNTED]
    if not runs:
        malformed = sum("left out" in p for p in left_out)
        raise CompareError(
            f"no finished runs under {', '.join(map(str, paths))}"
            + (f" ({malformed} summary.json file(s) malformed: {left_out[0]})" if malformed else "")
            + ": ganbench-compare reads the summary.json that ganbench-train writes into each run directory when "
            "the run ends (runs/… or multirun/…)"
        )
    return runs, warnings, left_out


def selected_metrics(names: Sequence[str], metrics: Sequence[str]) -> list[str]:
    """The metrics to show: ``metrics`` when given (CompareError naming the ones no finished run
    has), else every metric of ``names``."""
    metrics = [m.strip() for m in metrics if m.strip()]
    if not metrics:
        return list(names)
    unknown = [m for m in metrics if m not in names]
    if unknown:
        raise CompareError(
            f"--metrics: no completed run has {', '.join(map(repr, unknown))}; the runs have {', '.join(names)}"
        )
    return list(dict.fromkeys(metrics))


def search_budget(
    paths: Sequence[Path | str], by: Sequence[str], directions: dict[str, str | None], warnings: list[str]
) -> list[BudgetCurve]:
    """The budget curves of the search runs under ``paths``, grouped by ``by`` (``--search``), with
    the warnings about their runs added to ``warnings``. CompareError when none of their groups
    is a search (each re-runs one setting: the seed runs were given instead)."""
    try:
        runs, found, _ = counted_runs(paths)
        curves = budget_curves(summarize(group_runs(runs, by), directions, list(directions)), by, directions)
    except CompareError as err:
        raise CompareError(f"--search: {err}") from None
    if not curves:
        raise CompareError(
            "--search: no group of those runs is a search (each re-runs one setting), so there is no budget curve; "
            "give the search runs, e.g. STUDY/*/*/search"
        )
    warnings += [f"--search: {w}" for w in found]
    return curves


def _write_plots(out: Path, stats: list[GroupStats], by: list[str], directions, curves) -> tuple[list[Path], list[str]]:
    """The curve and budget plots written, and a warning for each metric that could not be plotted."""
    files, warnings = [], []
    jobs = [lambda m=m: plot_metric(out / f"{m}.png", m, stats, by, directions.get(m)) for m in metric_names(stats)]
    jobs += [
        lambda m=m: plot_budget(out / f"budget_{m}.png", m, directions[m], curves)
        for m in metric_names(stats)
        if directions.get(m) is not None
    ]
    for job in jobs:
        try:
            png = job()
        except UnplottableError as err:
            warnings.append(str(err))
            continue
        if png is not None:
            files.append(png)
    return files, warnings


def compare(
    paths: Sequence[Path | str],
    by: Sequence[str] = DEFAULT_BY,
    out: Path | str | None = None,
    plots: bool = True,
    minimize: Iterable[str] = (),
    maximize: Iterable[str] = (),
    seed: int = 0,
    metrics: Sequence[str] = (),
    search: Sequence[Path | str] = (),
) -> Comparison:
    """Find, validate, group and summarise the runs under ``paths``; write the tables and plots into
    ``out`` (default: ``PATH/comparison`` for one PATH, else ``./comparison``). ``seed`` seeds the
    bootstrap intervals of the effect sizes. ``metrics``, when given, are the only metrics the tables,
    tests and plots show (the sample figures still pick each group's median run by the metric its
    runs optimised). ``search``, when given, are the search runs behind the compared ones (a
    study's ``*/*/search``): the budget curves are theirs, grouped by the same keys, so that one
    comparison of the tuned runs carries the budget curves of the search that chose them."""
    by = [k.strip() for k in by if k.strip()]
    if not by:
        raise CompareError("--by needs at least one key, e.g. --by loss,regularizer")
    runs, warnings, left_out = counted_runs(paths)
    groups = group_runs(runs, by)
    names = sorted({m for r in runs if r.status == "completed" for m in r.final_metrics()})
    shown = selected_metrics(names, metrics)
    directions, direction_warnings = resolve_directions(runs, shown, minimize, maximize)
    warnings += direction_warnings
    sample_directions = resolve_directions(runs, names, minimize, maximize)[0]
    stats = summarize(groups, directions, shown)
    for s in stats:
        warnings += [f"group {s.name} {w}: the comparison is unfair" for w in s.warnings]
        warnings += [f"group {s.name} {n}" for n in s.notes]
    tests, caveats = significance(stats, by, directions, seed=seed)
    warnings += code_warnings(runs)
    curves = search_budget(search, by, directions, warnings) if search else budget_curves(stats, by, directions)
    table = markdown_table(stats, by, directions)
    sig_table = significance_table(stats, by, tests, directions)

    out = Path(out) if out is not None else (Path(paths[0]) / "comparison" if len(paths) == 1 else Path("comparison"))
    try:
        out.mkdir(parents=True, exist_ok=True)
        files = [write_rows(out / "comparison.csv", group_rows(stats, by))]
        if tests:
            files.append(write_rows(out / "significance.csv", significance_rows(tests)))
            files.append(write_findings(out / FINDINGS, tests))
        if curves:
            files.append(write_rows(out / "budget.csv", budget_rows(curves)))
        for name, written in (("significance.csv", tests), (FINDINGS, tests), ("budget.csv", curves)):
            if not written:  # an earlier comparison's, in the same folder, must not stand for this one
                (out / name).unlink(missing_ok=True)
        samples: list[Path] = []
        missing: list[str] = []
        if plots:
            samples, missing = write_sample_figures(out, stats, by, sample_directions)
            pngs, unplottable = _write_plots(out, stats, by, directions, curves)
            files += samples + pngs
            warnings += unplottable
        for r in runs:
            warnings += [f"{p}: row left out" for p in r.problems]
        plotted = [f for f in files if f not in samples]
        not_shown = [m for m in names if m not in shown]
        md = markdown_report(paths, len(runs), by, table, sig_table, caveats, warnings, plotted, samples, missing,
                             not_shown, search)  # fmt: skip
        atomic_write_text(out / "comparison.md", md)
    except OSError as err:
        raise CompareError(f"cannot write the comparison into {out} ({err}): choose another --out") from None
    files.insert(0, out / "comparison.md")
    return Comparison(by, stats, warnings, table, files, directions, tests, curves, caveats, left_out, out, samples,
                      missing, [Path(p) for p in paths])  # fmt: skip
