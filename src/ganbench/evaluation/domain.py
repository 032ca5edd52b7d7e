"""A small classifier trained on the dataset itself, as a domain feature extractor.

ImageNet Inception features say little about 8×8 digits and cost minutes on a CPU; a CNN trained
on the dataset's labels gives features in which FID/KID separate good from bad digits, and its
predictions give classifier metrics (for labelled data with K classes, on N generated samples):

- ``recognised``: the fraction of samples the classifier assigns to a class with probability
  >= ``confidence`` (0.9), the analogue of PacGAN's "high-quality" samples;
- ``classes_covered``: classes with at least ``min_share`` (10 %) of their uniform share N/K
  among the recognised samples, so that noise or blobs that the classifier labels with low
  confidence cover nothing (real digits: 10; uniform noise: 2);
- ``class_kl``: KL(q ‖ u) of the histogram q of predicted labels (all samples) against the uniform
  u over K classes, Σ q log(K q) (0 = balanced, log K = a single class);
- ``classifier_is``: the Inception Score formula with this classifier,
  exp(E_x KL(p(y|x) ‖ p(y))), between 1 and K (torchmetrics ``InceptionScore``).

The classifier trains in seconds on the digits (about 40 s on a busy CPU; each epoch is logged);
its weights are cached on disk next to the real statistics, under a key of everything that decides
them (the data, the recipe's settings and code, the PyTorch version), so later runs reuse it and
a file built otherwise is rebuilt, never used.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganbench.data.images import uint8_to_signed
from ganbench.evaluation.cache import atomic_torch_save, key_digest
from ganbench.evaluation.features import to_uint8

log = logging.getLogger("ganbench")


class DomainClassifier(nn.Module):
    """conv3×3(C→w) → ReLU → conv3×3(w→2w) → ReLU → maxpool2 → conv3×3(2w→2w) → ReLU →
    adaptive avg-pool to 4×4 → dense → ReLU (the ``features``) → dense → K logits.

    Inputs are images in [−1, 1] at the dataset's resolution. After training, ``feature_scale``
    is set so that the features of the training images have a root-mean-square of 1 per
    dimension: domain FID/KID then have a scale that does not depend on the training run."""

    def __init__(self, channels: int, num_classes: int, width: int = 16, num_features: int = 64) -> None:
        super().__init__()
        self.num_features = int(num_features)
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, 1, 1),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, 1, 1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 2 * width, 3, 1, 1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(2 * width * 16, num_features),
            nn.ReLU(),
        )
        self.head = nn.Linear(num_features, num_classes)
        self.register_buffer("feature_scale", torch.ones(()))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        features = self.body(x)
        return features / self.feature_scale, self.head(features)


def _shift(x: Tensor, rng: torch.Generator, max_shift: int) -> Tensor:
    """Random translation by up to ``max_shift`` pixels (zero = black padding at −1)."""
    if max_shift <= 0:
        return x
    pad = F.pad(x, (max_shift,) * 4, value=-1.0)
    dx, dy = (int(v) for v in torch.randint(0, 2 * max_shift + 1, (2,), generator=rng))
    return pad[..., dy : dy + x.shape[-2], dx : dx + x.shape[-1]]


def train_classifier(
    images: Tensor,
    labels: Tensor,
    num_classes: int,
    *,
    epochs: int = 12,
    batch_size: int = 64,
    lr: float = 5e-3,
    width: int = 16,
    num_features: int = 64,
    max_shift: int = 1,
    holdout: float = 0.2,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[DomainClassifier, float]:
    """Train a :class:`DomainClassifier` on uint8 ``images`` (N, C, R, R) with Adam and small random
    shifts; returns the network (eval mode, frozen) and its accuracy on a seeded held-out
    ``holdout`` fraction. Runs on the CPU, deterministically, without touching the global RNG.
    ``progress(epoch, epochs)`` is called as each epoch starts."""
    rng = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = DomainClassifier(images.shape[1], num_classes, width, num_features)
    n = images.shape[0]
    perm = torch.randperm(n, generator=rng)
    n_test = int(round(holdout * n))
    test, train = perm[:n_test], perm[n_test:]
    x_all = uint8_to_signed(images)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps = epochs * math.ceil(len(train) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    net.train()
    for epoch in range(epochs):
        if progress is not None:
            progress(epoch + 1, epochs)
        order = train[torch.randperm(len(train), generator=rng)]
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            _, logits = net(_shift(x_all[idx], rng, max_shift))
            loss = F.cross_entropy(logits, labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    net.eval().requires_grad_(False)
    accuracy = float("nan")
    with torch.no_grad():
        if n_test:
            accuracy = float((net(x_all[test])[1].argmax(1) == labels[test]).float().mean())
        features = torch.cat([net.body(part) for part in x_all[train].split(1024)])
        net.feature_scale.fill_(features.square().mean().sqrt().clamp_min(1e-12))
    return net, accuracy


# Every function and class whose code decides the classifier's weights: part of the cache key.
def _recipe_source() -> str:
    return "".join(inspect.getsource(obj) for obj in (DomainClassifier, _shift, train_classifier, uint8_to_signed))


def classifier_key(
    datamodule: Any, split: str, images: Tensor, labels: Tensor, num_classes: int, train_kwargs: dict[str, Any]
) -> dict[str, Any]:
    """Everything that decides the classifier's weights: the data (a hash of the images and labels
    themselves, beside the datamodule's identity), the recipe's settings and code (a hash of its
    source) and the PyTorch version that runs it."""
    data = hashlib.sha256()
    for tensor in (images, labels):
        data.update(str((tensor.dtype, tuple(tensor.shape))).encode())
        data.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return {
        "dataset": datamodule.name,
        "identity": datamodule.identity(),
        "split": split,
        "shape": list(images.shape[1:]),
        "classes": int(num_classes),
        "train": {k: train_kwargs[k] for k in sorted(train_kwargs)},
        "data": data.hexdigest(),
        "code": hashlib.sha256(_recipe_source().encode()).hexdigest(),
        "torch": torch.__version__,
        "version": 3,
    }


def _cached_classifier(path: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """The cached classifier at ``path`` if it was built for exactly ``key``; None (rebuild) when it
    is missing, unreadable or built for something else."""
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        return None
    if not isinstance(payload, dict) or payload.get("key") != json.dumps(key, sort_keys=True):
        log.info("the cached classifier %s was built for other data or code: building it again", path.name)
        return None
    return payload


def _log_epoch(name: str) -> Callable[[int, int], None]:
    def progress(epoch: int, epochs: int) -> None:
        log.info("%s domain classifier: epoch %d/%d", name, epoch, epochs)

    return progress


class DomainExtractor:
    """Features and logits of a :class:`DomainClassifier` for a labelled datamodule, trained on the
    fly (its ``labelled(split)`` images) or loaded from the cache."""

    name = "domain"

    def __init__(self, datamodule: Any, split: str, cache_dir: Path, **train_kwargs: Any) -> None:
        data = datamodule.labelled(split)
        if data is None or not getattr(datamodule, "num_classes", None):
            raise ValueError(
                f"the domain extractor needs class labels, and dataset {datamodule.name} has none; "
                "use evaluator=images (Inception features) instead"
            )
        images, labels = data
        self.num_classes = int(datamodule.num_classes)
        key = classifier_key(datamodule, split, images, labels, self.num_classes, train_kwargs)
        digest = key_digest(key)
        path = Path(cache_dir) / f"classifier_{datamodule.name}_{images.shape[-1]}px_{digest}.pt"
        width = train_kwargs.get("width", 16)
        num_features = train_kwargs.get("num_features", 64)
        self.net = DomainClassifier(images.shape[1], self.num_classes, width, num_features)
        payload = _cached_classifier(path, key)
        if payload is not None:
            self.net.load_state_dict(payload["state_dict"])
            self.net.eval().requires_grad_(False)
            self.accuracy = float(payload["accuracy"])
        else:
            log.info(
                "training the %s domain classifier (%d images; first use only, cached in %s)",
                datamodule.name,
                len(images),
                path.parent,
            )
            net, self.accuracy = train_classifier(
                images, labels, self.num_classes, progress=_log_epoch(datamodule.name), **train_kwargs
            )
            self.net.load_state_dict(net.state_dict())
            self.net.eval().requires_grad_(False)
            payload = {
                "state_dict": self.net.state_dict(),
                "accuracy": self.accuracy,
                "key": json.dumps(key, sort_keys=True),
            }
            atomic_torch_save(payload, path)
            log.info(
                "trained the %s domain classifier: held-out accuracy %.3f (%s)", datamodule.name, self.accuracy, path
            )
        self.num_features = self.net.num_features
        self.id = f"domain-{digest}"

    @torch.no_grad()
    def __call__(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """(features (N, F), logits (N, K)) of images in [−1, 1]; samples are clamped to [−1, 1]
        and quantised to 8 bits first, as the real images are."""
        self.net.to(images.device)
        x = uint8_to_signed(to_uint8(images))  # quantised exactly as the real images are stored
        return self.net(x)


def classifier_metrics(
    logits: Tensor, num_classes: int, min_share: float = 0.1, confidence: float = 0.9
) -> dict[str, float]:
    """``recognised``, ``classes_covered`` and ``class_kl`` of a classifier's ``logits`` (N, K) on N
    samples (see the module docstring)."""
    n = logits.shape[0]
    top, predicted = logits.float().softmax(dim=1).max(dim=1)
    sure = top >= confidence
    counts = torch.bincount(predicted.cpu(), minlength=num_classes).double()
    sure_counts = torch.bincount(predicted[sure].cpu(), minlength=num_classes).double()
    q = counts / n
    nz = q > 0
    return {
        "recognised": float(sure.double().mean()),
        "classes_covered": int((sure_counts >= min_share * n / num_classes).sum()),
        "class_kl": float((q[nz] * (q[nz] * num_classes).log()).sum()),
    }
