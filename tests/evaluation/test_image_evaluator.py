"""The image evaluator on real digits: FID baselines, the real-feature cache, the offline Inception
route with the network blocked, and sample grids."""

from __future__ import annotations

import socket

import pytest
import torch
from hydra.utils import instantiate

from ganbench.config import compose
from ganbench.evaluation.builder import build_evaluator
from ganbench.evaluation.cache import cache_path
from ganbench.evaluation.features import InceptionExtractor, save_random_inception_weights
from ganbench.evaluation.fid import frechet_distance
from ganbench.evaluation.grid import grid_cell, image_grid, save_grid


@pytest.fixture(scope="module")
def digits():
    """The digits datamodule of the digits experiment and its evaluator (domain classifier)."""
    cfg = compose(["+experiment=digits"])
    dm = instantiate(cfg.dataset)
    return dm, build_evaluator(cfg.evaluator, dm)


def digits_evaluator(dm, num_samples: int):
    """Another evaluator of the digits experiment for ``dm``, with ``num_samples`` samples."""
    return build_evaluator(compose(["+experiment=digits", f"evaluator.num_samples={num_samples}"]).evaluator, dm)


def test_domain_classifier_is_accurate(digits):
    _, evaluator = digits
    assert evaluator.extractors["domain"].accuracy > 0.95  # held-out digits


def test_real_halves_are_close_and_fid_grows_with_noise(digits):
    dm, evaluator = digits
    extractor = evaluator.extractors["domain"]
    images, _ = dm.labelled("all")
    x = images.float() / 127.5 - 1
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    a, b = x[perm[: len(x) // 2]], x[perm[len(x) // 2 :]]
    halves = frechet_distance(extractor(a)[0], extractor(b)[0])
    noise = torch.randn(b.shape, generator=torch.Generator().manual_seed(1))
    fids = [frechet_distance(extractor(a)[0], extractor((b + s * noise).clamp(-1, 1))[0]) for s in (0.2, 0.4, 0.8)]
    uniform = torch.rand(b.shape, generator=torch.Generator().manual_seed(2)) * 2 - 1
    fids.append(frechet_distance(extractor(a)[0], extractor(uniform)[0]))
    assert halves < 0.5  # measured 0.31 (898 vs 899 images)
    assert all(lo < hi for lo, hi in zip([halves, *fids], fids)), (halves, fids)
    assert fids[-1] > 20 * halves  # uniform noise: 30


def test_metrics_of_real_images_are_those_of_real_images(digits):
    dm, evaluator = digits
    images, _ = dm.labelled("all")
    m = evaluator.evaluate(images.float() / 127.5 - 1)
    assert m["domain_fid"] == pytest.approx(0.0, abs=1e-6)  # the same images as the cached statistics
    assert m["classes_covered"] == 10 and m["recognised"] > 0.9 and m["class_kl"] < 0.01
    assert m["classifier_is"] > 9.0 and evaluator.info() == {"num_classes": 10}
    assert set(m) == set(evaluator.directions)


def test_real_features_are_cached_under_their_key(digits, ganbench_cache):
    dm, evaluator = digits
    evaluator.real_features("domain", torch.device("cpu"))
    path = cache_path(ganbench_cache / "real", evaluator.real_key("domain"))
    assert path.is_file() and path.name.startswith("digits_all_16px_domain-")
    # a second evaluator reuses the file (and the classifier) instead of recomputing
    again = digits_evaluator(dm, 100)
    mtime = path.stat().st_mtime_ns
    assert torch.equal(again.real_features("domain", torch.device("cpu")), evaluator.real_features("domain", "cpu"))
    assert path.stat().st_mtime_ns == mtime
    # a stored file whose key differs is recomputed, never reused
    payload = torch.load(path, weights_only=True)
    torch.save({"key": "something else", "features": payload["features"] * 0}, path)
    fresh = digits_evaluator(dm, 100).real_features("domain", torch.device("cpu"))
    assert torch.equal(fresh, payload["features"])


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """Every attempt to open a connection fails; torch hub looks in an empty directory."""

    def refuse(*args, **kwargs):
        raise OSError("network access is blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))


def test_offline_inception_weights_load_through_the_config(no_network, tmp_path, ganbench_cache):
    weights = save_random_inception_weights(tmp_path / "weights-inception-2015-12-05-6726825d.pth", seed=3)
    cfg = compose(
        [
            "+experiment=digits",
            "evaluator.inception=true",
            "evaluator.domain=false",
            f"evaluator.feature_extractor_weights_path={weights}",
            "evaluator.num_real=6",
            "evaluator.kid=false",
            "evaluator.num_samples=4",
        ]
    )
    evaluator = build_evaluator(cfg.evaluator, instantiate(cfg.dataset))
    extractor = evaluator.extractors["inception"]
    saved = torch.load(weights, weights_only=True)
    loaded = extractor.net.state_dict()
    assert saved.keys() == loaded.keys() and all(torch.equal(saved[k], loaded[k]) for k in saved)
    assert extractor.net.use_antialias is False  # the published-FID resize
    samples = torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    m = evaluator.evaluate(samples)
    assert set(m) == {"fid"} and m["fid"] >= 0
    assert any(p.name.startswith("digits_all_16px_inception-") for p in (ganbench_cache / "real").iterdir())


def test_without_weights_or_network_the_error_says_what_to_do(no_network, tmp_path):
    with pytest.raises(RuntimeError, match="feature_extractor_weights_path"):
        InceptionExtractor(None)
    with pytest.raises(FileNotFoundError, match="does not exist.*weights-inception-2015-12-05"):
        InceptionExtractor(str(tmp_path / "missing.pth"))


def test_grid_shows_the_samples_in_order(tmp_path):
    from PIL import Image

    samples = torch.rand(10, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2.4 - 1.2  # some out of range
    grid = image_grid(samples, nrow=4, min_size=0)
    assert grid.shape == (3 * 10 + 2, 4 * 10 + 2, 3)
    expected = ((samples.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1)
    for i in range(10):
        assert torch.equal(grid_cell(grid, i, nrow=4, size=8), expected[i])
    path = save_grid(samples, tmp_path / "grid.png", title="iteration 7", nrow=4)
    with Image.open(path) as png:
        assert png.text["Title"] == "iteration 7" and png.width >= 256
        scale = png.width // (4 * 10 + 2)
        assert torch.equal(
            grid_cell(torch.from_numpy(__import__("numpy").asarray(png)), 5, 4, 8, scale=scale), expected[5]
        )
