"""Composing the Hydra configs outside a Hydra app, and reading what a composed config chose."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

import ganbench.schema  # noqa: F401  (registers the root schema with Hydra's ConfigStore)
from ganbench.paths import conf_dir
from ganbench.search_space import searched_regularizer

CHOICE_GROUPS = (
    "dataset",
    "evaluator",
    "model",
    "loss",
    "regularizer",
    "optimizer",
    "accelerator",
    "trainer",
    "logger",
)


def compose(overrides: list[str] | None = None, config_name: str = "train") -> DictConfig:
    """Compose the training config as ``ganbench-train`` would, with the Hydra node included."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from ganbench.bootstrap import setup

    setup()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=overrides or [], return_hydra_config=True)


def choices(cfg: DictConfig) -> dict[str, str]:
    """The config-group options the run was composed from (``loss: hinge`` …)."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        picked = OmegaConf.to_container(HydraConfig.get().runtime.choices)
    else:
        node = OmegaConf.select(cfg, "hydra.runtime.choices", default=None)
        picked = OmegaConf.to_container(node) if node is not None else {}
    names = {g: str(picked.get(g)) for g in CHOICE_GROUPS if picked.get(g) is not None}
    searched = searched_regularizer(cfg)
    if searched is not None:  # a search trial's penalty: the option it builds, not the group's default
        names["regularizer"] = searched[0]
    return names


def override_key(override: str) -> str:
    """The key a command-line override sets: ``loss`` for ``loss=hinge``, ``+x.y=1`` or ``~x.y``."""
    return override.lstrip("+~").split("=", 1)[0]


# Set by ganbench-study for a search pass (``hydra.job.env_set``): how many trials the pass's Optuna
# study held before it started, so that job j of the pass is Optuna's trial FIRST_TRIAL + j.
FIRST_TRIAL = "GANBENCH_FIRST_TRIAL"


def trial_of(cfg: DictConfig) -> dict[str, Any] | None:
    """The hyperparameter-search trial this run is (its Optuna number and sampled values), when a
    sweeper set one. The number is the sweep's job number, offset by ``hydra.job.env_set`` 's
    ``GANBENCH_FIRST_TRIAL`` (which ganbench-study sets when a search continues a storage that
    already holds trials): Optuna numbers a study's trials in the order they are asked."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    sweeper = str(OmegaConf.select(hydra_cfg, "sweeper._target_", default="") or "")
    if "optuna" not in sweeper.lower() or hydra_cfg.mode is None or str(hydra_cfg.mode) != "RunMode.MULTIRUN":
        return None
    params = [str(p) for p in OmegaConf.select(hydra_cfg, "sweeper.params", default={}) or {}]
    # keyed as the search file names them: `+optimizer/scheduler` keeps its `+`, so that
    # `<key>=<value>` rebuilds the trial's setting outside the search
    by_key = {override_key(p): p for p in params}
    sampled = {}
    for o in hydra_cfg.overrides.task:
        name = by_key.get(override_key(o))
        if name is not None:
            sampled[name] = o.split("=", 1)[1]
    first = OmegaConf.select(hydra_cfg, f"job.env_set.{FIRST_TRIAL}", default=None)
    return {"number": int(first or 0) + int(hydra_cfg.job.num), "params": sampled}


def without_hydra(cfg: DictConfig) -> DictConfig:
    """The run's config without Hydra's own node (what ``config.yaml`` holds)."""
    return OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """The run's config without Hydra's node, interpolations resolved, as plain containers."""
    return OmegaConf.to_container(without_hydra(cfg), resolve=True)
