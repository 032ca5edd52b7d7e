"""GANModule: iteration structure, counting, EMA and the generator update direction."""

from __future__ import annotations

import csv
import functools

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from ganbench.losses import MinimaxLoss, NonSaturatingLoss
from ganbench.models import MLPDiscriminator, MLPGenerator
from ganbench.training import EMAGenerator, GANModule

SGD = functools.partial(torch.optim.SGD, lr=0.0)


class SpyDiscriminator(nn.Module):
    """An MLP discriminator that records every input batch it sees."""

    def __init__(self):
        super().__init__()
        self.net = MLPDiscriminator(hidden_dim=16, num_layers=1)
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.net(x)


def fit(module: GANModule, batches, iterations: int, **trainer_kw) -> L.Trainer:
    trainer = L.Trainer(
        max_steps=module.lightning_steps(iterations),
        max_epochs=1,
        logger=trainer_kw.pop("logger", False),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        **trainer_kw,
    )
    trainer.fit(module, DataLoader(batches, batch_size=None))
    return trainer


def test_each_critic_update_gets_its_own_real_minibatch():
    n_critic, batch = 3, 4
    real = torch.arange(n_critic * batch * 2, dtype=torch.float32).reshape(-1, 2)
    d = SpyDiscriminator()
    module = GANModule(
        MLPGenerator(hidden_dim=8, num_layers=1),
        d,
        NonSaturatingLoss(),
        g_optimizer=SGD,
        d_optimizer=SGD,
        batch_size=batch,
        n_critic=n_critic,
        ema_decay=None,
    )
    fit(module, [real], iterations=1)
    # per critic update D sees real then fake; then the generator update shows D one fake batch
    assert len(d.seen) == 2 * n_critic + 1
    for k in range(n_critic):
        assert torch.equal(d.seen[2 * k], real[k * batch : (k + 1) * batch])
        assert not torch.equal(d.seen[2 * k + 1], real[k * batch : (k + 1) * batch])


def test_counts_are_in_iterations(tmp_path):
    from lightning.pytorch.loggers import CSVLogger

    module = GANModule(
        MLPGenerator(hidden_dim=8, num_layers=1),
        MLPDiscriminator(hidden_dim=8, num_layers=1),
        NonSaturatingLoss(),
        g_optimizer=functools.partial(torch.optim.Adam, lr=1e-3),
        d_optimizer=functools.partial(torch.optim.Adam, lr=1e-3),
        batch_size=8,
        n_critic=4,
        log_every=5,
        ema_decay=None,
    )
    batches = [torch.randn(32, 2) for _ in range(20)]
    trainer = fit(module, batches, iterations=20, logger=CSVLogger(tmp_path, name="", version=""))
    assert trainer.global_step == 20 * 5  # Lightning counts every optimizer step
    assert module.iteration == 20
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    iters = [int(float(r["iteration"])) for r in rows if r.get("d_loss")]
    assert iters == [1, 5, 10, 15, 20]
    assert [int(r["step"]) for r in rows if r.get("d_loss")] == iters  # x-axis = iterations


@pytest.mark.parametrize("loss", [MinimaxLoss(), NonSaturatingLoss()], ids=lambda l: l.name)
def test_one_generator_update_raises_d_of_g_against_a_fixed_discriminator(loss):
    torch.manual_seed(0)
    g = MLPGenerator(hidden_dim=32, num_layers=2)
    d = MLPDiscriminator(hidden_dim=32, num_layers=2)
    module = GANModule(
        g,
        d,
        loss,
        g_optimizer=functools.partial(torch.optim.SGD, lr=0.05),
        d_optimizer=SGD,  # lr 0: the discriminator stays fixed
        batch_size=256,
        ema_decay=None,
    )
    z = torch.randn(4096, 2)
    d_state = {k: v.clone() for k, v in d.state_dict().items()}
    with torch.no_grad():
        before = torch.sigmoid(d(g(z))).mean().item()
    fit(module, [torch.randn(256, 2)], iterations=1)
    with torch.no_grad():
        after = torch.sigmoid(d(g(z))).mean().item()
    assert all(torch.equal(v, d.state_dict()[k]) for k, v in d_state.items())
    assert after > before + 1e-4


def test_ema_follows_the_definition_and_is_frozen():
    torch.manual_seed(0)
    g = MLPGenerator(hidden_dim=4, num_layers=1)
    ema = EMAGenerator(g, decay=0.9, start=2)
    assert not any(p.requires_grad for p in ema.parameters())
    w0 = g.net[0].weight.detach().clone()
    with torch.no_grad():
        g.net[0].weight.add_(1.0)
    ema.update(g, iteration=1)  # before start: copy
    assert torch.equal(ema.module.net[0].weight, w0 + 1.0)
    with torch.no_grad():
        g.net[0].weight.add_(1.0)
    ema.update(g, iteration=2)  # from start: θ ← 0.9 θ + 0.1 θ_g
    assert torch.allclose(ema.module.net[0].weight, 0.9 * (w0 + 1.0) + 0.1 * (w0 + 2.0))


def test_bad_arguments_are_refused():
    g, d = MLPGenerator(), MLPDiscriminator()
    kw = dict(g_optimizer=SGD, d_optimizer=SGD)
    with pytest.raises(ValueError, match="n_critic"):
        GANModule(g, d, NonSaturatingLoss(), n_critic=0, **kw)
    with pytest.raises(TypeError, match="latent_dim"):
        GANModule(nn.Linear(2, 2), d, NonSaturatingLoss(), **kw)
    with pytest.raises(ValueError, match="ema.decay"):
        EMAGenerator(g, decay=1.0)


def test_sample_with_seed_is_reproducible_and_leaves_global_rng_alone():
    module = GANModule(MLPGenerator(), MLPDiscriminator(), NonSaturatingLoss(), g_optimizer=SGD, d_optimizer=SGD)
    torch.manual_seed(1)
    state = torch.get_rng_state()
    a = module.sample(100, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, module.sample(100, seed=3))
    assert a.shape == (100, 2)


def test_the_module_is_the_run_clock():
    """iteration = global_step // (n_critic + 1); the Trainer's max_steps comes from the module."""
    module = GANModule(
        MLPGenerator(hidden_dim=8, num_layers=1),
        MLPDiscriminator(hidden_dim=8, num_layers=1),
        NonSaturatingLoss(),
        g_optimizer=SGD,
        d_optimizer=SGD,
        batch_size=4,
        n_critic=2,
        ema_decay=None,
        iterations=7,
    )
    assert module.lightning_steps() == 7 * 3 and module.lightning_steps(4) == 4 * 3
    assert (module.iteration, module.last_iteration, module.is_last_iteration) == (0, 7, False)
    trainer = fit(module, [torch.randn(8, 2) for _ in range(7)], iterations=7)
    assert trainer.global_step == 21  # 7 iterations of 2 D steps + 1 G step
    assert (module.iteration, module.last_iteration, module.is_last_iteration) == (7, 7, True)
    open_ended = GANModule(
        MLPGenerator(), MLPDiscriminator(), NonSaturatingLoss(), g_optimizer=SGD, d_optimizer=SGD, iterations=None
    )
    assert open_ended.last_iteration is None and open_ended.lightning_steps() == -1
    assert not open_ended.is_last_iteration


@pytest.mark.parametrize(
    "setting,key",
    [({"n_critic": 0}, "n_critic"), ({"batch_size": 0}, "batch_size"), ({"log_every": 0}, "log_every"),
     ({"iterations": 0}, "iterations"), ({"grad_clip": 0.0}, "grad_clip"), ({"ema_decay": 1.0}, "ema.decay"),
     ({"ema_decay": 0.5, "ema_start": -1}, "ema.start")],
)  # fmt: skip
def test_settings_out_of_range_name_their_config_key(setting, key):
    with pytest.raises(ValueError) as err:
        GANModule(MLPGenerator(), MLPDiscriminator(), NonSaturatingLoss(), g_optimizer=SGD, d_optimizer=SGD, **setting)
    message = str(err.value)
    assert message.startswith(f"{key} must be") and f"{key}=" in message and "\n" not in message


def test_a_module_built_in_python_has_the_hyperparameters_of_the_default_config():
    """One default per setting: GANModule's constructor defaults are those `ganbench-train` trains with."""
    from hydra.utils import instantiate

    from ganbench.config import compose

    cfg = compose([])
    built = instantiate(
        cfg.module, generator=MLPGenerator(), discriminator=MLPDiscriminator(), loss=NonSaturatingLoss()
    )
    bare = GANModule(MLPGenerator(), MLPDiscriminator(), NonSaturatingLoss(), g_optimizer=SGD, d_optimizer=SGD)
    expected = {
        "batch_size": cfg.batch_size,
        "n_critic": cfg.n_critic,
        "log_every": cfg.log_every,
        "grad_clip": cfg.grad_clip,
        "iterations_per_step": cfg.iterations_per_step,
        "iterations": cfg.iterations,
        "callback_metrics_every": cfg.module.callback_metrics_every,
    }
    for module in (built, bare):
        assert {key: getattr(module, key) for key in expected} == expected
        assert (module.generator_ema.decay, module.generator_ema.start) == (cfg.ema.decay, cfg.ema.start)
    assert (cfg.batch_size, cfg.ema.decay, cfg.iterations_per_step) == (256, 0.99, 50)  # the documented defaults
