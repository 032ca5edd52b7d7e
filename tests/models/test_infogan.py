"""The Lucic et al. 2018 (compare_gan) InfoGAN-style networks: structure, parameter counts,
BatchNorm settings, the [0, 1] ↔ [−1, 1] mapping and the U(−1, 1) latent.

The reference networks are written here from compare_gan's ``abstract_gan.py`` (2018), on
compare_gan's [0, 1] images with a sigmoid output, and compared with ganbench's after copying the
weights: G_ganbench(z) = 2·G_ref(z) − 1 and D_ganbench(x) = D_ref((x + 1)/2).
"""

from __future__ import annotations

import pytest
import torch
from scipy import stats
from torch import nn

from ganbench.errors import ConfigError
from ganbench.models import InfoGANDiscriminator, InfoGANGenerator
from ganbench.models.checks import BATCHNORM_TYPES
from ganbench.models.packing import build_discriminator


def lrelu(x):  # compare_gan ops.lrelu: max(x, 0.2 x)
    return torch.maximum(x, 0.2 * x)


def bn(kind, n):  # tf.contrib.layers.batch_norm(decay=0.999, epsilon=0.001, scale=True)
    return kind(n, momentum=1 - 0.999, eps=0.001)


class RefGenerator(nn.Module):
    def __init__(self, z_dim=64, h=32, c=3):
        super().__init__()
        self.h = h
        self.g_fc1, self.g_bn1 = nn.Linear(z_dim, 1024), bn(nn.BatchNorm1d, 1024)
        self.g_fc2, self.g_bn2 = nn.Linear(1024, 128 * (h // 4) ** 2), bn(nn.BatchNorm1d, 128 * (h // 4) ** 2)
        self.g_dc3, self.g_bn3 = nn.ConvTranspose2d(128, 64, 4, 2, 1), bn(nn.BatchNorm2d, 64)
        self.g_dc4 = nn.ConvTranspose2d(64, c, 4, 2, 1)

    def forward(self, z):
        net = lrelu(self.g_bn1(self.g_fc1(z)))
        net = lrelu(self.g_bn2(self.g_fc2(net)))
        net = net.view(-1, 128, self.h // 4, self.h // 4)
        net = lrelu(self.g_bn3(self.g_dc3(net)))
        return torch.sigmoid(self.g_dc4(net))  # images in [0, 1]


class RefDiscriminator(nn.Module):
    def __init__(self, h=32, c=3, batchnorm=True):
        super().__init__()
        self.d_conv1 = nn.Conv2d(c, 64, 4, 2, 1)
        self.d_conv2 = nn.Conv2d(64, 128, 4, 2, 1)
        self.d_bn2 = bn(nn.BatchNorm2d, 128) if batchnorm else nn.Identity()
        self.d_fc3 = nn.Linear(128 * (h // 4) ** 2, 1024)
        self.d_bn3 = bn(nn.BatchNorm1d, 1024) if batchnorm else nn.Identity()
        self.d_fc4 = nn.Linear(1024, 1)

    def forward(self, x):  # x in [0, 1]
        net = lrelu(self.d_conv1(x))
        net = lrelu(self.d_bn2(self.d_conv2(net)))
        net = lrelu(self.d_bn3(self.d_fc3(net.flatten(1))))
        return self.d_fc4(net).flatten()  # the logit


def layers(module):
    return [m for m in module.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm1d,
                                                          nn.BatchNorm2d))]  # fmt: skip


@torch.no_grad()
def copy_into(ref, ours):
    ours_layers, ref_layers = layers(ours), layers(ref)
    assert [type(m) for m in ours_layers] == [type(m) for m in ref_layers]
    for a, b in zip(ours_layers, ref_layers):
        b.load_state_dict(a.state_dict())


def randomise(module, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.weight.copy_(1 + 0.3 * torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(0.3 * torch.randn(m.bias.shape, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def test_parameter_counts_are_compare_gans():
    """By hand, 32×32×3, z 64. G: FC 64·1024 + 1024 (66,560) + BN 2·1024 (2,048) + FC 1024·8192 + 8192
    (8,396,800) + BN 2·8192 (16,384) + deconv 128·64·16 + 64 (131,136) + BN 128 + deconv 64·3·16 + 3
    (3,075) = 8,616,131. D: conv 3·64·16 + 64 (3,136) + conv 64·128·16 + 128 (131,200) + BN 256 + FC
    8192·1024 + 1024 (8,389,632) + BN 2,048 + FC 1,025 = 8,527,297; without BN 8,524,993."""
    assert n_params(InfoGANGenerator()) == 8_616_131 == n_params(RefGenerator())
    assert n_params(InfoGANDiscriminator()) == 8_527_297 == n_params(RefDiscriminator())
    assert n_params(InfoGANDiscriminator(norm="none")) == 8_524_993 == n_params(RefDiscriminator(batchnorm=False))


def test_generator_is_compare_gans_on_the_signed_range():
    torch.manual_seed(0)
    g, ref = InfoGANGenerator(), RefGenerator()
    randomise(g)
    copy_into(ref, g)
    z = torch.rand(8, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1
    for train in (False, True):
        g.train(train), ref.train(train)
        with torch.no_grad():
            out, out_ref = g(z), ref(z)
        torch.testing.assert_close(out, 2 * out_ref - 1, rtol=0, atol=1e-6)
    assert out.shape == (8, 3, 32, 32) and out.min() >= -1 and out.max() <= 1
    with torch.no_grad():
        assert g(torch.full((2, 64), 1e3)).abs().max() <= 1.0  # the sigmoid saturates at ±1 after the mapping


@pytest.mark.parametrize("norm", ["batch", "none"])
def test_discriminator_is_compare_gans_on_unit_images(norm):
    torch.manual_seed(0)
    d, ref = InfoGANDiscriminator(norm=norm), RefDiscriminator(batchnorm=norm == "batch")
    randomise(d)
    copy_into(ref, d)
    x = torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(2)) * 2 - 1
    for train in (False, True):
        d.train(train), ref.train(train)
        with torch.no_grad():
            torch.testing.assert_close(d(x), ref((x + 1) / 2), rtol=1e-5, atol=1e-5)


def test_batchnorm_settings_and_leaky_relu_slopes():
    g, d = InfoGANGenerator(), InfoGANDiscriminator()
    norms = [m for m in [*g.modules(), *d.modules()] if isinstance(m, BATCHNORM_TYPES)]
    assert len(norms) == 5
    assert all(m.momentum == pytest.approx(0.001) and m.eps == pytest.approx(1e-3) for m in norms)
    slopes = [m.negative_slope for m in [*g.modules(), *d.modules()] if isinstance(m, nn.LeakyReLU)]
    assert slopes == [0.2] * 6
    # decay 0.999: running_mean ← 0.999·running_mean + 0.001·batch mean
    bn1 = g.fc[1]
    g.train()
    z = torch.rand(16, 64) * 2 - 1
    with torch.no_grad():
        pre = g.fc[0](z)
        g(z)
    torch.testing.assert_close(bn1.running_mean, 0.001 * pre.mean(0), rtol=1e-5, atol=1e-8)


def test_initialisation_is_compare_gans():
    torch.manual_seed(0)
    g, d = InfoGANGenerator(), InfoGANDiscriminator()
    conv = d.net[2].weight
    assert conv.abs().max() <= 0.04 and conv.std().item() == pytest.approx(0.02 * 0.88, rel=0.05)  # truncated at 2σ
    fc = g.fc[3].weight
    assert fc.std().item() == pytest.approx(0.02, rel=0.02) and fc.abs().max() > 0.06  # not truncated
    assert all(m.bias.abs().max() == 0 for m in [*g.modules(), *d.modules()] if isinstance(m, (nn.Linear, nn.Conv2d)))


def test_latent_is_uniform_minus_one_to_one():
    from ganbench.losses import NonSaturatingLoss
    from ganbench.training.module import GANModule

    def make(generator):
        return GANModule(generator, InfoGANDiscriminator(), NonSaturatingLoss(), g_optimizer=torch.optim.Adam,
                         d_optimizer=torch.optim.Adam, ema_decay=None)  # fmt: skip

    z = make(InfoGANGenerator()).sample_latent(4000, torch.Generator().manual_seed(0))
    assert z.shape == (4000, 64) and z.min() >= -1 and z.max() <= 1
    assert stats.kstest(z.flatten().numpy(), stats.uniform(loc=-1, scale=2).cdf).pvalue > 0.01
    normal = make(InfoGANGenerator(latent_distribution="normal"))
    z_normal = normal.sample_latent(4000, torch.Generator().manual_seed(0))
    assert stats.kstest(z_normal.flatten().numpy(), stats.uniform(loc=-1, scale=2).cdf).pvalue < 1e-6
    assert stats.kstest(z_normal.flatten().numpy(), "norm").pvalue > 0.01


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="latent_distribution='gaussian'.*normal, uniform"):
        InfoGANGenerator(latent_distribution="gaussian")
    with pytest.raises(ConfigError, match="output='relu'.*sigmoid, tanh"):
        InfoGANGenerator(output="relu")
    with pytest.raises(ConfigError, match="norm='instance'.*batch, layer, none"):
        InfoGANDiscriminator(norm="instance")
    with pytest.raises(ConfigError, match="divisible by 4"):
        InfoGANGenerator(resolution=30)


def test_model_config_builds_the_networks_for_cifar10():
    from hydra.utils import instantiate

    from ganbench.config import compose

    cfg = compose(["dataset=cifar10", "model=infogan"])
    g, d = instantiate(cfg.model.generator), build_discriminator(cfg.model.discriminator)
    assert (n_params(g), n_params(d)) == (8_616_131, 8_527_297)
    assert g.latent_distribution == "uniform" and g.latent_dim == 64
