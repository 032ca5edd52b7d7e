"""The hyperparameters a search chose, as the tuned table shows them.

A search varies some keys (the trial's ``params``: ``optimizer.generator.lr``, ``n_critic``,
``+optimizer/scheduler`` …). A run's value of each is read from its resolved config where the key
is a config value, from its config-group choices where it is a group (``+optimizer/scheduler``),
and from the trial's record otherwise. A group whose runs all share one setting (the seed runs of
one trial) shows it; a group of several settings (a search) says how many.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from omegaconf import OmegaConf

from ganbench.compare.records import Run
from ganbench.search_space import KINDS


def format_value(value: Any) -> str:
    """A hyperparameter as a table shows it: numbers to 3 significant digits, lists item by item."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return format_value(parsed) if isinstance(parsed, (int, float, list)) else value
    return str(value)


def _config_value(run: Run, key: str) -> Any:
    """The value of the searched ``key`` as the run ran it, or None when its config does not say."""
    name = key.lstrip("+~")
    if "/" in name:  # a config group: the run's choice
        return (run.summary.get("choices") or {}).get(name)
    config = run.recorded_config()
    if config is None:
        return None
    try:
        found = OmegaConf.select(config, name, default=None, throw_on_missing=False)
    except Exception:  # noqa: BLE001 (an interpolation that does not resolve outside Hydra)
        return None
    if found is None and name in PENALTY_KEYS:
        return _plain_penalty(run, config, name)
    if OmegaConf.is_config(found):
        return OmegaConf.to_container(found, resolve=True)
    return found


PENALTY_KEYS = ("regularizer.kind", "regularizer.weight")  # a search's penalty dimension


def _plain_penalty(run: Run, config: Any, name: str) -> Any:
    """A searched penalty's key for a run that chose its regularizer as a plain option (the seed
    runs of a trial, an ablation's ``regularizer=none``): the option, and its weight under the
    option's own name (``regularizer.gamma`` of ``r1``); "—" for a kind that has no weight."""
    option = (run.summary.get("choices") or {}).get("regularizer")
    kind = next((k for k, (plain, _) in KINDS.items() if plain == option), None)
    if kind is None:
        return None
    if name == "regularizer.kind":
        return kind
    weight_key = KINDS[kind][1]
    return "—" if weight_key is None else OmegaConf.select(config, f"regularizer.{weight_key}", default=None)


def run_setting(run: Run) -> dict[str, str]:
    """The searched keys of the run's trial and the run's value of each (formatted), in the
    trial's order; {} for a run that is no search trial and re-runs none."""
    trial = run.trial()
    if trial is None:
        return {}
    setting = {}
    for key, recorded in trial["params"].items():
        value = _config_value(run, str(key))
        setting[str(key)] = format_value(recorded if value is None else value)
    return setting


def group_setting(runs: Sequence[Run]) -> tuple[dict[str, str], int]:
    """The setting the group's runs share and the number of distinct settings among the runs that
    have one: ``(setting, 1)`` for the seed runs of one trial, ``({}, N)`` for N trials of a
    search, ``({}, 0)`` when no run says what a search chose."""
    settings = [s for s in (run_setting(r) for r in runs) if s]
    distinct = {json.dumps(s, sort_keys=True) for s in settings}
    if len(distinct) == 1:
        return settings[0], 1
    return {}, len(distinct)


def describe(setting: dict[str, str], count: int) -> str:
    """``key=value, …`` for one setting, ``N settings (a search)`` for several, ``—`` for none."""
    if setting:
        return ", ".join(f"{k}={v}" for k, v in setting.items())
    return f"{count} settings (a search)" if count > 1 else "—"
