"""The penalty dimension of the hyperparameter searches (``conf/hparams_search/``).

Every loss family's search space has the same penalty dimension, as in Kurach et al. 2019
("A Large-Scale Study on Regularization and Normalization in GANs", ICML): no penalty, the
gradient penalty (GP, Gulrajani et al. 2017) or R1 (Mescheder et al. 2018), its weight λ
log-uniform in [0.1, 100]. The Wasserstein loss needs a constraint on D, so its searches choose
among GP, the one-sided LP (Petzka et al. 2018) and weight clipping (Arjovsky et al. 2017, clip
value 0.01). No loss can choose a penalty the others cannot, so a difference between losses is
not a difference between penalties.

Hydra's Optuna sweeper has no conditional parameters, so a search samples two flat keys,
``regularizer.kind`` and ``regularizer.weight``, and :func:`searched_penalty` builds the chosen
regularizer; the weight is unused when the kind has none (``none``, ``clip``).
:func:`penalty_overrides` turns such a trial back into the plain ``regularizer=…`` options
(``regularizer=gp regularizer.weight=3.2``), which is how the seed runs of a study rebuild it, and
:func:`as_option` names a trial's penalty as that option, so that a trial's run record
(``choices``, ``objective``) says ``gp(weight=3.2)`` as its seed runs' records do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

if TYPE_CHECKING:
    from ganbench.regularizers import Regularizer

SEARCHED_PENALTY = f"{__name__}.searched_penalty"

# kind → (the conf/regularizer/ option, the name of its weight there, or None when it has none)
KINDS: dict[str, tuple[str, str | None]] = {
    "none": ("none", None),
    "gp": ("gp", "weight"),
    "r1": ("r1", "gamma"),
    "lp": ("lp", "weight"),
    "clip": ("clip", None),
}


def searched_penalty(kind: str = "none", weight: float = 10.0) -> Regularizer:
    """The regularizer a search trial chose: ``kind`` (none, gp, r1, lp or clip) with the weight λ
    where it has one (λ of GP and LP, γ of R1: (γ/2) E‖∇D(x_real)‖²)."""
    if kind not in KINDS:
        raise ValueError(f"regularizer.kind must be one of {', '.join(KINDS)}, got {kind!r}")
    from ganbench.regularizers import (  # here: torch only where a regularizer is built
        GradientPenalty,
        NoRegularizer,
        OneSidedGradientPenalty,
        SquaredGradientPenalty,
        WeightClipping,
    )

    if kind == "gp":
        return GradientPenalty(weight=weight)
    if kind == "r1":
        return SquaredGradientPenalty(gamma=weight, on="real")
    if kind == "lp":
        return OneSidedGradientPenalty(weight=weight)
    if kind == "clip":
        return WeightClipping()
    return NoRegularizer()


def penalty_overrides(kind: str, weight: float | str | None) -> list[str]:
    """The command-line overrides that select the same regularizer as ``searched_penalty(kind,
    weight)`` through the ``regularizer`` config group."""
    if kind not in KINDS:
        raise ValueError(f"regularizer.kind must be one of {', '.join(KINDS)}, got {kind!r}")
    option, key = KINDS[kind]
    return [f"regularizer={option}"] + ([f"regularizer.{key}={weight}"] if key and weight is not None else [])


def as_option(node: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """A searched penalty's resolved config node (``_target_: …searched_penalty``) as the
    ``conf/regularizer/`` option it builds and the arguments it gives that option:
    ``("gp", {"weight": 3.2})``, ``("r1", {"gamma": 0.5})``, ``("none", {})``. None for any other
    node, and for an unknown kind (which :func:`searched_penalty` refuses when the run is built)."""
    if node.get("_target_") != SEARCHED_PENALTY or node.get("kind", "none") not in KINDS:
        return None
    option, key = KINDS[node.get("kind", "none")]
    return option, ({key: node.get("weight", 10.0)} if key else {})


def searched_regularizer(cfg: DictConfig) -> tuple[str, dict[str, Any]] | None:
    """:func:`as_option` of the run config ``cfg``'s ``regularizer``: the option a search trial's
    penalty builds and its arguments; None for any other regularizer."""
    node = cfg.get("regularizer")
    return as_option(OmegaConf.to_container(node, resolve=True)) if isinstance(node, DictConfig) else None
