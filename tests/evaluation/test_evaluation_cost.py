"""What an evaluation costs: the extractor batch size is a setting, the Inception network runs in
eval mode without autograd, and real statistics are computed once per cache key, not per rank."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from ganbench.config import compose
from ganbench.evaluation import images as images_mod
from ganbench.evaluation.cache import cache_path
from ganbench.evaluation.features import InceptionExtractor, save_random_inception_weights


@pytest.fixture(scope="module")
def evaluator():
    cfg = compose(["+experiment=digits", "dataset.evaluation.batch_size=7"])
    return instantiate(cfg.dataset).evaluator(num_samples=50)


def test_extractor_batch_size_is_a_setting(evaluator):
    assert evaluator.batch_size == 7
    sizes = []
    domain = evaluator.extractors["domain"]

    def counting(x):
        sizes.append(x.shape[0])
        return domain(x)

    evaluator.extractors["domain"] = counting
    try:
        features, _ = evaluator._extract("domain", torch.zeros(23, 1, 16, 16))
    finally:
        evaluator.extractors["domain"] = domain
    assert sizes == [7, 7, 7, 2] and features.shape[0] == 23


def test_inception_runs_in_eval_mode_without_autograd(tmp_path):
    extractor = InceptionExtractor(str(save_random_inception_weights(tmp_path / "inception.pth")))
    extractor.net.train(True)  # cannot be switched to training mode (BatchNorm statistics stay frozen)
    assert not extractor.net.training and not any(m.training for m in extractor.net.modules())
    images = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_(True)
    features, logits = extractor(images)
    assert features.shape == (2, 2048) and logits.shape == (2, 1008)
    assert not features.requires_grad and features.grad_fn is None and logits.grad_fn is None
    # eval mode: a sample's features do not depend on the rest of its batch
    alone, _ = extractor(images[:1])
    assert torch.allclose(alone, features[:1], atol=1e-4)


def test_real_features_are_computed_once_per_cache_key_not_per_rank(evaluator, monkeypatch, tmp_path):
    evaluator.cache_dir = tmp_path  # an empty cache
    computed, barriers = [], []
    extract = evaluator._extract

    def counting(name, x):
        computed.append(images_mod._world()[0])
        return extract(name, x)

    monkeypatch.setattr(evaluator, "_extract", counting)
    monkeypatch.setattr("torch.distributed.barrier", lambda *a, **k: barriers.append(images_mod._world()[0]))
    path = cache_path(tmp_path / "real", evaluator.real_key("domain"))

    # rank 0 of 2 finds no cache: it computes and saves, then meets the others at the barrier
    monkeypatch.setattr(images_mod, "_world", lambda: (0, 2))
    rank0 = evaluator.real_features("domain", torch.device("cpu"))
    assert set(computed) == {0} and barriers == [0] and path.is_file()
    # rank 1 of 2 (the same call): waits at the barrier, then reads rank 0's file, computes nothing
    computed.clear()
    monkeypatch.setattr(images_mod, "_world", lambda: (1, 2))
    rank1 = evaluator.real_features("domain", torch.device("cpu"))
    assert computed == [] and barriers == [0, 1] and torch.equal(rank0, rank1)
