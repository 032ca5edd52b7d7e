"""Divergence detection: is every loss, discriminator output and weight of an iteration finite?

All the checked quantities are reduced on the device to one boolean: the losses and the D outputs
are concatenated with the per-parameter norms ‖θ‖₂ of both players (a NaN or ±inf weight makes its
norm non-finite) and ``isfinite(·).all()`` is taken. Only when that flag is false are the
quantities checked one by one, to name what went non-finite.

Reading the flag is a device → host copy. On the CPU it is free and the check is immediate: the
error is raised in the iteration that produced the NaN. On an accelerator a blocking read would
stall the pipeline in every iteration, so the check is *deferred*: the flag is copied
``non_blocking`` into pinned host memory, an event is recorded after the copy, and the flag is read
at the next iteration's check, once the device has passed that event. The host then waits, at most,
for the previous iteration's work, never for the one it has just queued, and the device queue never
runs dry. A NaN that appears in iteration i is thus reported at the end of iteration i + 1 (as
"at iteration i"; the weights named in the message are then those after iteration i + 1: a NaN
weight stays NaN). :meth:`FiniteCheck.resolve` settles the pending flag at once; the checkpoint and
evaluation callbacks call it first, so a checkpoint is never written from a diverged state.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


class NonFiniteError(RuntimeError):
    """A loss, an output or a weight became NaN or infinite at ``iteration``: the run has diverged."""

    def __init__(self, message: str, iteration: int) -> None:
        super().__init__(message)
        self.iteration = iteration


def all_finite(tensors: Sequence[Tensor], weights: Sequence[Tensor]) -> Tensor:
    """A 0-d boolean tensor on the tensors' device: every element of ``tensors`` and every
    parameter norm ‖w‖₂ of ``weights`` is finite. A handful of kernels, no host sync. (Under
    ``no_grad``, so parameters need no ``detach``; ``cat`` promotes mixed dtypes to the widest,
    which keeps every value's finiteness.)"""
    with torch.no_grad():
        parts = [t.reshape(-1) for t in tensors]
        if weights:
            parts.append(torch.stack(torch._foreach_norm(weights)))
        return torch.isfinite(torch.cat(parts)).all()


def non_finite_names(tensors: dict[str, Tensor], weights: dict[str, Sequence[Tensor]]) -> list[str]:
    """The names of the quantities that hold a non-finite value (the slow path, on failure only)."""
    bad = [name for name, t in tensors.items() if not bool(torch.isfinite(t.detach()).all())]
    for name, ws in weights.items():
        if ws and not bool(torch.isfinite(torch.stack(torch._foreach_norm([w.detach() for w in ws]))).all()):
            bad.append(name)
    return bad


class FiniteCheck:
    """Checks each iteration's quantities, immediately on the CPU, one iteration late on CUDA.

    Args:
        deferred: ``None`` (default) defers on CUDA devices and checks immediately elsewhere;
            ``False`` always checks immediately; ``True`` always defers (on the CPU the flag is
            simply kept and read at the next check: the same bookkeeping, for tests).
    """

    def __init__(self, deferred: bool | None = None) -> None:
        self.deferred = deferred
        self._host: Tensor | None = None
        self._event: torch.cuda.Event | None = None
        self._pending: tuple[int, Tensor, bool, dict[str, Tensor], dict[str, Sequence[Tensor]]] | None = None
        self._flat: tuple[dict[str, Sequence[Tensor]], list[Tensor]] | None = None  # weights, listed once

    def _weight_list(self, weights: dict[str, Sequence[Tensor]]) -> list[Tensor]:
        """All the tensors of ``weights`` in one list, built once per ``weights`` mapping."""
        if self._flat is None or self._flat[0] is not weights:
            self._flat = (weights, [w for ws in weights.values() for w in ws])
        return self._flat[1]

    def _defers(self, device: torch.device) -> bool:
        return device.type == "cuda" if self.deferred is None else self.deferred

    def __call__(self, iteration: int, tensors: dict[str, Tensor], weights: dict[str, Sequence[Tensor]]) -> None:
        """Check ``tensors`` and the norms of ``weights`` of ``iteration``; raise
        :class:`NonFiniteError` for this iteration (immediate) or the previous one (deferred)."""
        flag = all_finite(list(tensors.values()), self._weight_list(weights))
        if not self._defers(flag.device):
            if not bool(flag):
                self._fail(iteration, tensors, weights)
            return
        self.resolve()
        on_cuda = flag.device.type == "cuda"
        if on_cuda:
            if self._host is None:
                self._host = torch.empty((), dtype=torch.bool, pin_memory=True)
                self._event = torch.cuda.Event()
            self._host.copy_(flag, non_blocking=True)
            self._event.record()
            flag = self._host
        self._pending = (iteration, flag, on_cuda, {k: t.detach() for k, t in tensors.items()}, weights)

    def resolve(self) -> None:
        """Read the pending (deferred) flag now, waiting for the device if needed; raise if it was false."""
        if self._pending is None:
            return
        iteration, flag, on_cuda, tensors, weights = self._pending
        self._pending = None
        if on_cuda:
            self._event.synchronize()  # waits for that iteration's work only; no stream synchronisation
        if not bool(flag):
            self._fail(iteration, tensors, weights)

    @staticmethod
    def _fail(iteration: int, tensors: dict[str, Tensor], weights: dict[str, Sequence[Tensor]]) -> None:
        bad = non_finite_names(tensors, weights) or ["values"]
        raise NonFiniteError(f"non-finite {', '.join(bad)} at iteration {iteration}", iteration)
