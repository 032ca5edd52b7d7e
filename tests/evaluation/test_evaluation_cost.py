"""What an evaluation costs: the extractor batch size is a setting, the Inception network runs in
eval mode without autograd, and real statistics are computed once per cache key, not per rank."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from ganbench.config import compose
from ganbench.evaluation.builder import build_evaluator
from ganbench.evaluation.cache import cache_path
from ganbench.evaluation.features import InceptionExtractor, save_random_inception_weights


@pytest.fixture(scope="module")
def evaluator():
    cfg = compose(["+experiment=digits", "evaluator.batch_size=7", "evaluator.num_samples=50"])
    return build_evaluator(cfg.evaluator, instantiate(cfg.dataset))


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
    """Under DDP rank 0 alone loads or computes the real features and broadcasts them: the other
    ranks compute nothing, even without a cache directory they share with rank 0."""
    import torch.distributed as dist

    computed, sent = [], []
    extract = evaluator._extract

    def counting(name, x):
        computed.append(dist.get_rank())
        return extract(name, x)

    def broadcast(box, src=0):  # rank 0 sends its object; the others receive rank 0's
        if dist.get_rank() == src:
            sent.append(box[0])
        else:
            box[0] = sent[-1]

    monkeypatch.setattr(evaluator, "_extract", counting)
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_world_size", lambda *a: 2)
    monkeypatch.setattr(dist, "broadcast_object_list", broadcast)

    evaluator.cache_dir = tmp_path / "rank0"  # an empty cache
    monkeypatch.setattr(dist, "get_rank", lambda *a: 0)
    rank0 = evaluator.real_features("domain", torch.device("cpu"))
    assert set(computed) == {0} and len(sent) == 1
    assert cache_path(tmp_path / "rank0" / "real", evaluator.real_key("domain")).is_file()

    computed.clear()
    evaluator.cache_dir = tmp_path / "rank1"  # another node: no file of rank 0's here
    monkeypatch.setattr(dist, "get_rank", lambda *a: 1)
    rank1 = evaluator.real_features("domain", torch.device("cpu"))
    assert computed == [] and torch.equal(rank0, rank1)
    assert not (tmp_path / "rank1").exists()
