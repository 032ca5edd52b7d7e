"""On-disk cache of real-data features, keyed by everything that determines them.

Real statistics are computed once per (dataset, split, extractor, resolution, number of images,
subset seed) and reused across runs. Each file stores its key; a file whose key differs (a changed
folder, another weights file) is recomputed, never silently reused.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ganbench.summary import readable_mode


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` through a temporary file and a rename, so concurrent runs (or ranks) never read
    a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buffer.getvalue())
        os.chmod(tmp, readable_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def key_digest(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def cache_path(directory: Path, key: dict[str, Any]) -> Path:
    """``<dataset>_<split>_<resolution>px_<extractor>_<n>_<digest>.pt`` under ``directory``."""
    name = f"{key['dataset']}_{key['split']}_{key['resolution']}px_{key['extractor']}_{key['num_real']}"
    return Path(directory) / f"{name}_{key_digest(key)}.pt"


def load_or_compute(directory: Path, key: dict[str, Any], compute: Callable[[], Tensor]) -> tuple[Tensor, bool]:
    """The real features for ``key``: from the cache when a file with this exact key exists, else
    ``compute()``-d and saved. Returns (features, whether they came from the cache).

    Under DDP, rank 0 alone loads or computes them and broadcasts them to the other ranks: the real
    images are read once, and the cache need not be on a file system every node shares."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        box = [_load_or_compute(directory, key, compute) if dist.get_rank() == 0 else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]
    return _load_or_compute(directory, key, compute)


def _load_or_compute(directory: Path, key: dict[str, Any], compute: Callable[[], Tensor]) -> tuple[Tensor, bool]:
    path = cache_path(directory, key)
    wanted = json.dumps(key, sort_keys=True)
    if path.is_file():
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if payload.get("key") == wanted:
            return payload["features"], True
    features = compute().detach().float().cpu().contiguous()
    atomic_torch_save({"key": wanted, "features": features}, path)
    return features, False
