"""How each generator loss behaves when the discriminator wins: ∂L_G/∂d_fake as σ(d_fake) → 0.

:func:`gradient_table` renders the numbers as the Markdown table of docs/objectives.md
(``scripts/loss_tables.py`` writes it there; a test checks it is up to date).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ganbench.losses.base import GANLoss

D_FAKE_VALUES = (0.0, -2.0, -5.0, -10.0, -20.0)


def generator_gradient(loss: GANLoss, d_fake: float, d_real: float = 0.0, batch: int = 4) -> float:
    """Per-sample ∂L_G/∂d_fake in float64, on a batch whose fake outputs all equal ``d_fake``.

    L_G is a batch mean, so the gradient of one sample is scaled back by the batch size. Losses
    that look at real outputs (relativistic) get a batch of real outputs all equal to ``d_real``.
    """
    fake = torch.full((batch,), float(d_fake), dtype=torch.float64, requires_grad=True)
    real = torch.full((batch,), float(d_real), dtype=torch.float64)
    value = loss.generator_loss(fake, real if getattr(loss, "uses_real_for_generator", False) else None)
    (grad,) = torch.autograd.grad(value, fake)
    return batch * grad[0].item()


def behaviour(gradients: Sequence[float]) -> str:
    """Classify the last two gradients (d_fake = −10 and −20 in the table): vanishes, levels off, or grows."""
    g10, g20 = gradients[-2], gradients[-1]
    if abs(g20) < 1e-6:
        return "vanishes (saturates)"
    if abs(g20 - g10) < 1e-3:
        return f"tends to {g20:+.3g}"
    if abs(g20) > abs(g10):
        return "grows in magnitude" + (" (wrong sign)" if g20 > 0 else "")
    return "shrinks"


def _format(value: float) -> str:
    if value == 0.0:
        return "0"
    if 1e-3 <= abs(value) < 1e4:
        return f"{value:+.4f}"
    return f"{value:+.3e}"


def gradient_table(losses: dict[str, GANLoss], d_values: Sequence[float] = D_FAKE_VALUES) -> str:
    """Markdown table of per-sample ∂L_G/∂d_fake for each loss at each d_fake (d_real = 0); docs/objectives.md
    shows it for :func:`ganbench.losses.catalog.config_losses` with the f-GAN saddle variants."""
    header = ["`loss=`"] + [f"d = {d:g} (σ = {1 / (1 + math.exp(-d)):.2g})" for d in d_values] + ["as σ(d_fake) → 0"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, loss in losses.items():
        grads = [generator_gradient(loss, d) for d in d_values]
        lines.append("| " + " | ".join([f"`{name}`", *(_format(g) for g in grads), behaviour(grads)]) + " |")
    return "\n".join(lines) + "\n"
