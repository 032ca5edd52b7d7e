"""Grouping runs, and what a group must not mix.

Runs are grouped by the values of the ``--by`` keys (:meth:`Run.value`). A group whose runs differ
in dataset, iteration budget or evaluation sample count is not a fair comparison (a warning); one
whose loss, regularizer, model or optimizer configs differ gets a note naming the keys (a search
differs on purpose). Each metric's direction comes from the run records.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from omegaconf import OmegaConf

from ganbench.compare.records import CompareError, Run, label

DEFAULT_BY = ("loss", "regularizer")
# Config sections whose resolved values must agree within a group.
CONFIG_SECTIONS = ("loss", "regularizer", "model", "optimizer")
# Only for records without "directions": lower is better for names containing these.
LOWER_IS_BETTER = ("fid", "kid", "kl", "loss", "distance", "error")


def group_runs(runs: Sequence[Run], by: Sequence[str]) -> dict[tuple[str, ...], list[Run]]:
    """Runs grouped by the values of the keys ``by``, in sorted order of the keys."""
    unknown = [k for k in by if all(r.value(k) is None for r in runs)]
    if unknown:
        known = sorted({k for r in runs for k in (r.summary.get("choices") or {})})
        raise CompareError(
            f"no run has a value for --by key(s) {', '.join(unknown)}: use config-group choices "
            f"({', '.join(known)}), summary fields (seed, status) or config keys (n_critic, optimizer.generator.lr)"
        )
    groups: dict[tuple[str, ...], list[Run]] = {}
    for r in runs:
        groups.setdefault(tuple(label(r.value(k)) for k in by), []).append(r)
    return dict(sorted(groups.items()))


# ---------------------------------------------------------------------------------------------
# what a group must not mix
# ---------------------------------------------------------------------------------------------


def _mixed(what: str, values: Iterable[Any]) -> str | None:
    distinct = sorted({label(v) for v in values})
    return f"mixes {what}: {', '.join(distinct)}" if len(distinct) > 1 else None


def unfair_mixes(runs: Sequence[Run]) -> list[str]:
    """``"mixes …"`` for each of dataset, iteration budget and evaluation sample count on which
    the runs of one group differ."""
    checks = [
        _mixed("datasets", (r.value("dataset") for r in runs)),
        _mixed("iteration budgets", (r.budget() for r in runs)),
        _mixed("evaluation sample counts", (r.value("evaluator.num_samples") for r in runs)),
    ]
    return [c for c in checks if c]


def _flatten(node: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(node, dict):
        out: dict[str, str] = {}
        for k, v in node.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): json.dumps(node, sort_keys=True, default=str)}


def config_differences(runs: Sequence[Run], section: str) -> dict[str, list[str]]:
    """The keys of config section ``section`` whose resolved values differ between ``runs`` (those
    with a config.yaml), with their distinct values."""
    flat = []
    for r in runs:
        if r.config is None:
            continue
        node = OmegaConf.select(r.config, section, default=None, throw_on_missing=False)
        try:
            container = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
        except Exception:  # noqa: BLE001 (an interpolation that does not resolve outside Hydra)
            container = OmegaConf.to_container(node, resolve=False)
        flat.append(_flatten(container))
    keys = sorted({k for f in flat for k in f})
    diffs = {}
    for k in keys:
        values = sorted({f.get(k, "(absent)") for f in flat})
        if len(values) > 1:
            diffs[k] = values
    return diffs


def _short(value: str) -> str:
    """A config value (JSON text) for a warning: floats to 4 significant digits."""
    try:
        v = json.loads(value)
    except ValueError:
        return value
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list) and all(isinstance(x, float) for x in v):
        return "[" + ", ".join(f"{x:.4g}" for x in v) + "]"
    return value


def _describe_differences(section: str, diffs: dict[str, list[str]]) -> str:
    parts = []
    for k, values in list(diffs.items())[:3]:
        shown = ", ".join(map(_short, values)) if len(values) <= 3 else f"{len(values)} values"
        parts.append(f"{k or section}: {shown}")
    more = f"; {len(diffs) - 3} more keys" if len(diffs) > 3 else ""
    first = next(iter(diffs))
    split = f"{section}.{first}" if first else section
    return f"mixes {section} configs ({'; '.join(parts)}{more}): split it with --by …,{split} unless it is a search"


def config_notes(runs: Sequence[Run]) -> list[str]:
    """One note per config section (loss, regularizer, model, optimizer) that differs within the runs."""
    notes = []
    for section in CONFIG_SECTIONS:
        diffs = config_differences(runs, section)
        if diffs:
            notes.append(_describe_differences(section, diffs))
    return notes


# ---------------------------------------------------------------------------------------------
# directions
# ---------------------------------------------------------------------------------------------
def metric_direction(name: str, minimize: Iterable[str] = (), maximize: Iterable[str] = ()) -> str:
    """The fallback for records without ``directions``: ``--minimize``/``--maximize``, else
    ``"min"`` when the name contains fid, kid, kl, loss, distance or error, else ``"max"``."""
    if name in set(minimize):
        return "min"
    if name in set(maximize):
        return "max"
    return "min" if any(token in name.lower() for token in LOWER_IS_BETTER) else "max"


def resolve_directions(
    runs: Sequence[Run], names: Iterable[str], minimize: Iterable[str] = (), maximize: Iterable[str] = ()
) -> tuple[dict[str, str | None], list[str]]:
    """Each metric's direction (``"max"``, ``"min"`` or None: no better side) from the runs'
    recorded ``directions``, with warnings where records disagree, where a flag contradicts the
    record, or where there is no record and the direction is a fallback."""
    minimize, maximize = set(minimize), set(maximize)
    out: dict[str, str | None] = {}
    warnings = []
    for m in names:
        recorded = {r.summary["directions"][m] for r in runs if m in (r.summary.get("directions") or {})}
        flag = "min" if m in minimize else "max" if m in maximize else None
        if len(recorded) > 1:
            out[m] = None
            warnings.append(
                f"metric {m}: the run records disagree on its direction "
                f"({', '.join(sorted(map(str, recorded)))}): shown without a best or a test"
            )
        elif recorded:
            out[m] = recorded.pop()
            if flag and flag != out[m]:
                warnings.append(f"metric {m}: --{'minimize' if flag == 'min' else 'maximize'} ignored, "
                                f"the evaluator declares {out[m] or 'no direction'}")  # fmt: skip
        else:
            out[m] = metric_direction(m, minimize, maximize)
            how = "from --minimize/--maximize" if flag else "guessed from its name"
            warnings.append(
                f"metric {m}: no direction in the run records (written before they had one): {out[m]} {how}; "
                "pass --minimize or --maximize to set it"
            )
    return out, warnings
