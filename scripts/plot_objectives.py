"""Plot the minimised discriminator loss against the divergence it measures, for every objective,
over a family of Gaussian pairs: P = N(0, 1) (data), Q = N(μ, 1.25²) (model), μ = 0 … 2.5.

    python scripts/plot_objectives.py                     # writes docs/objectives.png
    python scripts/plot_objectives.py --out /tmp/o.png --samples 50000

Dots are the library's ``discriminator_loss`` at its ``optimal_output`` on stratified samples
(quantiles of each distribution; the fakes are shuffled so that relativistic pairs are
independent). Lines are the right-hand sides of the identities of docs/objectives.md, computed by
quadrature in :mod:`ganbench.losses.theory`. RLSGAN and RaLSGAN use their derived global optimum
(no pointwise one); Wasserstein uses WGAN-GP critics trained on samples, with −W₁ and the
penalised optimum as lines. RaSGAN and the relativistic hinge forms have no closed-form optimum
and are not plotted.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy import integrate, stats
from torch import nn

from ganbench.losses import (
    FGANLoss,
    GANLoss,
    HingeLoss,
    LeastSquaresLoss,
    MinimaxLoss,
    NonSaturatingLoss,
    RelativisticAverageLoss,
    RelativisticLoss,
    WassersteinLoss,
    theory,
)
from ganbench.losses.theory import Mixture1D, gaussian
from ganbench.regularizers import GradientPenalty

DOCS = Path(__file__).resolve().parents[1] / "docs"
MODEL_STD = 1.25
MUS = np.linspace(0.0, 2.5, 11)


class Pair:
    """Stratified samples of P and Q with both densities at each sample (float64 tensors)."""

    def __init__(self, mu: float, n: int, seed: int = 0) -> None:
        self.data, self.model = gaussian(0.0, 1.0), gaussian(mu, MODEL_STD)
        u = (np.arange(n) + 0.5) / n
        x_real = stats.norm.ppf(u)
        x_fake = np.random.default_rng(seed).permutation(mu + MODEL_STD * stats.norm.ppf(u))
        t = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float64))  # noqa: E731
        self.p_real, self.q_real = t(self.data.pdf(x_real)), t(self.model.pdf(x_real))
        self.p_fake, self.q_fake = t(self.data.pdf(x_fake)), t(self.model.pdf(x_fake))


def loss_at_optimum(loss: GANLoss, s: Pair) -> float:
    real, fake = loss.optimal_output(s.p_real, s.q_real), loss.optimal_output(s.p_fake, s.q_fake)
    return loss.discriminator_loss(real, fake).item()


def relativistic_ls_at_optimum(average: bool, s: Pair) -> float:
    """The loss at C* = w/e (RLSGAN) or 2w/(3e − 1) (RaLSGAN), w = p/(p + q), e = E_P[w]."""
    e = 1.0 - theory.harmonic_overlap(s.data, s.model)
    scale = 2.0 / (3.0 * e - 1.0) if average else 1.0 / e
    w = lambda p, q: p / (p + q)  # noqa: E731
    loss = RelativisticAverageLoss("least_squares") if average else RelativisticLoss("least_squares")
    return loss.discriminator_loss(scale * w(s.p_real, s.q_real), scale * w(s.p_fake, s.q_fake)).item()


def rsgan_identity(p_dist: Mixture1D, q_dist: Mixture1D) -> float:
    """E_{x~P, y~Q}[softplus(log r(y) − log r(x))], r = p/q, by a double integral."""
    lo, hi = -10.0, 10.0 + MUS.max()

    def inner(y: float, x: float) -> float:
        diff = (p_dist.logpdf_scalar(x) - q_dist.logpdf_scalar(x)) - (p_dist.logpdf_scalar(y) - q_dist.logpdf_scalar(y))
        weight = math.exp(p_dist.logpdf_scalar(x) + q_dist.logpdf_scalar(y))
        return weight * (max(-diff, 0.0) + math.log1p(math.exp(-abs(diff))))

    return integrate.dblquad(inner, lo, hi, lo, hi, epsabs=1e-8, epsrel=1e-7)[0]


def wgan_gp_estimate(mu: float, weight: float = 10.0, steps: int = 400) -> float:
    """E_P[d] − E_Q[d] of a WGAN-GP critic trained between N(0, 1) and N(μ, 1)."""
    gen = torch.Generator().manual_seed(0)
    real_pool, fake_pool = torch.randn(16_384, 1, generator=gen), mu + torch.randn(16_384, 1, generator=gen)
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Linear(1, 32), nn.LeakyReLU(0.2), nn.Linear(32, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))
    nn.init.zeros_(critic[-1].weight)
    opt = torch.optim.Adam(critic.parameters(), lr=5e-3, betas=(0.5, 0.9))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1.0 - 0.9 * i / steps)
    loss, penalty = WassersteinLoss(), GradientPenalty(weight)
    for _ in range(steps):
        real = real_pool[torch.randint(0, 16_384, (256,), generator=gen)]
        fake = fake_pool[torch.randint(0, 16_384, (256,), generator=gen)]
        opt.zero_grad()
        d_loss = loss.discriminator_loss(critic(real).squeeze(1), critic(fake).squeeze(1))
        (d_loss + penalty.penalty(critic, real, fake)).backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        real, fake = torch.randn(100_000, 1, generator=gen), mu + torch.randn(100_000, 1, generator=gen)
        return -loss.discriminator_loss(critic(real).squeeze(1), critic(fake).squeeze(1)).item()


Divergence = Callable[[Mixture1D, Mixture1D], float]
Panel = tuple[str, str, Divergence, Callable[[float], float] | None, Callable[[Pair], float]]


def panels() -> list[Panel]:
    """(title, x label, divergence(P, Q), identity(divergence), library value at the optimum)."""
    jsd, tv, hov = theory.jensen_shannon, theory.total_variation, theory.harmonic_overlap
    out: list[Panel] = [
        ("minimax", "JSD", jsd, lambda v: math.log(4) - 2 * v, lambda s: loss_at_optimum(MinimaxLoss(), s)),
        ("nonsaturating", "JSD", jsd, lambda v: math.log(4) - 2 * v, lambda s: loss_at_optimum(NonSaturatingLoss(), s)),
        (
            "least_squares (a=0, b=1)",
            "∫pq/(p+q)",
            hov,
            lambda v: 0.5 * v,
            lambda s: loss_at_optimum(LeastSquaresLoss(), s),
        ),
        (
            "least_squares_pearson (a=−1, b=1)",
            "∫pq/(p+q)",
            hov,
            lambda v: 2.0 * v,
            lambda s: loss_at_optimum(LeastSquaresLoss(a=-1.0, b=1.0, c=0.0), s),
        ),
        ("hinge", "TV", tv, lambda v: 2 - 2 * v, lambda s: loss_at_optimum(HingeLoss(), s)),
    ]
    for name, div in [
        ("kl", theory.kl),
        ("reverse_kl", theory.reverse_kl),
        ("pearson", theory.pearson_chi2),
        ("hellinger", theory.squared_hellinger),
    ]:
        label = {"kl": "KL(P‖Q)", "reverse_kl": "KL(Q‖P)", "pearson": "χ²(P‖Q)", "hellinger": "H²(P, Q)"}[name]
        out.append((f"fgan_{name}", label, div, lambda v: -v, lambda s, n=name: loss_at_optimum(FGANLoss(n), s)))
    out += [
        ("fgan_js", "2·JSD", lambda p, q: 2 * jsd(p, q), lambda v: -v, lambda s: loss_at_optimum(FGANLoss("js"), s)),
        ("rsgan (C* = log p/q)", "JSD", jsd, None, lambda s: loss_at_optimum(RelativisticLoss("sigmoid"), s)),
        (
            "rlsgan (C* = w/e)",
            "e = 1 − ∫pq/(p+q)",
            lambda p, q: 1 - hov(p, q),
            lambda e: 1 / e - 1,
            lambda s: relativistic_ls_at_optimum(False, s),
        ),
        (
            "ralsgan (C* = 2w/(3e−1))",
            "e = 1 − ∫pq/(p+q)",
            lambda p, q: 1 - hov(p, q),
            lambda e: 2 * (1 - e) / (3 * e - 1),
            lambda s: relativistic_ls_at_optimum(True, s),
        ),
    ]
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS / "objectives.png")
    parser.add_argument("--samples", type=int, default=200_000, help="stratified samples per distribution")
    parser.add_argument("--wasserstein-points", type=int, default=6, help="trained WGAN-GP critics (0: skip)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    pairs = [Pair(mu, args.samples) for mu in MUS]
    specs = panels()
    fig, axes = plt.subplots(3, 5, figsize=(20, 11.5))
    for ax, (title, xlabel, divergence, identity, library) in zip(axes.flat, specs):
        x = np.array([divergence(s.data, s.model) for s in pairs])
        y = np.array([library(s) for s in pairs])
        if identity is None:  # RSGAN: the minimum is a double integral, not a function of a named divergence
            line = np.array([rsgan_identity(s.data, s.model) for s in pairs])
        else:
            line = np.array([identity(v) for v in x])
        order = np.argsort(x)
        ax.plot(x[order], line[order], "-", color="C0", label="theory (quadrature)")
        ax.plot(x, y, "o", color="C1", ms=5, label="library at optimal_output")
        ax.set_title(title, fontsize=11)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("min L_D")
        ax.grid(alpha=0.3)
        print(f"{title:36s} max |library − theory| = {np.abs(y - line).max():.2e}")
    ax = axes.flat[len(specs)]
    if args.wasserstein_points:
        mus = np.linspace(0.0, 2.5, args.wasserstein_points)
        estimates = np.array([wgan_gp_estimate(mu) for mu in mus])
        dense = np.linspace(0.0, 2.5, 26)
        penalised = [theory.gradient_penalty_critic_value(mu, 10.0)[1] if mu > 0 else 0.0 for mu in dense]
        ax.plot(dense, -dense, "-", color="C0", label="−W₁ (1-Lipschitz)")
        ax.plot(dense, -np.asarray(penalised), "--", color="C2", label="penalised optimum, λ = 10")
        ax.plot(mus, -estimates, "o", color="C1", ms=5, label="trained critic")
        ax.set_title("wasserstein + gp, P = N(0,1), Q = N(μ,1)", fontsize=11)
        ax.set_xlabel("W₁ = |μ|")
        ax.set_ylabel("min L_D")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        for mu, est in zip(mus, estimates):
            print(f"wasserstein μ = {mu:.2f}: E_P[d] − E_Q[d] = {est:.4f}")
    for extra in axes.flat[len(specs) + (1 if args.wasserstein_points else 0) :]:
        extra.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(
        "Minimised discriminator loss vs divergence, P = N(0, 1), Q = N(μ, 1.25²), μ = 0 … 2.5 "
        f"({args.samples:,} stratified samples per distribution)",
        fontsize=13,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
