"""Per-call host overheads of Lightning and torch that ganbench's tiny toy iterations feel.

* **Profiler hooks.** Lightning wraps every hook call (each callback's hook, each module hook, each
  strategy call: dozens per GAN iteration) in ``with trainer.profiler.profile(name):``. Its default
  ``PassThroughProfiler`` does nothing in ``start``/``stop``, but ``profile`` is a generator-based
  ``@contextmanager``, so each call still builds and steps a generator. :class:`NullProfiler`
  returns one shared ``nullcontext`` instead. ganbench passes it only when no profiler is
  configured; ``+trainer.profiler=simple`` works as before.
* **The CUDA availability check of every Adam step.** ``import lightning`` sets
  ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` (so that ``torch.cuda.is_available()`` does not initialise
  CUDA before a fork). ``torch.optim.Adam.step`` calls ``torch.cuda.is_available()`` at every
  step, and with that variable, before CUDA is initialised, each call loads the NVML library
  anew (about 30 µs). CUDA is never initialised in a CPU run, so a CUDA build of torch pays it at
  every optimiser step. :func:`no_nvml_check_on_cpu` unsets the variable for the duration of a
  run when NVML finds no GPU at all (nothing to protect); with a GPU present it changes nothing.
* **Training metrics in ``trainer.callback_metrics``.** Each ``self.log`` costs ~0.3–0.6 ms a key
  on a CPU (Lightning moves its result object to the value's device on every call): about 1 % of
  a toy run when 7 training metrics are handed over every 100 iterations. During a run only
  callbacks read ``callback_metrics``; :func:`callbacks_read_metrics` says whether the trainer has
  one that may (any callback but ganbench's own, progress bars and model summaries), and the
  module hands the training metrics over during the run only then (always at the last iteration).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from lightning.pytorch.callbacks import Callback, ModelSummary, ProgressBar
from lightning.pytorch.profilers import PassThroughProfiler

_NULL = contextlib.nullcontext()
_NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"


class NullProfiler(PassThroughProfiler):
    """``PassThroughProfiler`` whose ``profile(name)`` is a shared no-op context manager."""

    def profile(self, action_name: str) -> contextlib.nullcontext:  # type: ignore[override]
        return _NULL


@contextlib.contextmanager
def no_nvml_check_on_cpu() -> Iterator[None]:
    """Unset ``PYTORCH_NVML_BASED_CUDA_CHECK`` inside the block if no CUDA GPU is visible (NVML
    counts none), so ``torch.cuda.is_available()`` answers from the CUDA runtime's cached count
    instead of loading NVML at every call. Restored on exit."""
    import torch

    if os.environ.get(_NVML_CHECK) != "1" or torch.cuda.is_available():
        yield
        return
    os.environ.pop(_NVML_CHECK)
    try:
        yield
    finally:
        os.environ[_NVML_CHECK] = "1"


def callbacks_read_metrics(callbacks: list[Callback]) -> bool:
    """Whether one of ``callbacks`` may read ``trainer.callback_metrics`` during the run: any but
    progress bars and model summaries (which do not) and ganbench's own callbacks (which declare
    ``reads_callback_metrics = False``)."""
    return any(
        getattr(cb, "reads_callback_metrics", True) and not isinstance(cb, (ProgressBar, ModelSummary))
        for cb in callbacks
    )
