"""PacGAN's 2-D MLPs (``model=pacgan_mlp``) and the Table 1 preset."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from ganbench.config import compose
from ganbench.models.pacgan import Maxout, PacGANDiscriminator, PacGANGenerator
from ganbench.models.packing import build_discriminator
from ganbench.paths import conf_dir


def test_generator_layout_and_parameter_count():
    g = PacGANGenerator()
    linears = [m for m in g.modules() if isinstance(m, torch.nn.Linear)]
    norms = [m for m in g.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (2, 400),
        (400, 400),
        (400, 400),
        (400, 400),
        (400, 2),
    ]
    assert [m.bias is None for m in linears] == [True, True, True, True, False]  # a bias at the output only
    assert len(norms) == 4 and all(n.momentum == 0.05 for n in norms)
    expected = 2 * 400 + 3 * 400 * 400 + 4 * 2 * 400 + 400 * 2 + 2
    assert sum(p.numel() for p in g.parameters()) == expected
    assert g.latent_dim == 2 and g(torch.randn(7, 2)).shape == (7, 2)


def test_discriminator_layout_and_parameter_count():
    d = PacGANDiscriminator()
    assert [type(m).__name__ for m in d.net] == ["Maxout", "Maxout", "Maxout", "Linear"]
    expected = (2 * 1000 + 1000) + 2 * (200 * 1000 + 1000) + (200 + 1)
    assert sum(p.numel() for p in d.parameters()) == expected
    assert d(torch.randn(5, 2)).shape == (5,)


def test_maxout_is_the_max_over_pieces():
    torch.manual_seed(0)
    layer = Maxout(3, 4, 5)
    x = torch.randn(6, 3)
    pre = x @ layer.linear.weight.T + layer.linear.bias  # unit i has pieces i*5 … i*5 + 4
    by_hand = torch.stack([pre[:, i * 5 : (i + 1) * 5].max(dim=1).values for i in range(4)], dim=1)
    torch.testing.assert_close(layer(x), by_hand)


def test_weights_start_from_normal_002_and_biases_from_zero():
    torch.manual_seed(0)
    for net in (PacGANGenerator(), PacGANDiscriminator()):
        weights = torch.cat([m.weight.detach().flatten() for m in net.modules() if isinstance(m, torch.nn.Linear)])
        assert float(weights.std()) == pytest.approx(0.02, rel=0.02) and abs(float(weights.mean())) < 1e-3
        biases = [m.bias for m in net.modules() if isinstance(m, torch.nn.Linear) and m.bias is not None]
        assert all(float(b.abs().max()) == 0 for b in biases)


def test_model_config_builds_both_players():
    cfg = compose(["model=pacgan_mlp", "model.discriminator.packing=3", "batch_size=99"])
    assert isinstance(instantiate(cfg.model.generator), PacGANGenerator)
    d = build_discriminator(cfg.model.discriminator)
    assert d.discriminator.net[0].linear.in_features == 6


def test_table1_preset_is_the_papers_protocol():
    cfg = compose(["+experiment=pacgan_table1", "model.discriminator.packing=3", "dataset=grid"])
    assert cfg.batch_size == 300 and cfg.dataset.train_size == 300_000  # 100 packs; 100,000 packs
    assert cfg.iterations == 400_000  # 400 epochs of 1,000 minibatches
    for side in ("generator", "discriminator"):
        assert cfg.optimizer[side].lr == 1e-4 and list(cfg.optimizer[side].betas) == [0.8, 0.999]
    assert cfg.ema.decay is None and cfg.evaluator.num_samples == 2500 and cfg.n_critic == 1
    assert cfg.model.generator._target_.endswith("PacGANGenerator")
    assert cfg.loss._target_ == "ganbench.losses.NonSaturatingLoss"
    sweep = OmegaConf.load(conf_dir() / "experiment" / "pacgan_table1.yaml").hydra.sweeper.params
    assert sweep["dataset"] == "ring,grid" and sweep["model.discriminator.packing"] == "1,2,3,4"
    assert sweep["seed"] == "range(10)"
