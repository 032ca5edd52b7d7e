"""A new objective is one class and one YAML: written to a temporary directory (a module on
sys.path and ``conf/loss/exponential.yaml``), it is picked up by the contract and theory tests of
tests/losses with no other edit, run here through ``pytest --loss-config-dir``.

The objective is the exponential loss, L_D = E_P[e^(−d)] + E_Q[e^(d)], L_G = E_Q[e^(−d)]. Its
pointwise optimum minimises p·e^(−d) + q·e^(d): d* = ½ log(p/q), where the integrand is 2√(pq), so
L_D(d*) = 2∫√(pq) = 2 − H²(P, Q) with H² = ∫(√p − √q)². A copy with the ½ dropped from d* must
fail the same tests.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from ganbench.losses.catalog import config_losses

ROOT = Path(__file__).resolve().parents[2]
LOSS_TESTS = [
    "tests/losses/test_contract.py",
    "tests/losses/test_theory.py",
    "tests/losses/test_trained_discriminator.py",
]

MODULE = """
import torch
from ganbench.losses import DivergenceIdentity, GANLoss
from ganbench.losses.base import check_densities


class ExponentialLoss(GANLoss):
    name = "exponential"

    def discriminator_loss(self, real_out, fake_out):
        return torch.exp(-real_out).mean() + torch.exp(fake_out).mean()

    def generator_loss(self, fake_out, real_out=None):
        return torch.exp(-fake_out).mean()

    def optimal_output(self, p_data, p_model):
        p, q = check_densities(p_data, p_model)
        return HALF * (torch.log(p) - torch.log(q))

    def optimum_identity(self):
        return DivergenceIdentity("squared_hellinger", -1.0, 2.0)
"""
YAML = "# The exponential loss: L_D = E_P[exp(-d)] + E_Q[exp(d)].\n_target_: my_exp_loss.ExponentialLoss\n"


def write_loss(root: Path, half: float) -> tuple[Path, Path]:
    package, conf = root / "pkg", root / "conf"
    package.mkdir(parents=True)
    (conf / "loss").mkdir(parents=True)
    (package / "my_exp_loss.py").write_text(f"HALF = {half}\n{MODULE}", encoding="utf-8")
    (conf / "loss" / "exponential.yaml").write_text(YAML, encoding="utf-8")
    return package, conf


def run_loss_tests(package: Path, conf: Path) -> tuple[int, dict[str, str]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(package), *sys.path])}
    cmd = [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "--loss-config-dir", str(conf), *LOSS_TESTS]
    out = subprocess.run([*cmd, "-k", "exponential"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    outcomes = dict(re.findall(r"^(tests/\S+\[\S*exponential\S*\]) (PASSED|FAILED|SKIPPED)", out.stdout, flags=re.M))
    return out.returncode, outcomes


def test_the_new_loss_is_discovered(tmp_path, monkeypatch):
    package, conf = write_loss(tmp_path, 0.5)
    monkeypatch.syspath_prepend(str(package))
    losses = config_losses(config_dir=conf)
    assert list(losses) == ["exponential"] and type(losses["exponential"]).__name__ == "ExponentialLoss"


def test_contract_and_theory_tests_run_on_a_new_loss(tmp_path):
    code, outcomes = run_loss_tests(*write_loss(tmp_path, 0.5))
    tests = {re.sub(r"\[.*", "", name.split("::")[-1]) for name in outcomes}
    # every check of the three files ran on it, on both distribution pairs of test_theory
    assert {
        "test_scalar_finite_values_and_gradients",
        "test_pointwise_optimum_is_declared_as_it_is",
        "test_loss_at_optimum_equals_divergence_identity",
        "test_perturbing_the_optimum_increases_the_loss",
        "test_trained_discriminator_approaches_optimal_output",
    } <= tests, outcomes
    assert sum("test_loss_at_optimum_equals_divergence_identity" in n for n in outcomes) == 2, outcomes
    assert code == 0 and set(outcomes.values()) == {"PASSED"}, outcomes


def test_a_wrong_new_loss_fails_them(tmp_path):
    # optimal_output without the ½: the theory checks must catch it
    code, outcomes = run_loss_tests(*write_loss(tmp_path, 1.0))
    failed = {name.split("::")[-1] for name, outcome in outcomes.items() if outcome == "FAILED"}
    assert code != 0
    assert any(n.startswith("test_loss_at_optimum_equals_divergence_identity") for n in failed), outcomes
    assert any(n.startswith("test_perturbing_the_optimum_increases_the_loss") for n in failed), outcomes
    assert any(n.startswith("test_trained_discriminator_approaches_optimal_output") for n in failed), outcomes
    # the interface itself is fine
    assert outcomes["tests/losses/test_contract.py::test_losses_are_batch_means[exponential]"] == "PASSED"
