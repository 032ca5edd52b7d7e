"""The identity of what ran: the objective's name as it was configured, not as it was chosen.

``loss=nonsaturating`` names the option; ``loss._target_=my_pkg.MyLoss`` or ``loss.a=-1`` change
what runs while the option's name stays. :func:`component_name` names a config group's node by
what it resolves to:

- the option's name when the node equals the option's YAML (``nonsaturating``);
- the option's name with the changed arguments when the class is the option's
  (``least_squares(a=-1, c=0)``, ``nonsaturating(real_label=0.9)``);
- the class path with its arguments that differ from the constructor's defaults otherwise
  (``my_pkg.MyLoss``, ``my_pkg.MyLoss(alpha=2)``).

The run record, the sweep directory names and ``ganbench-compare``'s default grouping all use it.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ganbench.errors import locate
from ganbench.paths import conf_dir
from ganbench.search_space import searched_regularizer

OBJECTIVE_GROUPS = ("loss", "regularizer")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return value
    return repr(value)


def _args(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in values.items())


def _same_class(a: str | None, b: str | None) -> bool:
    if a == b:
        return True
    if not a or not b:
        return False
    try:
        return locate(a) is locate(b)
    except ImportError:
        return False


def _option(group: str, choice: str | None) -> dict[str, Any] | None:
    if not choice:
        return None
    path = conf_dir() / group / f"{choice}.yaml"
    if not path.is_file():
        return None
    node = OmegaConf.load(path)
    return OmegaConf.to_container(node, resolve=False) if isinstance(node, DictConfig) else None


def _constructor_defaults(target: str) -> dict[str, Any]:
    try:
        params = inspect.signature(locate(target)).parameters.values()
    except (ImportError, TypeError, ValueError):
        return {}
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


def component_name(node: Any, group: str, choice: str | None) -> str:
    """The name of config group ``group``'s resolved ``node``, chosen as option ``choice``."""
    if node is None:
        return str(choice)
    values = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    target = values.get("_target_")
    args = {k: v for k, v in values.items() if not k.startswith("_")}
    option = _option(group, choice)
    if option is not None and _same_class(option.get("_target_"), target):
        base = {k: v for k, v in option.items() if not k.startswith("_")}
        changed = {k: v for k, v in args.items() if k not in base or base[k] != v}
        removed = [k for k in base if k not in args]
        if not changed and not removed:
            return str(choice)
        return f"{choice}({_args(changed)})" if changed else str(choice)
    defaults = _constructor_defaults(str(target))
    changed = {k: v for k, v in args.items() if k not in defaults or defaults[k] != v}
    return f"{target}({_args(changed)})" if changed else str(target)


def objective(cfg: DictConfig, choices: dict[str, str]) -> dict[str, str]:
    """``{"loss": …, "regularizer": …}``: the objective as it was run."""
    return {g: _group_name(cfg, g, choices.get(g)) for g in OBJECTIVE_GROUPS if cfg.get(g) is not None}


def _group_name(cfg: DictConfig, group: str, choice: str | None) -> str:
    """:func:`component_name` of ``cfg``'s ``group``. A search trial's penalty (``regularizer.kind``,
    ``regularizer.weight``) is named as the option it builds (``gp(weight=3.2)``), as its seed runs are."""
    searched = searched_regularizer(cfg) if group == "regularizer" else None
    if searched is None:
        return component_name(cfg.get(group), group, choice)
    option, args = searched
    return component_name({**(_option(group, option) or {}), **args}, group, option)


def slug(name: str) -> str:
    """``name`` as a directory name: ``least_squares(a=-1, c=0)`` → ``least_squares_a-1_c0``."""
    text = name.replace(", ", "_").replace("(", "_").replace(")", "").replace("=", "")
    return re.sub(r"[^A-Za-z0-9._+-]", "-", text)


def objective_dir_name(group: str, *, _root_: DictConfig) -> str:
    """The OmegaConf resolver ``${ganbench_objective:loss}``: the directory name of group
    ``group``'s resolved option in this config."""
    choice = OmegaConf.select(_root_, f"hydra.runtime.choices.{group}", default=None)
    return slug(_group_name(_root_, group, choice))
