"""Spectral normalisation: torch's computation, and compile-safe with two D calls before a backward."""

from __future__ import annotations

import shutil

import pytest
import torch
from torch import nn

from ganbench.models.layers import spectral

LAYERS = {
    "conv": lambda: nn.Conv2d(3, 8, 3),
    "linear": lambda: nn.Linear(5, 7),
    "conv_transpose": lambda: nn.ConvTranspose2d(4, 6, 4),  # normalised over its second dimension
}


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_equals_torchs_spectral_norm_in_train_and_eval(layer):
    torch.manual_seed(1)
    reference = nn.utils.parametrizations.spectral_norm(LAYERS[layer]())
    torch.manual_seed(1)
    ours = spectral(LAYERS[layer](), True)
    assert list(ours.state_dict()) == list(reference.state_dict())  # old checkpoints load
    for mode in ("train", "train", "eval", "train"):
        reference.train(mode == "train")
        ours.train(mode == "train")
        assert torch.equal(ours.weight, reference.weight)
    for key, value in reference.state_dict().items():
        assert torch.equal(ours.state_dict()[key], value), key


def test_normalised_weight_has_unit_largest_singular_value():
    torch.manual_seed(0)
    layer = spectral(nn.Linear(6, 4), True)
    for _ in range(50):  # the power iteration converges over forward passes
        layer.weight  # noqa: B018
    assert torch.linalg.matrix_norm(layer.weight.detach(), ord=2).item() == pytest.approx(1.0, abs=1e-4)


@pytest.mark.skipif(shutil.which("g++") is None, reason="inductor on the CPU needs a C++ compiler")
def test_compiled_discriminator_called_on_real_and_fake_before_one_backward():
    # With torch's spectral_norm, inductor saves the u/v buffers themselves for the backward, and the
    # second call's in-place power iteration makes this backward fail ("modified by an inplace operation").
    torch.manual_seed(0)
    critic = nn.Sequential(spectral(nn.Conv2d(3, 8, 1), True), nn.Flatten())
    eager = nn.Sequential(spectral(nn.Conv2d(3, 8, 1), True), nn.Flatten())
    eager.load_state_dict(critic.state_dict())
    critic.compile()
    real, fake = torch.randn(4, 3, 4, 4), torch.randn(4, 3, 4, 4)
    for _ in range(3):
        for model in (critic, eager):
            model.zero_grad()
            (model(real).mean() - model(fake).mean()).backward()
        got = critic[0].parametrizations.weight.original.grad
        want = eager[0].parametrizations.weight.original.grad
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
