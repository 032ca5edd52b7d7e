"""PacGAN packing: Lin, Khetan, Fanti & Oh 2018, "PacGAN: The power of two samples in generative
adversarial networks" (NeurIPS), §3.

A packed discriminator D_m judges m samples at once: it sees the concatenation (x_1, …, x_m) of
m independent samples of one kind (all real or all generated) and gives one score to the pack.
Packing penalises mode collapse, because a pack of a collapsed generator's samples looks unlike a
pack of real ones even when each sample alone looks real.

``model.discriminator.packing=m`` builds the discriminator for inputs m times as large (m × its
``data_dim`` for the MLPs, m × its ``channels`` for the convolutional ones: the paper's
concatenation along channels) and wraps it in :class:`PackedDiscriminator`, which cuts a batch of
B samples into B/m packs of consecutive samples and returns B/m scores. The training step only
ever calls the discriminator on an all-real or an all-generated batch, so a pack never mixes
kinds; the gradient penalties interpolate and take gradient norms per pack (see
:mod:`ganbench.regularizers`). ``packing=1`` builds the discriminator unwrapped, exactly as
without the option.
"""

from __future__ import annotations

import inspect
from typing import Any

from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

# Constructor arguments that give the size of one sample along dimension 1, in order of preference.
INPUT_SIZE_ARGS = ("channels", "data_dim")


class PackedDiscriminator(nn.Module):
    """Scores packs of ``packing`` consecutive samples with ``discriminator``.

    A batch (B, S, …) becomes (B/m, m·S, …): the samples of a pack are concatenated along
    dimension 1 (features of a vector, channels of an image), and the output has one score per pack.
    """

    def __init__(self, discriminator: nn.Module, packing: int) -> None:
        super().__init__()
        if packing < 1:
            raise ValueError(f"packing must be >= 1, got {packing}")
        self.discriminator = discriminator
        self.packing = int(packing)

    def pack(self, x: Tensor) -> Tensor:
        """(B, S, …) → (B/m, m·S, …), pack j holding samples j·m … j·m + m − 1."""
        n, m = x.shape[0], self.packing
        if n % m:
            raise ValueError(
                f"a batch of {n} samples cannot be cut into packs of {m}; batch_size must be divisible by "
                "model.discriminator.packing"
            )
        return x.reshape(n // m, m * x.shape[1], *x.shape[2:])

    def forward(self, x: Tensor) -> Tensor:
        return self.discriminator(self.pack(x))


def packing_of(discriminator: nn.Module) -> int:
    """Samples per discriminator input: m for a :class:`PackedDiscriminator` (or a discriminator that
    packs by itself and says so with a ``packing`` attribute), else 1."""
    return int(getattr(discriminator, "packing", 1) or 1)


def packing_errors(packing: Any, batch_size: int) -> list[str]:
    """What is wrong with ``model.discriminator.packing`` for minibatches of ``batch_size`` samples
    (empty when nothing is): m must be an integer >= 1 that divides the batch into whole packs."""
    packing = 1 if packing is None else packing
    if not isinstance(packing, int) or isinstance(packing, bool) or packing < 1:
        return [f"model.discriminator.packing must be an integer >= 1, got {packing!r}"]
    if batch_size % packing:
        return [
            f"batch_size={batch_size} is not divisible by model.discriminator.packing={packing}: "
            f"use a batch_size that is a multiple of {packing}"
        ]
    return []


def _arguments(cls: type) -> dict[str, inspect.Parameter]:
    try:
        return dict(inspect.signature(cls).parameters)
    except (TypeError, ValueError):
        return {}


def build_discriminator(node: DictConfig | dict[str, Any]) -> nn.Module:
    """Instantiate the discriminator config ``node`` (``_target_`` and arguments), honouring its
    optional ``packing`` key (default 1; see the module docstring).

    A discriminator class that takes a ``packing`` argument itself receives it unchanged; otherwise
    its ``channels`` (or ``data_dim``) argument is multiplied by m and the result is wrapped in
    :class:`PackedDiscriminator`.
    """
    cfg = OmegaConf.create(node) if not isinstance(node, DictConfig) else node
    packing = cfg.get("packing", 1)
    packing = 1 if packing is None else packing
    if not isinstance(packing, int) or isinstance(packing, bool) or packing < 1:
        raise ValueError(f"model.discriminator.packing must be an integer >= 1, got {packing!r}")
    cls = get_class(cfg._target_)
    params = _arguments(cls)
    if "packing" in params:  # packs by itself
        return instantiate(cfg)
    kwargs = OmegaConf.to_container(cfg, resolve=True)
    kwargs.pop("packing", None)
    if packing == 1:
        return instantiate(kwargs)
    size_arg = next((a for a in INPUT_SIZE_ARGS if a in params), None)
    if size_arg is None:
        raise ValueError(
            f"model.discriminator.packing={packing}: {cls.__name__} has no `channels` or `data_dim` argument to "
            "scale to packed inputs; give it one, or a `packing` argument and pack inside it"
        )
    default = params[size_arg].default
    size = kwargs.get(size_arg, None if default is inspect.Parameter.empty else default)
    if size is None:
        raise ValueError(f"model.discriminator.packing={packing}: set model.discriminator.{size_arg}")
    kwargs[size_arg] = int(size) * packing
    return PackedDiscriminator(instantiate(kwargs), packing)
