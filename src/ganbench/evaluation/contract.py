"""What every evaluator provides: :class:`Evaluator`.

The evaluation callback (:class:`~ganbench.training.callbacks.EvaluationCallback`) calls
:meth:`~Evaluator.evaluate` on ``num_samples`` generated samples and records the metrics with their
:attr:`~Evaluator.directions`; it has :meth:`~Evaluator.plot_job` drawn by a worker process while
training goes on (or :meth:`~Evaluator.plot` at once); :meth:`~Evaluator.info` goes to the run
record; ``ganbench-train`` prints :meth:`~Evaluator.summary_line` when a run ends; validation asks
:meth:`~Evaluator.available_metrics` which names ``evaluator.metrics`` may select, and
:attr:`~Evaluator.for_toy_data` which datasets the evaluator measures, before anything is built.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from torch import Tensor

from ganbench.rendering import RenderJob, render
from ganbench.summary import is_number


class Evaluator(ABC):
    """The metrics of generated samples, how each reads, and the picture of an evaluation.

    Attributes:
        num_samples: generated samples per evaluation (all processes together).
        directions: every metric :meth:`evaluate` returns → ``"max"`` (higher is better), ``"min"``
            or None (no better side, such as the spread of an estimate).
        for_toy_data: True for an evaluator of the 2-D toy mixtures, False for one of images.
    """

    num_samples: int
    directions: dict[str, str | None]
    for_toy_data: ClassVar[bool]

    @classmethod
    @abstractmethod
    def available_metrics(cls, **settings: Any) -> dict[str, str | None]:
        """Every metric an evaluator built with ``settings`` (the keys of its config) can compute,
        with its direction."""

    @abstractmethod
    def evaluate(self, samples: Tensor) -> dict[str, float]:
        """The metrics of ``samples``: exactly the names of :attr:`directions`."""

    @abstractmethod
    def plot_job(self, samples: Tensor, path: Path, title: str = "") -> RenderJob:
        """The picture of ``samples`` as a :class:`~ganbench.rendering.RenderJob` (numpy data and
        strings only), which a worker process may draw."""

    def plot(self, samples: Tensor, path: Path, title: str = "") -> Path:
        """Draw :meth:`plot_job` here, into ``path``."""
        return render(self.plot_job(samples, path, title))

    def info(self) -> dict[str, Any]:
        """Facts about the benchmark that are not metrics (the number of modes …), for the run record."""
        return {}

    @classmethod
    def summary_line(cls, metrics: Mapping[str, Any], info: Mapping[str, Any]) -> str:
        """How the final ``metrics`` read in the one-line summary of a finished run (``info`` as
        :meth:`info` gave it): every metric, ``name=value``."""
        return ", ".join(f"{k}={v:.4g}" if is_number(v) else f"{k}={v}" for k, v in metrics.items())
