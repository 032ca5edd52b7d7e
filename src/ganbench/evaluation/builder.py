"""Build the run's evaluator from ``cfg.evaluator`` (``conf/evaluator/``) and the datamodule."""

from __future__ import annotations

from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig


def build_evaluator(config: DictConfig, datamodule: Any) -> Any:
    """The evaluator that ``config`` (a ``_target_`` class and its settings) describes, for ``datamodule``.

    A class with a ``from_datamodule(datamodule, **settings)`` classmethod (ganbench's
    :class:`~ganbench.evaluation.toy.ToyEvaluator` and :class:`~ganbench.evaluation.images.ImageEvaluator`)
    takes from the datamodule what it needs; any other class is called with ``datamodule=`` and the
    settings. The result is an :class:`~ganbench.evaluation.contract.Evaluator`.
    """
    factory = instantiate(config, _partial_=True, _convert_="all")  # functools.partial(cls, **settings)
    from_datamodule = getattr(factory.func, "from_datamodule", None)
    if from_datamodule is None:
        return factory(datamodule=datamodule)
    return from_datamodule(datamodule, *factory.args, **factory.keywords)
