"""FID, KID and IS on feature vectors against independent numpy/scipy computations; the clamping
of samples into the extractors' input range; the DDP sharding of feature extraction."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from ganbench.evaluation.domain import classifier_metrics
from ganbench.evaluation.features import to_uint8
from ganbench.evaluation.fid import FeatureDistance, frechet_distance, inception_score
from ganbench.evaluation.images import shard


def reference_fid(a: np.ndarray, b: np.ndarray) -> float:
    """‖μ_a − μ_b‖² + Tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^½) with scipy's matrix square root, in float64."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s_a @ s_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * covmean))


def correlated(n: int, d: int, seed: int, shift: float, scale: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) / math.sqrt(d)
    return rng.normal(size=(n, d)) @ mix * scale + shift


@pytest.mark.parametrize(
    "d,shift,scale",
    [(8, 0.0, 1.0), (32, 0.3, 1.5), (64, 2.0, 0.5)],
)
def test_fid_matches_scipy_reference(d, shift, scale):
    real = correlated(600, d, 0, 0.0, 1.0)
    fake = correlated(500, d, 1, shift, scale)
    ours = frechet_distance(torch.from_numpy(real).float(), torch.from_numpy(fake).float())
    ref = reference_fid(real, fake)
    assert ours == pytest.approx(ref, rel=1e-3)


def test_fid_of_a_pure_mean_shift_is_the_squared_shift():
    """Same covariance: FID = ‖Δμ‖² exactly (the trace term vanishes)."""
    real = torch.from_numpy(correlated(400, 16, 3, 0.0, 1.0)).float()
    delta = torch.linspace(-1, 1, 16)
    assert frechet_distance(real, real + delta) == pytest.approx(float(delta.square().sum()), rel=1e-3)


def reference_kid(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with k(a, b) = (aᵀb / d + 1)³ (Bińkowski et al. 2018, eq. 4), in float64."""
    d = x.shape[1]
    k = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    m, n = len(x), len(y)
    return float(
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2 * kxy.mean()
    )


def test_kid_matches_the_unbiased_mmd_by_hand():
    real = correlated(200, 12, 4, 0.0, 1.0)
    fake = correlated(200, 12, 5, 0.5, 1.2)
    # one subset of all 200 samples: the subset is a permutation, and MMD² does not depend on the order
    out = FeatureDistance(torch.from_numpy(real).float(), kid_subsets=1, kid_subset_size=200)(
        torch.from_numpy(fake).float()
    )
    assert out["kid"] == pytest.approx(reference_kid(real, fake), rel=1e-4)
    assert out["fid"] == pytest.approx(reference_fid(real, fake), rel=1e-3)


def test_inception_score_matches_its_definition():
    logits = torch.randn(300, 10, generator=torch.Generator().manual_seed(0)) * 3
    p = logits.double().softmax(1).numpy()
    py = p.mean(0)
    expected = math.exp(float((p * (np.log(p) - np.log(py))).sum(1).mean()))
    assert inception_score(logits, splits=1)[0] == pytest.approx(expected, rel=1e-5)
    # one confident class per sample, classes balanced: IS = number of classes
    one_hot = torch.eye(10).repeat(30, 1) * 50
    assert inception_score(one_hot, splits=1)[0] == pytest.approx(10.0, rel=1e-4)


def test_classifier_metrics_by_hand():
    k = 4
    big = 20.0
    # 6 confident samples of class 0, 3 of class 1, 1 of class 2, and 2 unsure ones predicted as 3
    logits = torch.zeros(12, k)
    for i, c in enumerate([0] * 6 + [1] * 3 + [2]):
        logits[i, c] = big
    logits[10:, 3] = 0.5  # softmax top ≈ 0.37: not recognised
    m = classifier_metrics(logits, k, min_share=0.3, confidence=0.9)
    assert m["recognised"] == pytest.approx(10 / 12)
    # min count 0.3·12/4 = 0.9: classes 0, 1, 2 count, class 3 has no recognised sample
    assert m["classes_covered"] == 3
    q = np.array([6, 3, 1, 2]) / 12
    assert m["class_kl"] == pytest.approx(float((q * np.log(q * k)).sum()), rel=1e-6)


def test_samples_are_clamped_before_quantisation():
    x = torch.tensor([-3.0, -1.0, -0.5, 0.0, 0.999, 1.0, 7.0]).view(1, 1, 1, 7)
    assert to_uint8(x).flatten().tolist() == [0, 0, 64, 128, 255, 255, 255]  # no wrap-around of 7.0 or −3.0


@pytest.mark.parametrize("n,world", [(10, 1), (10, 3), (5, 4), (2, 4), (10000, 8)])
def test_shards_cover_every_sample_once_in_rank_order(n, world):
    bounds = [shard(n, r, world) for r in range(world)]
    covered = [i for start, stop in bounds for i in range(start, stop)]
    assert covered == list(range(n))
    per = -(-n // world)
    assert all(stop - start <= per for start, stop in bounds)
