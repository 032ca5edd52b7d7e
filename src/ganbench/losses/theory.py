"""One-dimensional distributions and divergences by numerical quadrature, to check objectives
against theory (tests/losses, scripts/plot_objectives.py).

Every divergence is computed from its own definition with :func:`scipy.integrate.quad`, in log
space where densities get small; none of it goes through the loss classes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import integrate, special, stats


@dataclass(frozen=True)
class Mixture1D:
    """A mixture of 1-D Gaussians: Σₖ wₖ·N(meanₖ, stdₖ²). A single Gaussian has one component."""

    weights: tuple[float, ...]
    means: tuple[float, ...]
    stds: tuple[float, ...]

    def __post_init__(self) -> None:
        if not (len(self.weights) == len(self.means) == len(self.stds) >= 1):
            raise ValueError("Mixture1D needs as many weights, means and stds, at least one of each")
        if any(w <= 0 for w in self.weights) or abs(sum(self.weights) - 1.0) > 1e-12:
            raise ValueError(f"Mixture1D weights must be positive and sum to 1, got {self.weights}")
        if any(s <= 0 for s in self.stds):
            raise ValueError(f"Mixture1D stds must be positive, got {self.stds}")

    def logpdf(self, x: np.ndarray | float) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)[..., None]
        w, m, s = (np.asarray(a, dtype=np.float64) for a in (self.weights, self.means, self.stds))
        comp = np.log(w) - 0.5 * ((x - m) / s) ** 2 - np.log(s) - 0.5 * math.log(2 * math.pi)
        return special.logsumexp(comp, axis=-1)

    def logpdf_scalar(self, x: float) -> float:
        """:meth:`logpdf` at one point, in plain floats (fast inside adaptive quadrature)."""
        terms = [
            math.log(w) - 0.5 * ((x - m) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)
            for w, m, s in zip(self.weights, self.means, self.stds)
        ]
        top = max(terms)
        return top + math.log(sum(math.exp(t - top) for t in terms))

    def pdf(self, x: np.ndarray | float) -> np.ndarray:
        return np.exp(self.logpdf(x))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        k = rng.choice(len(self.weights), size=n, p=np.asarray(self.weights))
        return np.asarray(self.means)[k] + np.asarray(self.stds)[k] * rng.standard_normal(n)

    def bounds(self, width: float = 14.0) -> tuple[float, float]:
        """An interval outside which the density is below exp(−width²/2) of its peak."""
        lo = min(m - width * s for m, s in zip(self.means, self.stds))
        hi = max(m + width * s for m, s in zip(self.means, self.stds))
        return lo, hi


def gaussian(mean: float, std: float) -> Mixture1D:
    return Mixture1D((1.0,), (float(mean),), (float(std),))


def integrate_pair(fn: Callable[[float, float], float], dist_p: Mixture1D, dist_q: Mixture1D) -> float:
    """∫ fn(log p(x), log q(x)) dx over the union of both supports (adaptive quadrature)."""
    lo = min(dist_p.bounds()[0], dist_q.bounds()[0])
    hi = max(dist_p.bounds()[1], dist_q.bounds()[1])
    points = sorted({*dist_p.means, *dist_q.means})

    def integrand(x: float) -> float:
        return fn(dist_p.logpdf_scalar(x), dist_q.logpdf_scalar(x))

    value, _ = integrate.quad(integrand, lo, hi, points=points, limit=500, epsabs=1e-11, epsrel=1e-10)
    return float(value)


def _logaddexp(a: float, b: float) -> float:
    top = max(a, b)
    return top + math.log1p(math.exp(-abs(a - b)))


def kl(dist_p: Mixture1D, dist_q: Mixture1D) -> float:
    """KL(P‖Q) = ∫ p log(p/q)."""
    return integrate_pair(lambda lp, lq: math.exp(lp) * (lp - lq), dist_p, dist_q)


def reverse_kl(dist_p: Mixture1D, dist_q: Mixture1D) -> float:
    """KL(Q‖P) = ∫ q log(q/p)."""
    return integrate_pair(lambda lp, lq: math.exp(lq) * (lq - lp), dist_p, dist_q)


def pearson_chi2(dist_p: Mixture1D, dist_q: Mixture1D) -> float:
    """Pearson χ²(P‖Q) = ∫ (p − q)²/q = ∫ q·(p/q − 1)²."""
    return integrate_pair(lambda lp, lq: math.exp(lq) * math.expm1(lp - lq) ** 2, dist_p, dist_q)


def squared_hellinger(dist_p: Mixture1D, dist_q: Mixture1D) -> float:
    """H²(P, Q) = ∫ (√p − √q)² (no ½ factor; between 0 and 2)."""
    return integrate_pair(lambda lp, lq: (math.exp(lp / 2) - math.exp(lq / 2)) ** 2, dist_p, dist_q)


def jensen_shannon(dist_p: Mixture1D, dist_q: Mixture1D) -> float:
    """JSD(P, Q) = ½KL(P‖M) + ½KL(Q‖M), M = (P + Q)/2, in nats (between 0 and log 2)."""

    def fn(lp: float, lq: float) -> float:
        lm = _logaddexp(lp, lq) - math.log(2.0)
        return 0.5 * math.exp(lp) * (lp - lm) + 0.5 * math.exp(lq) * (lq - lm)

    return integrate_pair(fn, dist_p, dist_q)


def total_variation(dist_p: Mixture1D, dist_q: Mixture1D) -> float:
    """TV(P, Q) = ½∫|p − q| (between 0 and 1)."""
    return integrate_pair(lambda lp, lq: 0.5 * abs(math.exp(lp) - math.exp(lq)), dist_p, dist_q)


def triangular_discrimination(dist_p: Mixture1D, dist_q: Mixture1D) -> float:
    """Δ(P, Q) = ∫ (p − q)²/(p + q) (between 0 and 2). ∫ pq/(p + q) = ½ − Δ/4."""

    def fn(lp: float, lq: float) -> float:
        return (math.exp(lp) - math.exp(lq)) ** 2 * math.exp(-_logaddexp(lp, lq))

    return integrate_pair(fn, dist_p, dist_q)


def harmonic_overlap(dist_p: Mixture1D, dist_q: Mixture1D) -> float:
    """I(P, Q) = ∫ pq/(p + q) (between 0 and ½): the least-squares GAN's divergence term."""
    return integrate_pair(lambda lp, lq: math.exp(lp + lq - _logaddexp(lp, lq)), dist_p, dist_q)


DIVERGENCES: dict[str, Callable[[Mixture1D, Mixture1D], float]] = {
    "kl": kl,
    "reverse_kl": reverse_kl,
    "pearson_chi2": pearson_chi2,
    "squared_hellinger": squared_hellinger,
    "jensen_shannon": jensen_shannon,
    "total_variation": total_variation,
    "triangular_discrimination": triangular_discrimination,
    "harmonic_overlap": harmonic_overlap,
}


def gradient_penalty_critic_value(mu: float, weight: float) -> tuple[float, float]:
    """W₁ between N(0, 1) and N(μ, 1), and the value of E_P[d] − E_Q[d] that a critic optimal under
    the WGAN-GP penalty λ·E_x̂[(|d′(x̂)| − 1)²] reaches (λ = ``weight``), in 1-D.

    Writing E_P[d] − E_Q[d] = ∫ d′·g with g = F_Q − F_P, and ρ for the density of the interpolates
    x̂ = εx + (1 − ε)y (ε ~ U[0, 1], x ~ P, y ~ Q), the penalised objective is maximised pointwise by
    |d′| = 1 + |g|/(2λρ), giving W₁ + (1/2λ)·∫ g²/ρ: a finite penalty lets the critic be steeper
    than 1 and overestimates W₁ = ∫|g| = |μ|. The one-sided penalty (WGAN-LP) has the same optimum,
    because |d′| ≥ 1 everywhere there.
    """
    if weight <= 0:
        raise ValueError(f"the penalty weight must be > 0, got {weight}")
    mu = float(mu)

    # ε-integral of the interpolate density by 64-point Gauss–Legendre: the integrand is smooth in ε
    # (the variance ε² + (1 − ε)² stays >= ½).
    nodes, node_weights = np.polynomial.legendre.leggauss(64)
    eps, eps_weights = 0.5 * (nodes + 1.0), 0.5 * node_weights
    eps_means, eps_stds = (1.0 - eps) * mu, np.sqrt(eps**2 + (1.0 - eps) ** 2)

    def interpolate_density(x: float) -> float:
        return float(np.dot(eps_weights, stats.norm.pdf(x, eps_means, eps_stds)))

    def g(x: float) -> float:
        return float(stats.norm.cdf(x - mu) - stats.norm.cdf(x))

    lo, hi = min(0.0, mu) - 8.0, max(0.0, mu) + 8.0
    w1 = integrate.quad(lambda x: abs(g(x)), lo, hi, points=[0.0, mu], limit=200)[0]
    excess = integrate.quad(lambda x: g(x) ** 2 / interpolate_density(x), lo, hi, points=[0.0, mu], limit=200)[0]
    return float(w1), float(w1 + excess / (2.0 * weight))
