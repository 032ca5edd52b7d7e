"""``ganbench-compare --wandb``: the comparison as one W&B run of ``job_type`` ``compare``.

The run joins the group of the runs compared: the ``logger.wandb.group`` their configs recorded
(``ganbench-study`` sets it to the study's name), else the group W&B gave them by default (the
experiment preset, or the sweep directory: :func:`ganbench.wandb_support.sweep_group`, from each
run's ``.hydra/hydra.yaml``), when all the runs agree; ``--wandb-group`` says it outright. The
project and entity come from the runs' ``logger.wandb`` the same way (default project ``ganbench``).

It carries the tables as ``wandb.Table``: ``tuned`` (per group: counts, mean, std, best, and the
median with its interval and that interval's coverage, of each metric; the searched
hyperparameters), ``significance`` (every pair: U, exact p, Holm p, the better group, the effect
sizes as a, b), ``effect_sizes`` (every pair the way ``findings.md`` writes it: the
better-looking group first) and ``budget`` (the budget curves, when some group is a search or
``--search`` gave the search runs); and every figure as a ``wandb.Image`` under ``figures/``,
named as its file (``figures/samples_ring``, ``figures/budget_mode_tv``, ``figures/mode_tv``).
Without an API key it is saved offline under ``OUT/wandb`` (``wandb sync`` uploads it).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from ganbench.compare.comparison import Comparison
from ganbench.compare.findings import ordered
from ganbench.compare.records import CompareError, Run
from ganbench.compare.tables import Rows, budget_rows, group_rows, significance_rows

JOB_TYPE = "compare"
DEFAULT_PROJECT = "ganbench"


def _agreed(values: Iterable[Any]) -> str | None:
    """The one value all the runs that have one agree on, else None."""
    distinct = {str(v) for v in values if v not in (None, "")}
    return distinct.pop() if len(distinct) == 1 else None


def _recorded(run: Run, key: str) -> Any:
    config = run.recorded_config()
    return None if config is None else OmegaConf.select(config, f"logger.wandb.{key}", default=None)


def _hydra_group(run: Run) -> str | None:
    from ganbench.wandb_support import sweep_group  # Lightning and Hydra: imported only for --wandb

    path = run.path / ".hydra" / "hydra.yaml"
    if not path.is_file():
        return None
    try:
        return sweep_group(OmegaConf.load(path).hydra)
    except Exception:  # noqa: BLE001 (an unreadable hydra.yaml says nothing about the group)
        return None


def run_group(runs: Iterable[Run]) -> str | None:
    """The W&B group the runs share: recorded ``logger.wandb.group``, else Hydra's default group."""
    runs = list(runs)
    return _agreed(_recorded(r, "group") for r in runs) or _agreed(_hydra_group(r) for r in runs)


def _table(rows: Rows):  # noqa: ANN202 (a wandb.Table)
    import wandb

    columns, data = rows
    # a column may hold numbers and "" (a group without the metric): mixed types
    return wandb.Table(columns=columns, data=[list(row) for row in data], allow_mixed_types=True)


def effect_rows(result: Comparison) -> Rows:
    """Every pair as findings.md writes it (its better-looking group first), one row each."""
    columns = ["dataset", "metric", "direction", "first", "second", "n_first", "n_second", "p", "p_holm",
               "significant", "prob_first_better", "prob_ci_low", "prob_ci_high", "median_difference",
               "median_difference_ci_low", "median_difference_ci_high"]  # fmt: skip
    rows = [[f.dataset, f.metric, f.direction, f.first, f.second, f.n_first, f.n_second, f.p, f.p_holm,
             f.significant, f.prob, *f.prob_ci, f.shift, *f.shift_ci]
            for sig in result.significance for f in ordered(sig)]  # fmt: skip
    return columns, rows


def log_comparison(
    result: Comparison, group: str | None = None, project: str | None = None, mode: str | None = None
) -> tuple[Path, str | None]:
    """Log ``result`` as one W&B run (see the module docstring) into ``result.out/wandb``; return
    the run's local directory and its group."""
    import wandb

    from ganbench.wandb_support import resolve_mode

    runs = [r for s in result.stats for r in s.runs]
    group = group or run_group(runs)
    project = project or _agreed(_recorded(r, "project") for r in runs) or DEFAULT_PROJECT
    entity = _agreed(_recorded(r, "entity") for r in runs)
    try:
        resolved = resolve_mode(mode)
    except ValueError as err:
        raise CompareError(str(err)) from None
    config = {"by": list(result.by), "paths": [str(p) for p in result.paths], "runs": len(runs),
              "groups": [s.name for s in result.stats], "directions": result.directions}  # fmt: skip
    run = wandb.init(
        project=project,
        entity=entity,
        group=group,
        job_type=JOB_TYPE,
        name=f"compare-{group}" if group else "compare",
        dir=str(result.out),
        config=config,
        settings=wandb.Settings(silent=True, console="off"),
        **({"mode": resolved} if resolved is not None else {}),
    )
    try:
        logged: dict[str, Any] = {
            "tuned": _table(group_rows(result.stats, result.by)),
            "significance": _table(significance_rows(result.significance)),
            "effect_sizes": _table(effect_rows(result)),
        }
        if result.budget:  # none for a comparison of seed runs alone
            logged["budget"] = _table(budget_rows(result.budget))
        for png in (f for f in result.files if f.suffix == ".png"):
            logged[f"figures/{png.stem}"] = wandb.Image(str(png), caption=png.stem)
        run.log(logged)
        local = Path(run.dir).parent
    finally:
        run.finish()
    return local, group
