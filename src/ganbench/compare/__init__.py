"""``ganbench-compare PATH…``: tables, intervals, tests and plots over many runs.

Reads ``summary.json`` (and ``config.yaml`` and ``metrics.csv``) of every run under the given
directories (multirun roots, single run directories, or any folder above them), groups the runs
(default ``--by loss,regularizer``: the objective as it was run, from the record's ``objective``,
else the config choices), and reports per group:

- the number of runs and the failure rate, (diverged + failed) / runs;
- for each final metric of the completed runs: mean ± standard deviation (ddof = 1), the median
  with its order-statistic interval and that interval's exact coverage
  (:func:`ganbench.statistics.median_ci`) and the best run;
- the mean wall time of a run, and the hyperparameters a search chose (the keys it varied);
- the groups it is significantly better than: two-sided exact Mann–Whitney tests between the
  groups of each dataset, Holm-corrected over the pairs (:func:`ganbench.statistics.pairwise_mann_whitney`),
  with caveats where the group sizes cannot give a small p;
- ``findings.md``: every pair the way round its metric reads, with the exact p, the Holm p, the
  probability of improvement and the Hodges–Lehmann median difference, the significant pairs first;
- budget curves: the expected best metric among k trials drawn from the group's runs, k = 1..N
  (:func:`ganbench.statistics.best_of_k`), as in Lucic et al. 2018;
- the samples of each group's median run side by side, one figure per dataset;
- with ``--wandb``, all of it as one W&B run of job type ``compare``.

Each metric's direction (higher or lower is better) comes from the run record (``directions``,
declared by the evaluator); only records without it fall back to ``--minimize``/``--maximize`` and
then to a guess from the metric's name, with a warning. Metrics without a direction (the spread of
an estimate, such as ``kid_std``) get no best, no test and no budget curve.

Every plot has one panel per dataset: runs on different data never share an axis.

Nothing read is trusted: a summary that is not valid JSON, lacks a field or has a wrong type, and a
``metrics.csv`` row that is cut off or garbled, are reported with their path and line and left out.
A group that mixes datasets, iteration budgets, evaluation sample counts, or loss, regularizer,
model or optimizer configs gets a warning.

The package follows the work: :mod:`~ganbench.compare.records` finds and reads the runs,
:mod:`~ganbench.compare.groups` groups them (and resolves each metric's direction),
:mod:`~ganbench.compare.hyperparameters` reads what a search chose,
:mod:`~ganbench.compare.stats` computes the statistics through :mod:`ganbench.statistics`,
:mod:`~ganbench.compare.tables`, :mod:`~ganbench.compare.findings`, :mod:`~ganbench.compare.plots`
and :mod:`~ganbench.compare.samples` write them, :mod:`~ganbench.compare.comparison` runs all of it
(:func:`compare`), :mod:`~ganbench.compare.wandb_log` logs it to W&B and :mod:`~ganbench.compare.cli`
is the command line.
"""

from ganbench.compare.cli import main, parse_args
from ganbench.compare.comparison import Comparison, compare
from ganbench.compare.groups import group_runs, metric_direction, resolve_directions
from ganbench.compare.plots import band
from ganbench.compare.records import CompareError, Run, find_runs, read_summary_file
from ganbench.compare.stats import GroupStats, MetricStats, metric_stats, summarize
from ganbench.metrics_csv import read_metrics_csv

__all__ = [
    "CompareError",
    "Comparison",
    "GroupStats",
    "MetricStats",
    "Run",
    "band",
    "compare",
    "find_runs",
    "group_runs",
    "main",
    "metric_direction",
    "metric_stats",
    "parse_args",
    "read_metrics_csv",
    "read_summary_file",
    "resolve_directions",
    "summarize",
]
