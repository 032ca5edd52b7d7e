"""The interface every GAN objective implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

from torch import Tensor


class GANLoss(ABC):
    """A GAN objective: the loss each player minimises, on raw discriminator outputs.

    Subclasses implement :meth:`discriminator_loss` and :meth:`generator_loss`. Both take the
    discriminator's raw outputs (logits for the sigmoid family, unbounded scores otherwise) and
    return a scalar mean over the batch.

    Class attributes:
        output_is_logit: the outputs are logits of P(real). Logged D outputs are then shown as
            probabilities σ(d); otherwise they are shown raw.
        name: the short name used in configs, tables and run names.
    """

    output_is_logit: bool = False
    name: str = "loss"

    @abstractmethod
    def discriminator_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        """Loss minimised by the discriminator, given its outputs on real and fake samples."""

    @abstractmethod
    def generator_loss(self, fake_out: Tensor, real_out: Tensor | None = None) -> Tensor:
        """Loss minimised by the generator. ``real_out`` is used only by relativistic losses."""

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"
