"""Feature extractors for FID/KID/IS, and the mapping of generator output to their input range.

Generators end in tanh, so samples are floats in [−1, 1]. The Inception network of the FID
protocol takes uint8 RGB images in [0, 255]: samples are clamped to [−1, 1] *before* the
conversion (torchmetrics' ``normalize=True`` path would wrap values outside [0, 1] around the byte
range) and rounded, exactly as real images stored as bytes are. Greyscale images are replicated to
three channels. The Inception network resizes them to 299×299 itself.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from torch import Tensor, nn


def to_uint8(samples: Tensor) -> Tensor:
    """Images in [−1, 1] (any float dtype) → uint8 in [0, 255]: clamp, scale by 127.5, round."""
    return ((samples.detach().float().clamp(-1.0, 1.0) + 1.0) * 127.5).round_().to(torch.uint8)


class IdentityFeatures(nn.Module):
    """Passes precomputed features through, so torchmetrics' FID/KID/IS accumulate features that
    ganbench extracted (once, and cached) instead of running their own network."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = int(num_features)

    def forward(self, x: Tensor) -> Tensor:
        return x


def file_digest(path: Path) -> str:
    """SHA-256 of a file (first 16 hex digits), to tell weights files apart in cache keys."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


INCEPTION_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
)


class InceptionExtractor:
    """The FID Inception-v3 of torchmetrics (torch-fidelity's port of the TensorFlow graph):
    2048-D pool features for FID/KID and the 1008 unbiased logits for the Inception Score.

    ``feature_extractor_weights_path`` loads the weights from a local file in torch-fidelity's
    format (``weights-inception-2015-12-05-6726825d.pth``), so nothing is downloaded; without it
    torchmetrics downloads them on first use. ``antialias=False`` (the default) resizes to 299×299
    with torch-fidelity's TensorFlow-1.x-compatible bilinear interpolation, which is what the
    published FIDs used; torchmetrics 1.9 defaults to ``antialias=True``, which gives different
    numbers.
    """

    name = "inception"
    num_features = 2048

    def __init__(self, feature_extractor_weights_path: str | None = None, antialias: bool = False) -> None:
        from torchmetrics.image.fid import NoTrainInceptionV3

        path = feature_extractor_weights_path
        if path is not None:
            path = Path(path).expanduser()
            if not path.is_file():
                raise FileNotFoundError(
                    f"feature_extractor_weights_path={path} does not exist. Download {INCEPTION_URL} once on a "
                    "machine with internet and point evaluator.feature_extractor_weights_path at it."
                )
        try:
            self.net = NoTrainInceptionV3(
                name="inception-v3-compat",
                features_list=["2048"],
                feature_extractor_weights_path=None if path is None else str(path),
                antialias=antialias,
            )
        except (OSError, RuntimeError) as err:  # URLError is an OSError
            raise RuntimeError(
                f"could not load the Inception-v3 weights ({type(err).__name__}: {err}). Without internet, download "
                f"{INCEPTION_URL} elsewhere and set evaluator.feature_extractor_weights_path to the file."
            ) from err
        self.antialias = bool(antialias)
        self.weights = "torch-fidelity-default" if path is None else file_digest(path)

    @property
    def id(self) -> str:
        return f"inception-{self.weights}-{'aa' if self.antialias else 'tf1'}"

    @torch.no_grad()
    def __call__(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """(pool features (N, 2048), unbiased logits (N, 1008)) of images in [−1, 1]."""
        self.net.to(images.device)
        x = to_uint8(images)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        # the public forward gives the 2048-D pool features; torch-fidelity's unbiased logits are
        # those features times the final layer's weight, without its bias (``logits_unbiased``)
        features = self.net(x).float()
        return features, features @ self.net.fc.weight.float().T


def cache_root(configured: str | os.PathLike | None = None) -> Path:
    """Where ganbench caches real statistics and domain classifiers: ``configured``, else
    ``$GANBENCH_CACHE``, else ``~/.cache/ganbench``."""
    if configured:
        return Path(configured).expanduser()
    return Path(os.environ.get("GANBENCH_CACHE", Path.home() / ".cache" / "ganbench")).expanduser()


def save_random_inception_weights(path: str | os.PathLike, seed: int = 0) -> Path:
    """Write a randomly initialised FID Inception-v3 in torch-fidelity's weights format (the
    ``state_dict`` of ``FeatureExtractorInceptionV3``) to ``path``.

    It has the real network's architecture and cost, so it serves to time evaluations and to test
    the offline ``feature_extractor_weights_path`` route; its FIDs mean nothing. Nothing is
    downloaded (see :func:`ganbench._compat.random_inception_v3`)."""
    from ganbench._compat import random_inception_v3

    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(random_inception_v3(seed), path)
    return path
