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
* **Training metrics in ``trainer.callback_metrics``.** Each ``self.log`` call costs ~0.3–0.6 ms
  on a 2-core CPU machine (Lightning moves its whole result object to the value's device at every
  call, through ``apply_to_collection`` over the object's attributes): the seven training values
  cost ~2–4 ms per hand-over. At every log point of the default toy run (CPU, 1 thread,
  ``log_every=10``, ``iterations_per_step=10``) that was ~6 % of the throughput (ganbench with
  ``self.log_dict`` against the same code with it patched out, alternating in one process, 2 × 8
  rounds of 1,400 timed iterations: ratio median 0.94, min 0.83, max 1.00); hence
  ``callback_metrics_every=100``. Measured after that change (2026-11-30, default toy config, 1
  thread): cProfile of 3,000 iterations of ``framework_round`` (``benchmarks/framework_overhead.py``)
  gives ``log_dict`` 0.150 s of 14.53 s, 1.0 % (31 calls; before: 1.35 s of 15.58 s, 8.7 %, 301
  calls); an in-process A/B of 6 rounds of 1,400 timed iterations gives every 100 / none 0.960
  (min 0.926, max 1.002) and every 10 / none 0.949 (0.866–1.120), a spread (±5 %) larger than the
  1 % the profile attributes to logging. During a run only callbacks read ``callback_metrics``:
  :func:`callbacks_read_metrics` says whether the trainer has one that may (any callback but
  ganbench's own, progress bars and model summaries), and the module hands the training metrics
  over during the run only then (always at the last iteration).
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
