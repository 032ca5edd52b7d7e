"""ganbench's SNGAN ResNet against Mimicry's published SNGAN-32 (kwotsin/mimicry,
torch_mimicry/nets/sngan/sngan_32.py and torch_mimicry/modules/resblocks.py).

The reference networks below are written here from Mimicry's block structure, independently of
ganbench's blocks: bilinear ×2 up-sampling (``align_corners=False``) in G, an in-place
``nn.ReLU(True)`` at the start of the residual branch of the non-optimised D blocks (which also
rectifies the x the shortcut then reads, because ``forward`` evaluates ``_residual(x)`` before
``_shortcut(x)``), and ``torch.nn.utils.spectral_norm`` (Mimicry's default ``SNConv2d``/``SNLinear``).
Weights are copied from ganbench's networks into them and the outputs compared.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from torch import nn

from ganbench.config import compose
from ganbench.models import ResNetDiscriminator, ResNetGenerator
from ganbench.models.packing import build_discriminator

MIMICRY_G = dict(upsample="bilinear", bias_init="default")
MIMICRY_D = dict(shortcut_activation="relu", bias_init="default")


# ---------------------------------------------------------------- reference (Mimicry's structure)
def sn(module: nn.Module) -> nn.Module:
    return nn.utils.spectral_norm(module)


class RefGBlock(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.b1, self.b2 = nn.BatchNorm2d(ch), nn.BatchNorm2d(ch)
        self.c1, self.c2 = nn.Conv2d(ch, ch, 3, 1, 1), nn.Conv2d(ch, ch, 3, 1, 1)
        self.c_sc = nn.Conv2d(ch, ch, 1, 1, 0)
        self.activation = nn.ReLU(True)

    def _upsample_conv(self, x, conv):
        return conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False))

    def _residual(self, x):
        h = self.activation(self.b1(x))
        h = self._upsample_conv(h, self.c1)
        h = self.activation(self.b2(h))
        return self.c2(h)

    def forward(self, x):
        return self._residual(x) + self._upsample_conv(x, self.c_sc)


class RefGenerator(nn.Module):
    def __init__(self, nz: int = 128, ngf: int = 256) -> None:
        super().__init__()
        self.ngf = ngf
        self.l1 = nn.Linear(nz, 16 * ngf)
        self.block2, self.block3, self.block4 = RefGBlock(ngf), RefGBlock(ngf), RefGBlock(ngf)
        self.b5 = nn.BatchNorm2d(ngf)
        self.c5 = nn.Conv2d(ngf, 3, 3, 1, 1)
        self.activation = nn.ReLU(True)

    def forward(self, x):
        h = self.l1(x).view(x.shape[0], -1, 4, 4)
        h = self.block4(self.block3(self.block2(h)))
        return torch.tanh(self.c5(self.activation(self.b5(h))))


class RefDBlock(nn.Module):
    def __init__(self, cin: int, cout: int, downsample: bool, use_sn: bool) -> None:
        super().__init__()
        wrap = sn if use_sn else (lambda m: m)
        self.downsample = downsample
        self.learnable_sc = cin != cout or downsample
        self.c1, self.c2 = wrap(nn.Conv2d(cin, cin, 3, 1, 1)), wrap(nn.Conv2d(cin, cout, 3, 1, 1))
        if self.learnable_sc:
            self.c_sc = wrap(nn.Conv2d(cin, cout, 1, 1, 0))
        self.activation = nn.ReLU(True)

    def _residual(self, x):
        h = x
        h = self.activation(h)  # in place: x itself is rectified here
        h = self.c1(h)
        h = self.activation(h)
        h = self.c2(h)
        return F.avg_pool2d(h, 2) if self.downsample else h

    def _shortcut(self, x):
        if self.learnable_sc:
            x = self.c_sc(x)
            return F.avg_pool2d(x, 2) if self.downsample else x
        return x

    def forward(self, x):
        return self._residual(x) + self._shortcut(x)


class RefDBlockOptimized(nn.Module):
    def __init__(self, cin: int, cout: int, use_sn: bool) -> None:
        super().__init__()
        wrap = sn if use_sn else (lambda m: m)
        self.c1, self.c2 = wrap(nn.Conv2d(cin, cout, 3, 1, 1)), wrap(nn.Conv2d(cout, cout, 3, 1, 1))
        self.c_sc = wrap(nn.Conv2d(cin, cout, 1, 1, 0))
        self.activation = nn.ReLU(True)

    def forward(self, x):
        h = F.avg_pool2d(self.c2(self.activation(self.c1(x))), 2)
        return h + self.c_sc(F.avg_pool2d(x, 2))


class RefDiscriminator(nn.Module):
    def __init__(self, ndf: int = 128, use_sn: bool = True) -> None:
        super().__init__()
        self.block1 = RefDBlockOptimized(3, ndf, use_sn)
        self.block2 = RefDBlock(ndf, ndf, True, use_sn)
        self.block3 = RefDBlock(ndf, ndf, False, use_sn)
        self.block4 = RefDBlock(ndf, ndf, False, use_sn)
        self.l5 = sn(nn.Linear(ndf, 1)) if use_sn else nn.Linear(ndf, 1)
        self.activation = nn.ReLU(True)

    def forward(self, x):
        h = self.block4(self.block3(self.block2(self.block1(x))))
        h = torch.sum(self.activation(h), dim=(2, 3))
        return self.l5(h)


# ---------------------------------------------------------------- copying ganbench's weights in
@torch.no_grad()
def copy_layer(src: nn.Module, dst: nn.Module) -> None:
    """Copy a conv/linear layer; spectral norm: the raw weight and the power-iteration vectors."""
    if hasattr(src, "parametrizations"):
        p = src.parametrizations.weight
        dst.weight_orig.copy_(p.original)
        dst.weight_u.copy_(p[0]._u)
        dst.weight_v.copy_(p[0]._v)
    else:
        dst.weight.copy_(src.weight)
    dst.bias.copy_(src.bias)


def load_generator(ref: RefGenerator, g: ResNetGenerator) -> None:
    copy_layer(g.dense, ref.l1)
    for block, rb in zip(g.blocks, (ref.block2, ref.block3, ref.block4)):
        for a, b in ((block.conv1, rb.c1), (block.conv2, rb.c2), (block.shortcut, rb.c_sc)):
            copy_layer(a, b)
        rb.b1.load_state_dict(block.norm1.state_dict())
        rb.b2.load_state_dict(block.norm2.state_dict())
    ref.b5.load_state_dict(g.norm.state_dict())
    copy_layer(g.out, ref.c5)


def load_discriminator(ref: RefDiscriminator, d: ResNetDiscriminator) -> None:
    for block, rb in zip(d.blocks, (ref.block1, ref.block2, ref.block3, ref.block4)):
        copy_layer(block.conv1, rb.c1)
        copy_layer(block.conv2, rb.c2)
        if block.learnable_shortcut:
            copy_layer(block.shortcut, rb.c_sc)
    copy_layer(d.dense, ref.l5)


def randomise_batchnorm(module: nn.Module, seed: int = 0) -> None:
    """Non-trivial BN affine parameters and running statistics, so eval mode is really tested."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1 + 0.3 * torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(0.3 * torch.randn(m.bias.shape, generator=gen))
                m.running_mean.copy_(0.2 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def latents() -> torch.Tensor:
    return torch.randn(4, 128, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(2)) * 2 - 1


def test_generator_equals_mimicry_in_train_and_eval_mode(latents):
    torch.manual_seed(0)
    g = ResNetGenerator(latent_dim=128, channels=3, resolution=32, width=256, **MIMICRY_G)
    randomise_batchnorm(g)
    ref = RefGenerator()
    load_generator(ref, g)
    g.eval(), ref.eval()
    with torch.no_grad():
        assert torch.equal(g(latents), ref(latents))
    g.train(), ref.train()
    with torch.no_grad():
        out, out_ref = g(latents), ref(latents)
    torch.testing.assert_close(out, out_ref, rtol=0, atol=1e-6)
    # both updated their running statistics identically
    torch.testing.assert_close(g.norm.running_var, ref.b5.running_var, rtol=0, atol=1e-6)


def test_discriminator_equals_mimicry_with_spectral_norm(images):
    torch.manual_seed(0)
    d = ResNetDiscriminator(channels=3, resolution=32, width=128, **MIMICRY_D)
    ref = RefDiscriminator()
    load_discriminator(ref, d)
    d.eval(), ref.eval()  # eval: spectral norm uses the stored u, v on both sides
    with torch.no_grad():
        out, out_ref = d(images), ref(images.clone()).flatten()
    torch.testing.assert_close(out, out_ref, rtol=0, atol=1e-5)
    assert out.abs().max() > 0.1  # a real comparison, not of two near-zero outputs


def test_discriminator_equals_mimicry_in_train_mode_without_spectral_norm(images):
    """Train mode, without spectral norm (whose power iteration PyTorch's two implementations
    order differently; see experiments/cifar10/README.md): the in-place ReLU reaches the shortcut."""
    torch.manual_seed(0)
    d = ResNetDiscriminator(channels=3, resolution=32, width=128, spectral_norm=False, **MIMICRY_D)
    ref = RefDiscriminator(use_sn=False)
    load_discriminator(ref, d)
    with torch.no_grad():
        torch.testing.assert_close(d(images), ref(images.clone()).flatten(), rtol=0, atol=1e-5)


def test_ganbench_defaults_are_not_mimicry(latents, images):
    """The options matter: nearest up-sampling and a shortcut reading x give other outputs."""
    torch.manual_seed(0)
    g = ResNetGenerator(latent_dim=128, channels=3, resolution=32, width=256, bias_init="default")
    ref_g = RefGenerator()
    load_generator(ref_g, g)
    d = ResNetDiscriminator(channels=3, resolution=32, width=128, spectral_norm=False, bias_init="default")
    ref_d = RefDiscriminator(use_sn=False)
    load_discriminator(ref_d, d)
    g.eval(), ref_g.eval()
    with torch.no_grad():
        assert (g(latents) - ref_g(latents)).abs().max() > 1e-2
        assert (d(images) - ref_d(images.clone()).flatten()).abs().max() > 1e-2


def test_bias_init_choices():
    torch.manual_seed(0)
    zero = ResNetDiscriminator(channels=3, resolution=32, width=16, bias_init="zero")
    default = ResNetGenerator(latent_dim=8, channels=3, resolution=32, width=16, bias_init="default")
    assert all(m.bias.abs().max() == 0 for m in zero.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    convs = [m for m in default.modules() if isinstance(m, nn.Conv2d)]
    for m in convs:  # PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), nonzero
        bound = 1 / (m.in_channels * m.kernel_size[0] * m.kernel_size[1]) ** 0.5
        assert 0 < m.bias.abs().max() <= bound


def test_bad_choices_name_the_key():
    from ganbench.errors import ConfigError

    with pytest.raises(ConfigError, match="model.generator.upsample='bicubic'.*nearest, bilinear"):
        ResNetGenerator(upsample="bicubic")
    with pytest.raises(ConfigError, match="model.discriminator.shortcut_activation='gelu'.*none, relu"):
        ResNetDiscriminator(shortcut_activation="gelu")


def test_sngan_preset_selects_mimicry_network_and_parameter_counts():
    cfg = compose(["+experiment=cifar10_sngan"])
    assert cfg.model.generator.upsample == "bilinear" and cfg.model.generator.bias_init == "default"
    assert cfg.model.discriminator.shortcut_activation == "relu" and cfg.model.discriminator.bias_init == "default"
    assert n_params(instantiate(cfg.model.generator)) == 4_276_739
    assert n_params(build_discriminator(cfg.model.discriminator)) == 1_053_825
    assert n_params(RefGenerator()) == 4_276_739 and n_params(RefDiscriminator()) == 1_053_825
