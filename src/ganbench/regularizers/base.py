"""The interface of discriminator regularizers (Lipschitz constraints and gradient penalties)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Regularizer:
    """Something added to the discriminator's training step.

    :meth:`penalty` returns a weighted scalar added to the discriminator loss (zero for none).
    :meth:`after_discriminator_step` runs after each discriminator optimiser step (weight
    clipping uses it). ``uses_input_gradients`` says that the penalty differentiates D with respect
    to its input, which is meaningless with BatchNorm in D.
    """

    name: str = "none"
    uses_input_gradients: bool = False

    def penalty(self, discriminator: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        return real.new_zeros(())

    def after_discriminator_step(self, discriminator: nn.Module) -> None:
        return None

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class NoRegularizer(Regularizer):
    """No regularization: the discriminator loss alone."""

    name = "none"


def input_gradient(discriminator: nn.Module, inputs: Tensor) -> tuple[Tensor, Tensor]:
    """Return D(inputs) and ∇ₓD(x) at ``inputs``, flattened per discriminator input, with a graph for
    backprop.

    A discriminator input is one sample, or one pack of m consecutive samples for a PacGAN-packed
    discriminator (:func:`ganbench.models.packing.packing_of`): the gradient rows of a pack are then
    joined into one row of m × the sample's size, so norms are taken per packed input.
    """
    from ganbench.models.packing import packing_of

    inputs = inputs.detach().requires_grad_(True)
    out = discriminator(inputs)
    (grad,) = torch.autograd.grad(out.sum(), inputs, create_graph=True)
    return out, grad.reshape(grad.shape[0] // packing_of(discriminator), -1)
