"""Which metrics an evaluator reports: ``evaluator.metrics`` (a list of names) selects a subset of
those the evaluator can compute with its settings; ``null`` keeps them all.

An evaluator class declares what it can compute through a classmethod
``available_metrics(**settings) -> {name: direction}`` (the settings are the keys of its config), so
``ganbench.validation`` can refuse an unknown name before anything is built or loaded.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any

Directions = dict[str, "str | None"]


def select_metrics(selected: Iterable[str] | None, available: Mapping[str, str | None], owner: str) -> Directions:
    """The directions of the ``selected`` metrics, in the order given (all of ``available``, in its
    order, when ``selected`` is None). ValueError naming the unknown names and the valid ones."""
    if selected is None:
        return dict(available)
    if isinstance(selected, str):
        selected = [selected]
    names = list(dict.fromkeys(str(name) for name in selected))
    if not names:
        raise ValueError(
            f"evaluator.metrics=[] selects no metric; list some of: {', '.join(available)} (or null for all)"
        )
    unknown = [name for name in names if name not in available]
    if unknown:
        raise ValueError(
            f"evaluator.metrics: {', '.join(unknown)} not computed by {owner} with these settings; "
            f"valid: {', '.join(available)}"
        )
    return {name: available[name] for name in names}


def bound_settings(cls: type, settings: Mapping[str, Any], skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """``settings`` completed with the defaults of ``cls.__init__`` (parameters in ``skip``, such
    as the datamodule, are left out). TypeError for a key ``cls`` does not take."""
    signature = inspect.signature(cls)
    params = [p for name, p in signature.parameters.items() if name not in skip]
    bound = signature.replace(parameters=params).bind_partial(**settings)
    bound.apply_defaults()
    return dict(bound.arguments)
