"""PacGAN packing: packed inputs, packs of one kind only, packing=1 as the unpacked model, gradient
penalties per packed input, the config error, and a packed WGAN-GP run through the CLI config."""

from __future__ import annotations

import math

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from ganbench.config import compose
from ganbench.errors import ConfigError
from ganbench.models import DCGANDiscriminator, MLPDiscriminator, PacGANDiscriminator, ResNetDiscriminator
from ganbench.models.packing import PackedDiscriminator, build_discriminator, packing_of
from ganbench.regularizers import DRAGANPenalty, GradientPenalty, R1Penalty
from ganbench.regularizers.gradient_penalty import interpolate
from ganbench.validation import validate_config

SHORT = ["iterations=20", "eval.every=10", "evaluator.num_samples=300", "checkpoint.every=10", "log_every=5"]


def node(target: type, **kwargs) -> dict:
    return {"_target_": f"{target.__module__}.{target.__name__}", **kwargs}


@pytest.mark.parametrize("m", [2, 3, 4])
def test_mlp_input_is_m_samples_concatenated(m):
    torch.manual_seed(0)
    d = build_discriminator(node(MLPDiscriminator, data_dim=2, hidden_dim=16, num_layers=2, packing=m))
    assert isinstance(d, PackedDiscriminator) and packing_of(d) == m
    assert d.discriminator.net[0].in_features == 2 * m
    x = torch.randn(6 * m, 2)
    out = d(x)
    assert out.shape == (6,)
    by_hand = torch.stack([d.discriminator(torch.cat(list(x[j * m : (j + 1) * m]))[None])[0] for j in range(6)])
    torch.testing.assert_close(out, by_hand, rtol=0, atol=1e-6)


@pytest.mark.parametrize("cls,extra", [(DCGANDiscriminator, {"norm": "layer"}), (ResNetDiscriminator, {})])
def test_conv_input_concatenates_samples_along_channels(cls, extra):
    m = 3
    torch.manual_seed(0)
    d = build_discriminator(node(cls, channels=1, resolution=16, width=8, packing=m, **extra))
    first = next(c for c in d.discriminator.modules() if isinstance(c, torch.nn.Conv2d))
    assert first.in_channels == 1 * m
    d.eval()  # spectral norm's power iteration would otherwise change the weights between the two calls
    x = torch.randn(2 * m, 1, 16, 16)
    out = d(x)
    assert out.shape == (2,)
    by_hand = d.discriminator(torch.stack([torch.cat(list(x[j * m : (j + 1) * m])) for j in range(2)]))
    torch.testing.assert_close(out, by_hand, rtol=0, atol=1e-6)


def test_pacgan_discriminator_is_packable_and_the_batch_must_divide():
    d = build_discriminator(node(PacGANDiscriminator, packing=4))
    assert d.discriminator.net[0].linear.in_features == 8
    with pytest.raises(ValueError, match="packs of 4"):
        d(torch.zeros(10, 2))


def test_packing_one_builds_exactly_the_unpacked_model():
    cfg = compose(["model=pacgan_mlp"]).model.discriminator
    torch.manual_seed(3)
    packed = build_discriminator(cfg)
    torch.manual_seed(3)
    plain = instantiate(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "packing"]))
    assert type(packed) is type(plain) is PacGANDiscriminator
    sa, sb = packed.state_dict(), plain.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_packing_one_trains_bit_for_bit_like_the_unpacked_model(train):
    common = ["loss=wasserstein", "regularizer=gp", *SHORT]
    _, a = train(*common, "model.discriminator.packing=1")
    _, b = train(*common, "~model.discriminator.packing")  # no packing option at all
    sa = torch.load(a / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    sb = torch.load(b / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


class Linear(torch.nn.Module):
    """D(x) = w·x on one (packed) input of size len(w)."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(w)

    def forward(self, x):
        return x @ self.w


def test_gradient_penalties_take_norms_per_packed_input():
    w = torch.tensor([0.3, -0.4, 1.2, 0.5])  # a packed critic on packs of 2 points in 2-D
    d = PackedDiscriminator(Linear(w), 2)
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    norm = float(w.norm())
    assert float(GradientPenalty(10.0).penalty(d, real, fake).detach()) == pytest.approx(10 * (norm - 1) ** 2, rel=1e-6)
    assert float(R1Penalty(2.0).penalty(d, real, fake).detach()) == pytest.approx(norm**2, rel=1e-6)
    assert float(DRAGANPenalty(1.0).penalty(d, real, fake).detach()) == pytest.approx((norm - 1) ** 2, rel=1e-6)
    # per sample the norms would be those of the halves of w: a different number
    halves = [float(w[:2].norm()), float(w[2:].norm())]
    assert 10 * (norm - 1) ** 2 != pytest.approx(10 * sum((h - 1) ** 2 for h in halves) / 2, rel=1e-3)


def test_interpolates_use_one_epsilon_per_pack():
    torch.manual_seed(0)
    real, fake = torch.ones(12, 3), torch.zeros(12, 3)
    x = interpolate(real, fake, packing=3)  # x = epsilon everywhere
    eps = x[:, 0].view(4, 3)
    assert torch.equal(eps, eps[:, :1].expand(4, 3))  # one value per pack
    assert len(set(eps[:, 0].tolist())) == 4  # different packs, different draws
    assert torch.equal(x, x[:, :1].expand(12, 3))  # broadcast over each sample's coordinates
    real, fake = torch.randn(12, 3), torch.randn(12, 3)
    torch.manual_seed(0)
    unpacked = interpolate(real, fake, packing=1)
    assert torch.equal(unpacked, interpolate_reference(real, fake))  # packing 1: the original sampling


def interpolate_reference(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The unpacked WGAN-GP sampling: one ε per sample, from the same RNG draw."""
    torch.manual_seed(0)
    eps = torch.rand(real.shape[0], 1)
    return eps * real + (1 - eps) * fake


class Recorder:
    """Records every batch the discriminator's packing step cuts into packs."""

    def __init__(self, monkeypatch) -> None:
        self.batches: list[torch.Tensor] = []
        original = PackedDiscriminator.pack

        def pack(module, x):
            self.batches.append(x.detach().clone())
            return original(module, x)

        monkeypatch.setattr(PackedDiscriminator, "pack", pack)


def test_packs_never_mix_real_and_generated_samples(train, monkeypatch):
    """Real samples are moved to x > 50 (far from anything the generator draws at this stage); every
    pack the discriminator sees in training must then be entirely real or entirely generated."""
    from ganbench.data.toy import DeviceSampler

    original = DeviceSampler.__call__
    monkeypatch.setattr(DeviceSampler, "__call__", lambda self, n, device: original(self, n, device) + 100.0)
    rec = Recorder(monkeypatch)
    summary, _ = train("model.discriminator.packing=4", "loss=hinge", "n_critic=2", "batch_size=32", *SHORT)
    assert summary["status"] == "completed"
    kinds = []
    for x in rec.batches:
        real = (x[:, 0] > 50).view(-1, 4)
        assert torch.equal(real.all(dim=1), real.any(dim=1)), "a pack mixes real and generated samples"
        kinds.append(bool(real.all()) if real.all() or not real.any() else None)
    assert None not in kinds  # each call is all real or all generated
    assert kinds.count(True) == 20 * 2  # n_critic real batches per iteration
    assert kinds.count(False) == 20 * 3  # n_critic fake batches for D, one for G


def test_batch_size_not_divisible_by_packing_is_a_config_error():
    with pytest.raises(ConfigError, match=r"batch_size=100 is not divisible by model.discriminator.packing=3"):
        validate_config(compose(["model.discriminator.packing=3", "batch_size=100"]))
    with pytest.raises(ConfigError, match="packing must be an integer >= 1"):
        validate_config(compose(["model.discriminator.packing=0"]))


def test_a_packed_wgan_gp_trains(train):
    summary, run_dir = train(
        "loss=wasserstein", "regularizer=gp", "model.discriminator.packing=2", "n_critic=2", "iterations=60",
        "eval.every=30", "evaluator.num_samples=300", "checkpoint.every=30", "log_every=10",
    )  # fmt: skip
    assert summary["status"] == "completed" and summary["iterations"] == 60
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    first = ckpt["state_dict"]["discriminator.discriminator.net.0.weight"]
    assert first.shape[1] == 4  # packs of two 2-D points
    import csv

    rows = [r for r in csv.DictReader(open(run_dir / "metrics.csv")) if r.get("d_loss")]
    penalties = [float(r["regularizer"]) for r in rows]
    assert all(p > 0 and math.isfinite(p) for p in penalties)
    # the critic learns to separate the two kinds: its Wasserstein estimate E[D(real)] − E[D(fake)] grows
    gaps = [float(r["d_real"]) - float(r["d_fake"]) for r in rows]
    assert max(gaps[1:]) > gaps[0] + 0.05
    assert set(summary["metrics"]) >= {"precision", "recall", "density", "coverage"}
