"""SyncBatchNorm resolution and batch_size_is, without processes (the 2-process run is in
tests/training/test_ddp_batchnorm.py)."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from ganbench.errors import ConfigError
from ganbench.models import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from ganbench.training.distributed import per_process_batch_size, resolve_sync_batchnorm, trainer_arguments


def acc(kind="gpu", devices=2, nodes=1):
    return OmegaConf.create({"accelerator": kind, "devices": devices, "num_nodes": nodes})


BN = (DCGANGenerator(resolution=8, width=4), DCGANDiscriminator(resolution=8, width=4))
NO_BN = (MLPGenerator(), MLPDiscriminator())


@pytest.mark.parametrize(
    "accelerator,modules,expected",
    [
        (acc(), BN, True),
        (acc(devices=1), BN, False),
        (acc(devices=1, nodes=2), BN, True),
        (acc(), NO_BN, False),
        (acc("cpu"), BN, False),
    ],  # fmt: skip
)
def test_sync_batchnorm_auto(accelerator, modules, expected):
    assert resolve_sync_batchnorm("auto", accelerator, *modules) is expected


def test_sync_batchnorm_only_on_gpus():
    assert resolve_sync_batchnorm(False, acc(), *BN) is False
    assert resolve_sync_batchnorm(True, acc(devices=1), *NO_BN) is True  # explicit: the user's choice
    with pytest.raises(ConfigError, match="SyncBatchNorm runs on GPUs only"):
        resolve_sync_batchnorm(True, acc("cpu"), *BN)
    with pytest.raises(ConfigError, match="sync_batchnorm='yes'"):
        resolve_sync_batchnorm("yes", acc(), *BN)
    args = trainer_arguments(OmegaConf.create({"sync_batchnorm": "auto", "benchmark": False}), acc(devices=4), *BN)
    assert args == {"sync_batchnorm": True, "benchmark": False}


def batch_cfg(mode, batch, devices, kind="gpu", nodes=1):
    return OmegaConf.create({"batch_size": batch, "batch_size_is": mode, "accelerator": acc(kind, devices, nodes)})


def test_batch_size_is_per_process_or_global():
    assert per_process_batch_size(batch_cfg("per_process", 64, 4)) == 64
    assert per_process_batch_size(batch_cfg("global", 64, 4)) == 16
    assert per_process_batch_size(batch_cfg("global", 64, 2, nodes=2)) == 16
    assert per_process_batch_size(batch_cfg("global", 64, 1)) == 64
    with pytest.raises(ConfigError, match="batch_size=64 with batch_size_is=global cannot be split evenly over 3"):
        per_process_batch_size(batch_cfg("global", 64, 3))
    with pytest.raises(ConfigError, match="batch_size_is='total'.*per_process, global"):
        per_process_batch_size(batch_cfg("total", 64, 1))


def test_validation_reports_an_uneven_global_batch_before_training():
    from ganbench.config import compose
    from ganbench.validation import validate_config

    with pytest.raises(ConfigError, match="batch_size=63 with batch_size_is=global"):
        validate_config(compose(["accelerator=ddp_cpu", "batch_size=63", "batch_size_is=global"]))
    with pytest.raises(ConfigError, match="SyncBatchNorm runs on GPUs only"):
        validate_config(compose(["accelerator=ddp_cpu", "trainer.sync_batchnorm=true"]))
    validate_config(compose(["accelerator=ddp_cpu", "batch_size=64", "batch_size_is=global"]))
