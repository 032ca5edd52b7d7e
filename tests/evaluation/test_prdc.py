"""Precision, recall, density and coverage: against Naeem et al.'s ``prdc`` package and torch-fidelity
on random features, against a brute-force loop, on hand-made cases with known answers, and wired
into the toy and image evaluators."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganbench.data.toy import GaussianMixture2D, ring_centers
from ganbench.evaluation.prdc import PRDC, knn_radii, prdc
from ganbench.evaluation.toy import ToyEvaluator


def reference(real: torch.Tensor, fake: torch.Tensor) -> dict[str, float]:
    """Naeem et al.'s package (a dev dependency): precision and recall with k = 3, density and
    coverage with k = 5."""
    prdc_reference = pytest.importorskip("prdc", reason="the reference implementation: pip install prdc")
    r, f = real.double().numpy(), fake.double().numpy()
    pr = prdc_reference.compute_prdc(r, f, nearest_k=3)
    dc = prdc_reference.compute_prdc(r, f, nearest_k=5)
    return {"precision": pr["precision"], "recall": pr["recall"], "density": dc["density"], "coverage": dc["coverage"]}


def brute_force(real: np.ndarray, fake: np.ndarray, pr_k: int = 3, dc_k: int = 5) -> dict[str, float]:
    """The definitions written out sample by sample (Kynkäänniemi et al. 2019 eq. 1; Naeem et al. 2020 eq. 3–4)."""

    def radius(points: np.ndarray, i: int, k: int) -> float:
        d = sorted(float(np.linalg.norm(points[i] - points[j])) for j in range(len(points)) if j != i)
        return d[k - 1]

    rr = {k: [radius(real, i, k) for i in range(len(real))] for k in (pr_k, dc_k)}
    rf = [radius(fake, j, pr_k) for j in range(len(fake))]
    dist = [[float(np.linalg.norm(x - y)) for x in real] for y in fake]  # dist[j][i]
    n, m = len(real), len(fake)
    precision = sum(any(dist[j][i] <= rr[pr_k][i] for i in range(n)) for j in range(m)) / m
    recall = sum(any(dist[j][i] <= rf[j] for j in range(m)) for i in range(n)) / n
    density = sum(dist[j][i] < rr[dc_k][i] for j in range(m) for i in range(n)) / (dc_k * m)
    coverage = sum(min(dist[j][i] for j in range(m)) < rr[dc_k][i] for i in range(n)) / n
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


def features(n: int, dim: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed)) * scale + shift


@pytest.mark.parametrize("dim", [2, 8, 16, 64])  # 2 and 8: k-d trees ("auto"); 16 and 64: blocks
def test_equals_the_prdc_package_on_random_features(dim, capsys):
    real, fake = features(600, dim, 0), features(500, dim, 1, shift=0.2, scale=1.3)
    got = prdc(real, fake, chunk=97)  # blocks that do not divide the sample counts
    expected = reference(real, fake)
    for key in expected:
        assert got[key] == pytest.approx(float(expected[key]), abs=1e-12), key
    assert 0 < got["precision"] < 1 and 0 < got["recall"] < 1  # a case where the metrics are informative


def test_high_dimensional_features_match_the_package_up_to_float32_ties():
    # 2048-D: the matrix-product distances in float32 may flip a comparison that is a tie to ~1e-6
    real, fake = features(400, 2048, 2), features(400, 2048, 3, scale=1.02)
    got, expected = prdc(real, fake, chunk=128), reference(real, fake)
    for key in expected:
        assert got[key] == pytest.approx(float(expected[key]), abs=2 / 400), key
    assert got["recall"] > 0.5  # overlapping Gaussians: informative values, not a degenerate 0 or 1


def test_precision_and_recall_equal_torch_fidelity():
    from torch_fidelity.metric_prc import calculate_precision_recall_full

    real, fake = features(300, 8, 4), features(280, 8, 5, shift=0.3)
    # torch-fidelity's convention: features_1 is generated, features_2 real
    precision, recall = calculate_precision_recall_full(fake.double(), real.double(), neighborhood=3)
    got = prdc(real, fake)
    assert got["precision"] == pytest.approx(precision, abs=1e-6)  # its mean is in float32; 1/280 apart otherwise
    assert got["recall"] == pytest.approx(recall, abs=1e-6)


@pytest.mark.parametrize("method", ["blocks", "kdtree"])
@pytest.mark.parametrize("dim", [2, 3])
def test_equals_a_brute_force_loop_with_ties_and_duplicates(method, dim):
    # integer points: many exact ties between distances and radii (≤ vs <), and duplicated samples
    g = torch.Generator().manual_seed(6)
    real = torch.randint(0, 4, (40, dim), generator=g).double()
    fake = torch.randint(0, 5, (35, dim), generator=g).double()
    expected = brute_force(real.numpy(), fake.numpy())
    got = prdc(real, fake, chunk=8, method=method)
    for key in expected:
        assert got[key] == pytest.approx(expected[key], abs=1e-12), key


def test_kdtree_and_blocks_agree_on_toy_samples():
    # the toys' case: 2-D mixture samples, a spread-out generator, radii of ~1e-2
    real = GaussianMixture2D(ring_centers(), 0.05).sample(1500, torch.Generator().manual_seed(0))
    fake = GaussianMixture2D(ring_centers(), 0.08).sample(1200, torch.Generator().manual_seed(1)) * 1.05
    trees, blocks = prdc(real, fake, method="kdtree"), prdc(real, fake, method="blocks")
    assert trees == blocks
    assert 0 < trees["precision"] < 1 and 0 < trees["coverage"] < 1 and trees["density"] > 0
    for k in (3, 5):
        assert torch.equal(knn_radii(real, k, method="kdtree"), knn_radii(real, k, method="blocks"))


def test_an_unknown_method_is_refused():
    with pytest.raises(ValueError, match="method must be"):
        prdc(features(20, 2, 0), features(20, 2, 1), method="fast")


def test_chunk_size_does_not_change_the_result():
    real, fake = features(257, 3, 7), features(301, 3, 8, scale=0.8)
    assert prdc(real, fake, chunk=10_000) == prdc(real, fake, chunk=13)


def test_identical_sets_have_precision_recall_and_coverage_one():
    x = features(500, 5, 9)
    got = prdc(x, x.clone())
    assert got["precision"] == 1.0 and got["recall"] == 1.0 and got["coverage"] == 1.0


def test_far_apart_sets_score_zero():
    real, fake = features(300, 4, 10), features(300, 4, 11, shift=100.0)
    assert prdc(real, fake) == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_a_generator_on_half_the_modes_has_recall_one_half_and_precision_one():
    mixture = GaussianMixture2D(ring_centers(8), 0.01)
    real = mixture.sample(4000, torch.Generator().manual_seed(12))
    half = GaussianMixture2D(ring_centers(8)[::2], 0.01).sample(4000, torch.Generator().manual_seed(13))
    got = prdc(real, half)
    assert got["precision"] > 0.95
    assert got["recall"] == pytest.approx(0.5, abs=0.03)
    assert got["coverage"] == pytest.approx(0.5, abs=0.03)
    assert got["density"] > 0.9  # twice the density on the covered modes, minus the edges


def test_knn_radii_need_more_samples_than_k():
    with pytest.raises(ValueError, match="k=3, N=3"):
        knn_radii(torch.zeros(3, 2), 3)


def test_prdc_object_caches_the_real_radii_and_agrees_with_the_function():
    real, fake = features(200, 6, 14), features(150, 6, 15)
    metric = PRDC(real)
    assert metric(fake) == prdc(real, fake)
    assert set(metric._radii) == {3, 5}
    assert metric(fake) == prdc(real, fake)  # second call on the cached radii


def test_toy_evaluator_reports_prdc_against_its_own_seeded_real_set():
    centers, sigma = ring_centers(8), 0.01
    evaluator = ToyEvaluator(centers, sigma, num_samples=1000, real_seed=3)
    state = torch.get_rng_state()
    fake = GaussianMixture2D(centers[:4], sigma).sample(1000, torch.Generator().manual_seed(1))
    m = evaluator.evaluate(fake)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is never touched
    real = GaussianMixture2D(centers, sigma).sample(1000, torch.Generator().manual_seed(3))
    expected = reference(real, fake)
    for key in expected:
        assert m[key] == pytest.approx(float(expected[key]), abs=1e-12), key
    assert m["recall"] == pytest.approx(0.5, abs=0.05) and m["precision"] > 0.95
    assert set(m) == set(evaluator.directions)
    assert all(evaluator.directions[k] == "max" for k in ("precision", "recall", "density", "coverage"))


def test_toy_evaluator_counts_non_finite_samples_against_precision():
    centers = ring_centers(8)
    evaluator = ToyEvaluator(centers, 0.01, num_samples=400)
    good = evaluator.real_samples()
    bad = torch.cat([good[:300], torch.full((100, 2), float("nan"))])
    m = evaluator.evaluate(bad)
    assert m["precision"] == pytest.approx(0.75)  # the 300 real points lie in the real manifold
    assert 0.5 < m["recall"] < 1.0
    assert evaluator.evaluate(torch.full((400, 2), float("nan")))["recall"] == 0.0


@pytest.fixture(scope="module")
def digits_evaluator():
    from hydra.utils import instantiate

    from ganbench.config import compose
    from ganbench.evaluation.builder import build_evaluator

    cfg = compose(["+experiment=digits", "evaluator.num_samples=500"])
    dm = instantiate(cfg.dataset)
    return dm, build_evaluator(cfg.evaluator, dm)


def test_image_evaluator_computes_prdc_on_the_features_fid_extracted(digits_evaluator):
    dm, evaluator = digits_evaluator
    extractor = evaluator.extractors["domain"]
    seen: list[int] = []

    class Counting:
        num_classes, id = extractor.num_classes, extractor.id

        def __call__(self, images):
            seen.append(images.shape[0])
            return extractor(images)

    images, _ = dm.labelled("all")
    x = images[:500].float() / 127.5 - 1
    fake = (x + 0.3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    evaluator.real_features("domain", torch.device("cpu"))  # cached before counting
    evaluator.extractors["domain"] = Counting()
    try:
        m = evaluator.evaluate(fake)
    finally:
        evaluator.extractors["domain"] = extractor
    assert sum(seen) == 500  # one extraction pass for FID, KID, the classifier metrics and PRDC
    real = evaluator.real_features("domain", torch.device("cpu"))
    pick = torch.randperm(real.shape[0], generator=torch.Generator().manual_seed(evaluator.real_seed))[:500]
    expected = reference(real[pick], extractor(fake)[0])
    for key in expected:
        assert m["domain_" + key] == pytest.approx(float(expected[key]), abs=1e-9), key
    assert {f"domain_{k}" for k in expected} <= set(evaluator.directions)
    assert 0 < m["domain_precision"] < 1


def test_tiny_evaluations_go_without_prdc():
    evaluator = ToyEvaluator(ring_centers(8), 0.01, num_samples=5)  # k = 5 needs at least 6 samples
    m = evaluator.evaluate(evaluator.real_samples())
    assert set(m) == set(evaluator.directions) == {"modes_captured", "high_quality", "reverse_kl", "mode_tv"}
