"""Divergence detection: is every loss, discriminator output and weight of an iteration finite?

All the checked quantities are reduced on the device to one number: the losses, the D outputs and
the weights of both players are concatenated and summed in float32. A NaN or ±inf anywhere makes
the sum NaN or ±inf, so a finite sum proves that every value is finite; one concatenation and one
sum cost less than a norm per parameter tensor (on the CPU about 22 µs against 35 µs for the
default toy models). A non-finite sum may, in principle, also come from finite values whose sum
overflows float32 (beyond 3.4e38): only then are the quantities checked one by one, which names
what went non-finite, or finds nothing and lets the run go on.

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
    """A 0-d boolean tensor on the tensors' device, True when the float32 sum of every element of
    ``tensors`` and ``weights`` is finite, which proves that all of them are; False when one is
    NaN or ±inf, or (in principle) when finite values sum beyond the float32 range. Three kernels,
    no host sync. (Under ``no_grad``, so parameters need no ``detach``; ``cat`` promotes mixed
    dtypes to the widest, which keeps every value's finiteness, and the sum accumulates in float32,
    so half-precision weights do not overflow it.)"""
    with torch.no_grad():
        flat = torch.cat([t.reshape(-1) for t in (*tensors, *weights)])
        return torch.isfinite(flat.sum(dtype=torch.float32))


def non_finite_names(tensors: dict[str, Tensor], weights: dict[str, Sequence[Tensor]]) -> list[str]:
    """The names of the quantities that hold a non-finite value (the slow path, on failure only)."""
    with torch.no_grad():
        bad = [name for name, t in tensors.items() if not bool(torch.isfinite(t).all())]
        bad += [name for name, ws in weights.items() if not all(bool(torch.isfinite(w).all()) for w in ws)]
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
        """Raise for what is non-finite; nothing is when finite values only overflowed the sum."""
        bad = non_finite_names(tensors, weights)
        if bad:
            raise NonFiniteError(f"non-finite {', '.join(bad)} at iteration {iteration}", iteration)
