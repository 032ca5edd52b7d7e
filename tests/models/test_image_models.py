"""DCGAN and SNGAN ResNet: shapes, the published layer sizes, normalisation choices, spectral norm,
and the refusal of gradient penalties with BatchNorm in the discriminator."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganbench.models import (
    DCGANDiscriminator,
    DCGANGenerator,
    ResNetDiscriminator,
    ResNetGenerator,
    check_regularizer_compatible,
)
from ganbench.regularizers import GradientPenalty, NoRegularizer, R1Penalty, WeightClipping


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("resolution", [8, 16, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes_and_output_range(resolution, channels):
    g = DCGANGenerator(latent_dim=10, channels=channels, resolution=resolution, width=8)
    d = DCGANDiscriminator(channels=channels, resolution=resolution, width=8)
    x = g(torch.randn(3, 10) * 50)  # large latents saturate the tanh, never exceed it
    assert x.shape == (3, channels, resolution, resolution)
    assert g.data_shape == (channels, resolution, resolution) and g.latent_dim == 10
    assert x.abs().max() <= 1.0
    assert d(x).shape == (3,)


def test_dcgan_64_has_the_paper_layer_sizes():
    """Radford et al. 2015, Fig. 1: z(100) → 4×4×1024 → 8×8×512 → 16×16×256 → 32×32×128 → 64×64×3."""
    g = DCGANGenerator(latent_dim=100, channels=3, resolution=64, width=128)
    convs = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(m.in_channels, m.out_channels) for m in convs] == [
        (100, 1024),
        (1024, 512),
        (512, 256),
        (256, 128),
        (128, 3),
    ]
    assert all(m.kernel_size == (4, 4) for m in convs)
    assert [m.stride for m in convs] == [(1, 1)] + [(2, 2)] * 4
    d = DCGANDiscriminator(channels=3, resolution=64, width=128)
    assert [m.out_channels for m in d.modules() if isinstance(m, nn.Conv2d)] == [128, 256, 512, 1024, 1]
    # no normalisation on the discriminator's first layer (paper §3)
    assert isinstance(d.net[1], nn.LeakyReLU) and d.net[1].negative_slope == 0.2


def test_sngan_resnet_parameter_counts_match_the_cifar_architecture():
    """Miyato et al. 2018, Table 4 (CIFAR-10), counted by hand:
    G: dense 128→4·4·256 (528,384) + 3 up-blocks of [BN 512 + conv 590,080 + BN 512 + conv 590,080
    + 1×1 shortcut 65,792] (1,246,976 each) + BN 512 + conv 256→3 (6,915) = 4,276,739.
    D: optimised block 3→128 (3,584 + 147,584 + 512) + down block (2·147,584 + 16,512) + two plain
    blocks (4·147,584) + dense 129 = 1,053,825."""
    assert n_params(ResNetGenerator(latent_dim=128, channels=3, resolution=32, width=256)) == 4_276_739
    assert n_params(ResNetDiscriminator(channels=3, resolution=32, width=128)) == 1_053_825


@pytest.mark.parametrize("resolution", [16, 32, 64])
def test_resnet_shapes(resolution):
    g = ResNetGenerator(latent_dim=16, channels=3, resolution=resolution, width=16)
    d = ResNetDiscriminator(channels=3, resolution=resolution, width=16)
    x = g(torch.randn(2, 16))
    assert x.shape == (2, 3, resolution, resolution) and x.abs().max() <= 1
    assert d(x).shape == (2,)
    pools = 1 + sum(block.downsample for block in d.blocks[1:])
    assert resolution // 2**pools == 8  # down-sampling blocks bring the image to 8×8


def test_resolution_must_be_a_power_of_two():
    with pytest.raises(ValueError, match="power-of-two resolution >= 8.*dataset.resolution"):
        DCGANGenerator(resolution=28)
    with pytest.raises(ValueError, match="power-of-two resolution >= 16"):
        ResNetDiscriminator(resolution=8)
    with pytest.raises(ValueError, match="unknown normalisation 'group'.*batch, layer, instance, none"):
        DCGANDiscriminator(norm="group")


def _couples_samples(d: nn.Module) -> bool:
    """Does D's output for sample 0 change when the other samples of the batch change (train mode)?"""
    d.train()
    torch.manual_seed(0)
    x = torch.randn(8, 3, 16, 16)
    y = x.clone()
    y[1:] = torch.randn(7, 3, 16, 16) * 3 + 1
    return not torch.allclose(d(x)[0], d(y)[0], atol=1e-6)


@pytest.mark.parametrize("norm,coupled", [("batch", True), ("layer", False), ("instance", False), ("none", False)])
def test_discriminator_normalisation_choice(norm, coupled):
    for d in (
        DCGANDiscriminator(channels=3, resolution=16, width=8, norm=norm),
        ResNetDiscriminator(channels=3, resolution=16, width=8, norm=norm, spectral_norm=False),
    ):
        assert _couples_samples(d) == coupled
        has_bn = any(isinstance(m, nn.BatchNorm2d) for m in d.modules())
        assert has_bn == (norm == "batch")


def test_spectral_norm_bounds_every_layer_to_one():
    d = DCGANDiscriminator(channels=3, resolution=16, width=8, norm="none", spectral_norm=True)
    d.train()
    x = torch.randn(4, 3, 16, 16)
    for _ in range(100):  # one power iteration per training forward
        d(x)
    layers = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert len(layers) == 3
    for m in layers:
        w = m.weight.detach().reshape(m.weight.shape[0], -1)
        assert torch.linalg.matrix_norm(w, ord=2).item() == pytest.approx(1.0, abs=1e-3)
    resnet = ResNetDiscriminator(channels=3, resolution=16, width=8)
    assert all(hasattr(m, "parametrizations") for m in resnet.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


@pytest.mark.parametrize("regularizer", [GradientPenalty(10.0), R1Penalty(1.0)])
def test_gradient_penalties_are_refused_with_batchnorm(regularizer):
    d = DCGANDiscriminator(channels=1, resolution=16, width=8, norm="batch")
    with pytest.raises(ValueError) as err:
        check_regularizer_compatible(d, regularizer)
    message = str(err.value)
    assert "BatchNorm" in message and "depends on the whole batch" in message
    assert "model.discriminator.norm=layer" in message and "net.3" in message
    for norm in ("layer", "instance", "none"):
        check_regularizer_compatible(DCGANDiscriminator(channels=1, resolution=16, width=8, norm=norm), regularizer)


@pytest.mark.parametrize("regularizer", [NoRegularizer(), WeightClipping(0.01)])
def test_other_regularizers_accept_batchnorm(regularizer):
    check_regularizer_compatible(DCGANDiscriminator(channels=1, resolution=16, width=8, norm="batch"), regularizer)


def test_build_refuses_gp_with_batchnorm_before_training(tmp_path):
    from ganbench.config import compose
    from ganbench.experiment import build

    cfg = compose(["+experiment=digits", "regularizer=gp", "loss=wasserstein"])
    with pytest.raises(ValueError, match="GradientPenalty.*BatchNorm"):
        build(cfg, tmp_path)
    assert not (tmp_path / "checkpoints").exists()


def test_models_take_their_shape_from_the_dataset():
    from ganbench.config import compose

    cfg = compose(["dataset=mnist", "model=resnet", "dataset.resolution=16"])
    assert cfg.model.generator.channels == 1 and cfg.model.discriminator.resolution == 16
    cfg = compose(["dataset=cifar10", "model=dcgan"])
    assert (cfg.model.generator.channels, cfg.model.generator.resolution) == (3, 32)
