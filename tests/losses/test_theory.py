"""Objectives against theory on 1-D distributions: (a) the discriminator loss at ``optimal_output``
equals each objective's divergence identity, computed independently by quadrature; (b) moving
away from the optimum increases the loss.

Monte-Carlo estimates use 100,000 float64 samples per distribution, seeded; the tolerance is four
standard errors, estimated from 25 independent chunks. Each identity is also required to be far (in
standard errors) from its value at P = Q, so a loss that ignored the densities could not pass.

The objectives are those of ``conf/loss/`` (tests/losses/conftest.py), plus ``EXTRA_LOSSES``. Each
class declares what it supports: without ``has_pointwise_optimum`` (Wasserstein, relativistic
average, RLSGAN, RHingeGAN) a loss is skipped here (test_contract.py checks it raises), and for
RLSGAN and RaLSGAN the derived global optimum is checked instead. The right-hand side of (a) is
the class's declared ``optimum_identity()`` and, for the objectives of the literature, the
identity written in this file from the papers; every one available is checked, and the two must
agree.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from ganbench.losses import (
    FGANLoss,
    GANLoss,
    HingeLoss,
    LeastSquaresLoss,
    MinimaxLoss,
    NonSaturatingLoss,
    NoPointwiseOptimumError,
    RelativisticAverageLoss,
    RelativisticLoss,
    WassersteinLoss,
)
from ganbench.losses.catalog import config_losses
from ganbench.losses.theory import (
    Mixture1D,
    gaussian,
    harmonic_overlap,
    integrate_pair,
    jensen_shannon,
    total_variation,
)

N = 100_000
CHUNKS = 25

# Data P against model Q. The pairs keep every Monte-Carlo term of finite variance: the model is
# wider than each data component (Pearson χ² and KL terms) but not by more than √2 (reverse KL).
PAIRS = {
    "gaussians": (gaussian(0.0, 1.0), gaussian(1.0, 1.25)),
    "mixture": (Mixture1D((0.4, 0.6), (-1.0, 1.2), (0.85, 0.9)), gaussian(0.2, 1.05)),
}


class Samples:
    """Seeded samples of P and Q with both densities at every sample, as float64 tensors."""

    def __init__(self, dist_p: Mixture1D, dist_q: Mixture1D, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.x_real, self.x_fake = dist_p.sample(N, rng), dist_q.sample(N, rng)
        t = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float64))  # noqa: E731
        self.p_real, self.q_real = t(dist_p.pdf(self.x_real)), t(dist_q.pdf(self.x_real))
        self.p_fake, self.q_fake = t(dist_p.pdf(self.x_fake)), t(dist_q.pdf(self.x_fake))
        self.h_real, self.h_fake = t(np.tanh(self.x_real)), t(np.tanh(self.x_fake))


@pytest.fixture(scope="module", params=list(PAIRS))
def pair(request):
    dist_p, dist_q = PAIRS[request.param]
    return request.param, dist_p, dist_q, Samples(dist_p, dist_q, seed=list(PAIRS).index(request.param))


def mc_loss(loss: GANLoss, real_out: torch.Tensor, fake_out: torch.Tensor) -> tuple[float, float]:
    """The loss on all samples and its standard error from CHUNKS independent chunks."""
    values = [loss.discriminator_loss(r, f).item() for r, f in zip(real_out.chunk(CHUNKS), fake_out.chunk(CHUNKS))]
    return float(np.mean(values)), float(np.std(values, ddof=1) / math.sqrt(CHUNKS))


def at_optimum(loss: GANLoss, s: Samples) -> tuple[torch.Tensor, torch.Tensor]:
    return loss.optimal_output(s.p_real, s.q_real), loss.optimal_output(s.p_fake, s.q_fake)


# ---------------------------------------------------------------------------------------------
# The right-hand sides, from the definitions (the f's are Table 1 of Nowozin et al. 2016).

F_GENERATORS = {
    "kl": lambda u: u * math.log(u),
    "reverse_kl": lambda u: -math.log(u),
    "pearson": lambda u: (u - 1.0) ** 2,
    "hellinger": lambda u: (math.sqrt(u) - 1.0) ** 2,
    "js": lambda u: -(u + 1.0) * math.log((1.0 + u) / 2.0) + u * math.log(u),
}


def f_divergence(name: str, dist_p: Mixture1D, dist_q: Mixture1D) -> float:
    """D_f(P‖Q) = ∫ q·f(p/q)."""
    f = F_GENERATORS[name]
    return integrate_pair(lambda lp, lq: math.exp(lq) * f(math.exp(lp - lq)), dist_p, dist_q)


def smoothed_sigmoid_optimum(alpha: float, dist_p: Mixture1D, dist_q: Mixture1D) -> float:
    """∫ min_d {p·[α·softplus(−d) + (1 − α)·softplus(d)] + q·softplus(d)}: at σ(d) = αp/(p + q) the
    integrand is −αp·log(αp/(p + q)) − ((1 − α)p + q)·log(((1 − α)p + q)/(p + q))."""

    def fn(lp: float, lq: float) -> float:
        p, q = math.exp(lp), math.exp(lq)
        rest = (1.0 - alpha) * p + q
        return -alpha * p * math.log(alpha * p / (p + q)) - rest * math.log(rest / (p + q))

    return integrate_pair(fn, dist_p, dist_q)


def rsgan_optimum(dist_p: Mixture1D, dist_q: Mixture1D) -> float:
    """E_{x~P, y~Q}[softplus(−(C*(x) − C*(y)))] with C* = log(p/q): a double integral."""
    lo = min(dist_p.bounds(10)[0], dist_q.bounds(10)[0])
    hi = max(dist_p.bounds(10)[1], dist_q.bounds(10)[1])

    def inner(y: float, x: float) -> float:
        lpx, lqx, lpy, lqy = (
            dist_p.logpdf_scalar(x),
            dist_q.logpdf_scalar(x),
            dist_p.logpdf_scalar(y),
            dist_q.logpdf_scalar(y),
        )
        diff = (lpx - lqx) - (lpy - lqy)
        return math.exp(lpx + lqy) * (max(-diff, 0.0) + math.log1p(math.exp(-abs(diff))))

    value, _ = integrate.dblquad(inner, lo, hi, lo, hi, epsabs=1e-9, epsrel=1e-8)
    return value


_IDENTITIES: dict[tuple[str, str, Mixture1D, Mixture1D], float | None] = {}


def identities(name: str, loss: GANLoss, dist_p: Mixture1D, dist_q: Mixture1D) -> dict[str, float]:
    """The discriminator loss at the optimum, as a divergence: the class's declaration and this
    file's own (docs/objectives.md, "theory"), whichever exist."""
    found = {}
    for source, compute in (("declared", declared_identity), ("literature", literature_identity)):
        key = (source, name, dist_p, dist_q)
        if key not in _IDENTITIES:
            _IDENTITIES[key] = compute(loss, dist_p, dist_q)
        if _IDENTITIES[key] is not None:
            found[source] = _IDENTITIES[key]
    return found


def declared_identity(loss: GANLoss, dist_p: Mixture1D, dist_q: Mixture1D) -> float | None:
    declared = loss.optimum_identity()
    return None if declared is None else declared.value(dist_p, dist_q)


def literature_identity(loss: GANLoss, dist_p: Mixture1D, dist_q: Mixture1D) -> float | None:
    """The identities of the papers, written here independently of the classes' declarations."""
    if isinstance(loss, (MinimaxLoss, NonSaturatingLoss)):
        if loss.real_label == 1.0:
            return math.log(4.0) - 2.0 * jensen_shannon(dist_p, dist_q)
        return smoothed_sigmoid_optimum(loss.real_label, dist_p, dist_q)
    if isinstance(loss, LeastSquaresLoss):
        return 0.5 * (loss.b - loss.a) ** 2 * harmonic_overlap(dist_p, dist_q)
    if isinstance(loss, HingeLoss):
        return 2.0 - 2.0 * total_variation(dist_p, dist_q)
    if isinstance(loss, FGANLoss):
        return -f_divergence(loss.divergence, dist_p, dist_q)
    if isinstance(loss, RelativisticLoss) and loss.form == "sigmoid":
        return rsgan_optimum(dist_p, dist_q)
    return None


# arguments the YAMLs of conf/loss do not use
EXTRA_LOSSES = {
    "minimax(real_label=0.9)": MinimaxLoss(real_label=0.9),
    "nonsaturating(real_label=0.7)": NonSaturatingLoss(real_label=0.7),
    "least_squares(a=0.5,b=2)": LeastSquaresLoss(a=0.5, b=2.0),
}


def pointwise(loss_case) -> tuple[str, GANLoss]:
    name, loss = loss_case
    if not loss.has_pointwise_optimum:
        pytest.skip(f"{name}: {type(loss).__name__} declares has_pointwise_optimum = False")
    return name, loss


def test_the_literature_objectives_declare_their_identities():
    # every conf/loss objective for which the papers give an affine divergence identity declares it
    # (RSGAN's optimum is a double integral, not an affine function of one divergence)
    for name, loss in config_losses().items():
        if loss.has_pointwise_optimum and not isinstance(loss, RelativisticLoss):
            assert loss.optimum_identity() is not None, name


# ---------------------------------------------------------------------------------------------
# (a) the loss at the optimum equals the divergence identity


def test_loss_at_optimum_equals_divergence_identity(loss_case, pair):
    name, loss = pointwise(loss_case)
    pair_name, dist_p, dist_q, s = pair
    expected = identities(name, loss, dist_p, dist_q)
    if not expected:
        pytest.skip(f"{name}: {type(loss).__name__} declares no optimum_identity (its optimum is checked by (b))")
    if len(expected) == 2:
        assert expected["declared"] == pytest.approx(expected["literature"], rel=1e-9, abs=1e-12), name
    value, se = mc_loss(loss, *at_optimum(loss, s))
    for source, theory in expected.items():
        assert se < 0.03 * max(1.0, abs(theory)), f"{name}: Monte-Carlo error {se:.2g} too large to test anything"
        message = f"{name} on {pair_name}: MC {value:.6f} ± {se:.1g}; {source}: {theory}"
        assert abs(value - theory) < 4 * se + 1e-9, message


def test_identities_depend_on_the_divergence(loss_case, pair):
    # The identity moves away from its P = Q value by far more than the tolerance of (a), so a
    # formula that ignored the densities (or dropped the divergence term) could not pass.
    name, loss = pointwise(loss_case)
    _, dist_p, dist_q, s = pair
    expected, at_equality = identities(name, loss, dist_p, dist_q), identities(name, loss, dist_p, dist_p)
    if not expected:
        pytest.skip(f"{name}: {type(loss).__name__} declares no optimum_identity")
    _, se = mc_loss(loss, *at_optimum(loss, s))
    for source in expected:
        assert abs(expected[source] - at_equality[source]) > 10 * se, (name, source)


def test_js_f_divergence_is_twice_the_jensen_shannon_divergence():
    # With the f of Table 1, D_f = ∫p log(2p/(p+q)) + q log(2q/(p+q)) = 2·JSD: f-GAN's JS loss is the
    # GAN discriminator loss minus log 4.
    dist_p, dist_q = PAIRS["mixture"]
    assert f_divergence("js", dist_p, dist_q) == pytest.approx(2.0 * jensen_shannon(dist_p, dist_q), rel=1e-7)
    v = torch.linspace(-5, 5, 11, dtype=torch.float64)
    assert (
        FGANLoss("js").discriminator_loss(v, v.flip(0)) - NonSaturatingLoss().discriminator_loss(v, v.flip(0))
    ).item() == (pytest.approx(-math.log(4.0), rel=1e-12))


# ---------------------------------------------------------------------------------------------
# (b) perturbing the optimum increases the loss


def test_perturbing_the_optimum_increases_the_loss(loss_case, pair):
    name, loss = pointwise(loss_case)
    pair_name, _, _, s = pair
    real_opt, fake_opt = at_optimum(loss, s)
    best = loss.discriminator_loss(real_opt, fake_opt).item()
    for eps in (0.1, -0.1):
        shifted = loss.discriminator_loss(real_opt + eps, fake_opt + eps).item()
        bent = loss.discriminator_loss(real_opt + eps * s.h_real, fake_opt + eps * s.h_fake).item()
        if loss.shift_invariant:
            # only differences of scores matter: a constant shift is as optimal
            assert shifted == pytest.approx(best, abs=1e-12)
        else:
            assert shifted > best + 1e-5, f"{name} on {pair_name}: shift {eps} gives {shifted} <= {best}"
        assert bent > best + 1e-5, f"{name} on {pair_name}: perturbation {eps}·tanh(x) gives {bent} <= {best}"


# ---------------------------------------------------------------------------------------------
# Relativistic objectives without a pointwise optimum: the derived global optima.
# With w = p/(p + q) and e = E_P[w] = 1 − ∫pq/(p + q):
#   RLSGAN  C* = w/e + k,           L_D* = 1/e − 1
#   RaLSGAN C* = 2w/(3e − 1) + k,   L_D* = 2(1 − e)/(3e − 1)


def relativistic_ls_optimum(average: bool, s: Samples, e: float) -> tuple[torch.Tensor, torch.Tensor, float]:
    scale = 2.0 / (3.0 * e - 1.0) if average else 1.0 / e
    w_real, w_fake = s.p_real / (s.p_real + s.q_real), s.p_fake / (s.p_fake + s.q_fake)
    value = 2.0 * (1.0 - e) / (3.0 * e - 1.0) if average else 1.0 / e - 1.0
    return scale * w_real, scale * w_fake, value


@pytest.mark.parametrize("average", [False, True], ids=["rlsgan", "ralsgan"])
def test_relativistic_least_squares_global_optimum(average, pair):
    pair_name, dist_p, dist_q, s = pair
    loss = RelativisticAverageLoss("least_squares") if average else RelativisticLoss("least_squares")
    e = 1.0 - harmonic_overlap(dist_p, dist_q)
    real_opt, fake_opt, expected = relativistic_ls_optimum(average, s, e)
    value, se = mc_loss(loss, real_opt, fake_opt)
    assert abs(value - expected) < 4 * se + 1e-9, f"{loss.name} on {pair_name}: MC {value} ± {se}, theory {expected}"
    best = loss.discriminator_loss(real_opt, fake_opt).item()
    for eps in (0.1, -0.1):
        shifted = loss.discriminator_loss(real_opt + eps, fake_opt + eps).item()
        assert shifted == pytest.approx(best, abs=1e-12)
        for h_real, h_fake in ((s.h_real, s.h_fake), (real_opt, fake_opt)):  # bend, and rescale
            worse = loss.discriminator_loss(real_opt + eps * h_real, fake_opt + eps * h_fake).item()
            assert worse > best + 1e-5, f"{loss.name} on {pair_name}"


def test_relativistic_average_sigmoid_optimum_is_not_the_log_ratio(pair):
    # RaSGAN is not minimised by log(p/q) (unlike RSGAN): stretching it lowers the loss by far more
    # than the Monte-Carlo error. Hence optimal_output raises for rasgan.
    _, _, _, s = pair
    ra, rs = RelativisticAverageLoss("sigmoid"), RelativisticLoss("sigmoid")
    real_opt, fake_opt = at_optimum(rs, s)
    at_log_ratio, se = mc_loss(ra, real_opt, fake_opt)
    stretched, _ = mc_loss(ra, 1.5 * real_opt, 1.5 * fake_opt)
    assert at_log_ratio - stretched > 8 * se, (at_log_ratio, stretched, se)
    # while for RSGAN the same stretch costs
    assert (
        rs.discriminator_loss(1.5 * real_opt, 1.5 * fake_opt).item() > rs.discriminator_loss(real_opt, fake_opt).item()
    )


# ---------------------------------------------------------------------------------------------
# optimal_output formulas at hand-picked densities, and input checks


def test_optimal_output_values_by_hand():
    p = torch.tensor([0.3, 0.1, 0.2], dtype=torch.float64)
    q = torch.tensor([0.1, 0.3, 0.2], dtype=torch.float64)
    lr = [math.log(3.0), -math.log(3.0), 0.0]
    assert MinimaxLoss().optimal_output(p, q).tolist() == pytest.approx(lr)
    # one-sided smoothing α = 0.9: log(0.9·0.3/(0.1·0.3 + 0.1)) = log(0.27/0.13)
    assert MinimaxLoss(real_label=0.9).optimal_output(p, q)[0].item() == pytest.approx(math.log(0.27 / 0.13))
    assert LeastSquaresLoss(a=-1, b=1).optimal_output(p, q).tolist() == pytest.approx([0.5, -0.5, 0.0])
    assert LeastSquaresLoss(a=0, b=1).optimal_output(p, q).tolist() == pytest.approx([0.75, 0.25, 0.5])
    assert HingeLoss().optimal_output(p, q).tolist() == [1.0, -1.0, 0.0]
    assert FGANLoss("kl").optimal_output(p, q).tolist() == pytest.approx([1 + x for x in lr])
    assert FGANLoss("reverse_kl").optimal_output(p, q).tolist() == pytest.approx(lr)
    assert FGANLoss("pearson").optimal_output(p, q).tolist() == pytest.approx([4.0, 2 * (1 / 3 - 1), 0.0])
    assert FGANLoss("hellinger").optimal_output(p, q).tolist() == pytest.approx([x / 2 for x in lr])
    assert FGANLoss("js").optimal_output(p, q).tolist() == pytest.approx(lr)
    assert RelativisticLoss("sigmoid").optimal_output(p, q).tolist() == pytest.approx(lr)


def test_fgan_optimal_output_satisfies_activation_equals_f_prime():
    # g_f(v*) = f'(p/q) with f' from Table 1, independently of the implementation of v*
    u = torch.tensor([0.2, 0.7, 1.0, 1.9, 6.0], dtype=torch.float64)
    p, q = u * 0.1, torch.full_like(u, 0.1)
    f_prime = {
        "kl": 1.0 + torch.log(u),
        "reverse_kl": -1.0 / u,
        "pearson": 2.0 * (u - 1.0),
        "hellinger": 1.0 - 1.0 / torch.sqrt(u),
        "js": torch.log(2.0 * u / (1.0 + u)),
    }
    for name, expected in f_prime.items():
        loss = FGANLoss(name)
        got = loss._f.activation(loss.optimal_output(p, q))
        assert got.tolist() == pytest.approx(expected.tolist(), rel=1e-12), name


def test_wasserstein_has_no_pointwise_optimum():
    with pytest.raises(NoPointwiseOptimumError, match="no pointwise optimal critic.*regularizer=gp"):
        WassersteinLoss().optimal_output(torch.ones(2), torch.ones(2))


@pytest.mark.parametrize(
    "p,q,message",
    [
        ([0.1, 0.2], [0.1], "same shape"),
        ([0.1, -0.2], [0.1, 0.1], ">= 0"),
        ([0.0, 0.2], [0.0, 0.1], "p_data = p_model = 0"),
        ([float("nan"), 0.2], [0.1, 0.1], "finite"),
    ],
)
def test_optimal_output_rejects_bad_densities(p, q, message):
    with pytest.raises(ValueError, match=message):
        MinimaxLoss().optimal_output(torch.tensor(p), torch.tensor(q))


def test_optimal_output_limits_where_one_density_vanishes():
    p, q = torch.tensor([0.0, 0.5]), torch.tensor([0.5, 0.0])
    assert MinimaxLoss().optimal_output(p, q).tolist() == [-math.inf, math.inf]
    assert LeastSquaresLoss().optimal_output(p, q).tolist() == [0.0, 1.0]
    assert HingeLoss().optimal_output(p, q).tolist() == [-1.0, 1.0]
