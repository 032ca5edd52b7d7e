"""Build the run's evaluator from ``cfg.evaluator`` (``conf/evaluator/``) and the datamodule."""

from __future__ import annotations

from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig

from ganbench.evaluation.contract import Evaluator


def build_evaluator(config: DictConfig, datamodule: Any) -> Evaluator:
    """The evaluator that ``config`` (a ``_target_`` class and its settings) describes, for ``datamodule``.

    A class with a ``from_datamodule(datamodule, **settings)`` classmethod (ganbench's
    :class:`~ganbench.evaluation.toy.ToyEvaluator` and :class:`~ganbench.evaluation.images.ImageEvaluator`)
    takes from the datamodule what it needs; any other class is called with ``datamodule=`` and the
    settings. The result is an :class:`~ganbench.evaluation.contract.Evaluator`.
    """
    factory = instantiate(config, _partial_=True, _convert_="all")  # functools.partial(cls, **settings)
    if not (isinstance(factory.func, type) and issubclass(factory.func, Evaluator)):
        raise TypeError(
            f"{config.get('_target_')} is not an evaluator: subclass ganbench.evaluation.contract.Evaluator "
            "(evaluate, plot_job, available_metrics, directions, num_samples)"
        )
    from_datamodule = getattr(factory.func, "from_datamodule", None)
    if from_datamodule is None:
        return factory(datamodule=datamodule)
    return from_datamodule(datamodule, *factory.args, **factory.keywords)
