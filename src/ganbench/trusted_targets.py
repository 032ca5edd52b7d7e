"""Which ``_target_``s a saved ``config.yaml`` may instantiate on ``resume=``.

A run directory may be shared, and its ``config.yaml`` edited by someone else: ``resume=`` would
call whatever its ``_target_`` keys name (``loss._target_: shutil.copyfile``). A saved config may
therefore name only the ``_target_``s of ganbench's own config groups (``conf/**/*.yaml``),
PyTorch's optimisers and learning-rate schedulers, and Lightning's stock callbacks by their public
names (``lightning.pytorch.callbacks.StochasticWeightAveraging``: they take numbers, names and
paths; anything they would call is a ``_target_`` of its own, checked here too). Any other one must
be confirmed on the command line, with the same value:
``ganbench-train resume=DIR loss._target_=my_package.MyLoss``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import lightning.pytorch.callbacks as stock_callbacks
from omegaconf import OmegaConf

from ganbench.paths import conf_dir

# Classes of these modules only build optimisers and schedulers from parameters and numbers.
TRUSTED_PREFIXES = ("torch.optim.",)
# Lightning's stock callbacks, by their public names only (not any name under the package).
STOCK_CALLBACKS = frozenset(f"{stock_callbacks.__name__}.{name}" for name in stock_callbacks.__all__)


@lru_cache(maxsize=1)
def known_targets() -> frozenset[str]:
    """Every ``_target_`` named in ganbench's config groups."""
    found: set[str] = set()
    for path in Path(conf_dir()).rglob("*.yaml"):
        try:
            node = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
        except Exception:  # not a config file ganbench could load either
            continue
        found.update(str(target) for _, target in targets_in(node))
    return frozenset(found)


def targets_in(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(key path, value) of every ``_target_`` in a plain container."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key == "_target_":
                yield path, value
            else:
                yield from targets_in(value, path)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from targets_in(value, f"{prefix}.{i}" if prefix else str(i))


def is_trusted(target: Any) -> bool:
    return isinstance(target, str) and (
        target in known_targets() or target in STOCK_CALLBACKS or target.startswith(TRUSTED_PREFIXES)
    )


def untrusted_targets(saved: Mapping[str, Any], confirmed: Mapping[str, str]) -> list[tuple[str, Any]]:
    """The ``_target_``s of ``saved`` (a plain, resolved config) that are neither ganbench's own
    nor confirmed (``confirmed``: key path → value, from the command line)."""
    return [
        (path, target)
        for path, target in targets_in(saved)
        if not path.startswith("hydra.") and not is_trusted(target) and confirmed.get(path) != str(target)
    ]
