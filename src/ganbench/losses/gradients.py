"""How each generator loss behaves when the discriminator wins: ∂L_G/∂d_fake as σ(d_fake) → 0.

:func:`gradient_table` renders the numbers as the Markdown table of docs/objectives.md
(``scripts/objective_gradient_table.py`` writes it there; a test checks it is up to date).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from ganbench.config import conf_dir
from ganbench.losses.base import GANLoss
from ganbench.losses.fgan import FGANLoss
from ganbench.losses.relativistic import RelativisticAverageLoss, RelativisticLoss

D_FAKE_VALUES = (0.0, -2.0, -5.0, -10.0, -20.0)


def config_losses(saddle_variants: bool = False) -> dict[str, GANLoss]:
    """Every objective of ``conf/loss/`` with its default arguments, keyed by option name.

    With ``saddle_variants``, each f-GAN option is followed by its ``generator=saddle`` variant,
    keyed ``<option> (saddle)``.
    """
    losses: dict[str, GANLoss] = {}
    for path in sorted((conf_dir() / "loss").glob("*.yaml"), key=_family_order):
        node = OmegaConf.load(path)
        losses[path.stem] = instantiate(node)
        if saddle_variants and node.get("generator") == "practical":
            losses[f"{path.stem} (saddle)"] = instantiate(node, generator="saddle")
    return losses


def _family_order(path) -> tuple[int, str]:
    """Classic objectives first (in the order of the README), then f-GANs, then relativistic ones."""
    classic = ["minimax", "nonsaturating", "least_squares", "least_squares_pearson", "hinge", "wasserstein"]
    if path.stem in classic:
        return (0, f"{classic.index(path.stem):02d}")
    target = str(OmegaConf.load(path).get("_target_", ""))
    families = {FGANLoss: 1, RelativisticLoss: 2, RelativisticAverageLoss: 3}
    rank = next((r for cls, r in families.items() if target.endswith(cls.__name__)), 4)
    return (rank, path.stem)


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


def gradient_table(losses: dict[str, GANLoss] | None = None, d_values: Sequence[float] = D_FAKE_VALUES) -> str:
    """Markdown table of per-sample ∂L_G/∂d_fake for each loss at each d_fake (d_real = 0)."""
    losses = config_losses(saddle_variants=True) if losses is None else losses
    header = ["`loss=`"] + [f"d = {d:g} (σ = {1 / (1 + math.exp(-d)):.2g})" for d in d_values] + ["as σ(d_fake) → 0"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, loss in losses.items():
        grads = [generator_gradient(loss, d) for d in d_values]
        lines.append("| " + " | ".join([f"`{name}`", *(_format(g) for g in grads), behaviour(grads)]) + " |")
    return "\n".join(lines) + "\n"
