"""The loss tests run on every objective of a config directory's ``loss/*.yaml``, instantiated
with Hydra (:func:`ganbench.losses.catalog.config_losses`): ganbench's ``conf/`` by default, or
``--loss-config-dir DIR``. A test function that takes ``loss_case`` gets one ``(name, loss)`` per
option, plus the extra instances of its module's ``EXTRA_LOSSES`` dict (arguments the YAMLs do
not use), with the option name as test id. What a loss does not support (no pointwise optimum,
no divergence identity) its class declares; the tests skip it with that reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ganbench.losses.catalog import config_losses

_CACHE = pytest.StashKey[dict]()


def discovered_losses(config: pytest.Config) -> dict:
    option = config.getoption("--loss-config-dir")
    key = str(option)
    cache = config.stash.setdefault(_CACHE, {})
    if key not in cache:
        cache[key] = config_losses(config_dir=Path(option) if option else None)
    return cache[key]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "loss_case" not in metafunc.fixturenames:
        return
    cases = dict(discovered_losses(metafunc.config))
    cases.update(getattr(metafunc.module, "EXTRA_LOSSES", {}))
    metafunc.parametrize("loss_case", list(cases.items()), ids=list(cases))
