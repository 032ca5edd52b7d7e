"""Exponential moving average of the generator's weights, used for evaluation."""

from __future__ import annotations

import copy

import torch
from torch import nn

from ganbench._compat import foreach_copy_, foreach_lerp_


class EMAGenerator(nn.Module):
    """A frozen copy of the generator whose weights track θ_ema ← β·θ_ema + (1 − β)·θ.

    Before iteration ``start`` the copy simply follows the generator. Buffers (e.g. BatchNorm
    statistics) are copied, not averaged. The parameters never require grad, and the module is
    saved in checkpoints with the rest of the GAN.
    """

    def __init__(self, generator: nn.Module, decay: float = 0.999, start: int = 0) -> None:
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"ema.decay must be in [0, 1) or null (no EMA), got {decay}; set e.g. ema.decay=0.999")
        if start < 0:
            raise ValueError(
                f"ema.start must be >= 0 (the iteration the EMA starts averaging), got {start}; e.g. ema.start=0"
            )
        self.decay = float(decay)
        self.start = int(start)
        self.module = copy.deepcopy(generator).requires_grad_(False)
        self._pairs: tuple | None = None

    def _tensors(self, generator: nn.Module) -> tuple[list, list, list, list]:
        """(EMA params, generator params, EMA buffers, generator buffers). The parameter lists are
        built once per generator (``.to()`` keeps parameter objects); buffers are looked up in their
        modules at each call, since ``.to()`` replaces buffer tensors."""
        if self._pairs is None or self._pairs[0] is not generator:
            slots = [
                (m_ema, m, name)
                for m_ema, m in zip(self.module.modules(), generator.modules())
                for name, _ in m.named_buffers(recurse=False)
            ]
            self._pairs = (generator, list(self.module.parameters()), list(generator.parameters()), slots)
        _, ema_params, params, slots = self._pairs
        ema_buffers = [m_ema.get_buffer(name) for m_ema, _, name in slots]
        buffers = [m.get_buffer(name) for _, m, name in slots]
        return ema_params, params, ema_buffers, buffers

    def _apply(self, fn, recurse: bool = True):
        self._pairs = None  # list the tensors again after .to()/.cuda()
        return super()._apply(fn, recurse)

    @torch.no_grad()
    def update(self, generator: nn.Module, iteration: int) -> None:
        ema_params, params, ema_buffers, buffers = self._tensors(generator)
        if iteration < self.start:
            foreach_copy_(ema_params, params)
        else:
            foreach_lerp_(ema_params, params, 1.0 - self.decay)
        if ema_buffers:
            foreach_copy_(ema_buffers, buffers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.module(z)
