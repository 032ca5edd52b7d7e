"""The image evaluator: FID/KID (and IS) against cached real statistics, domain-classifier
metrics, and sample grids. See docs/images.md for the protocol.

It implements the interface of :class:`ganbench.training.callbacks.EvaluationCallback`:
``num_samples``, ``metrics(samples) -> dict`` and ``plot(samples, path, title) -> Path``. Samples
are the EMA generator's output in [−1, 1], on the model's device; the extractors follow them there.
The extractors live here, not in the GANModule, so their weights never enter a training checkpoint.

Under DDP every rank calls :meth:`metrics` with *all* the samples (``EvaluationCallback`` draws
them per rank with seed ``eval.seed + rank`` and all-gathers them); each rank extracts the features
of its own contiguous share, and the features are all-gathered back, so the extractor runs once per
sample and every rank computes the same numbers over all of them.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ganbench.counts import ceil_div
from ganbench.evaluation.cache import load_or_compute
from ganbench.evaluation.contract import Evaluator
from ganbench.evaluation.domain import DomainExtractor, classifier_metrics
from ganbench.evaluation.features import InceptionExtractor, cache_root
from ganbench.evaluation.fid import FeatureDistance, inception_score
from ganbench.evaluation.grid import grid_job
from ganbench.evaluation.prdc import DC_K, PRDC
from ganbench.evaluation.selection import bound_settings, select_metrics
from ganbench.rendering import RenderJob

log = logging.getLogger("ganbench")


def _world() -> tuple[int, int]:
    """(rank, world size) of an initialised process group, else (0, 1)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shard(n: int, rank: int, world: int) -> tuple[int, int]:
    """[start, stop) of rank ``rank``'s contiguous share of ``n`` items: ⌈n / world⌉ each, the last
    ranks possibly short (or empty)."""
    per = ceil_div(n, world)
    return min(n, rank * per), min(n, (rank + 1) * per)


def sharded(fn, samples: Tensor) -> tuple[Tensor, ...]:
    """``fn(samples)`` (a tuple of per-sample tensors) computed under DDP as: each rank applies
    ``fn`` to its share of ``samples`` (padded to ⌈N / world⌉ rows with copies of the first
    sample), the results are all-gathered in rank order and the padding is cut off."""
    rank, world = _world()
    if world == 1:
        return fn(samples)
    import torch.distributed as dist

    n = samples.shape[0]
    per = ceil_div(n, world)
    start, stop = shard(n, rank, world)
    local = samples[start:stop]
    if local.shape[0] < per:
        local = torch.cat([local, samples[:1].expand(per - local.shape[0], *samples.shape[1:])])
    out = []
    for x in fn(local):
        parts = [torch.empty_like(x) for _ in range(world)]
        dist.all_gather(parts, x.contiguous())
        out.append(torch.cat(parts)[:n])
    return tuple(out)


CLASSIFIER_METRICS: dict[str, str | None] = {
    "recognised": "max",
    "classes_covered": "max",
    "class_kl": "min",
    "classifier_is": "max",
}


def image_directions(
    inception: bool, domain: bool, kid: bool, prdc: bool, inception_score: bool
) -> dict[str, str | None]:
    """Every metric of an :class:`ImageEvaluator` with these switches, with ``"min"`` or ``"max"``
    for the better side, or None for the spread of an estimate (``kid_std``, ``is_std``), which has
    no better side. Inception metrics are unprefixed (``fid`` …), the domain classifier's are
    ``domain_fid`` … plus the classifier metrics."""
    out: dict[str, str | None] = {}
    for name, on in (("domain", domain), ("inception", inception)):
        if not on:
            continue
        prefix = "domain_" if name == "domain" else ""
        out[prefix + "fid"] = "min"
        if kid:
            out[prefix + "kid"], out[prefix + "kid_std"] = "min", None
        if prdc:
            out.update({prefix + k: v for k, v in PRDC.directions.items()})
    if inception and inception_score:
        out["is"], out["is_std"] = "max", None
    if domain:
        out.update(CLASSIFIER_METRICS)
    return out


def metric_part(name: str) -> tuple[str, str]:
    """(extractor, part) of an image metric name: the extractor whose features it needs
    (``inception`` or ``domain``) and which computation gives it (``fid``, ``kid``, ``prdc``, ``is``
    or ``classifier``)."""
    if name in CLASSIFIER_METRICS:
        return "domain", "classifier"
    extractor = "domain" if name.startswith("domain_") else "inception"
    base = name.removeprefix("domain_")
    if base in ("kid", "kid_std"):
        return extractor, "kid"
    if base in PRDC.directions:
        return extractor, "prdc"
    if base in ("is", "is_std"):
        return extractor, "is"
    return extractor, base


class ImageEvaluator(Evaluator):
    """Metrics of generated images against a datamodule's real images, and sample grids.

    Args:
        datamodule: an :class:`~ganbench.data.images.ImageDataModule`.
        num_samples: generated samples per evaluation (all ranks together).
        split: real split for the statistics (the training split by default).
        num_real: real images for the statistics (a seeded subset; ``None`` = the whole split).
        real_seed: seed of that subset.
        inception: FID/KID with the Inception-v3 of the FID protocol (``fid``, ``kid``, ``kid_std``).
        inception_score: also the Inception Score (``is``, ``is_std``); meaningful for natural
            images with ImageNet-like classes (CIFAR-10), not for digits or faces.
        domain: FID/KID in the features of a classifier trained on the dataset (``domain_fid``,
            ``domain_kid``, ``domain_kid_std``) and the classifier metrics ``classes_covered``,
            ``class_kl``, ``classifier_is`` (needs labels).
        kid, kid_subsets, kid_subset_size: KID settings (subset size capped by the sample counts).
        prdc: improved precision/recall (k = 3) and density/coverage (k = 5) in the features of each
            extractor (``precision`` … for Inception, ``domain_precision`` … for the domain
            classifier), computed on the features FID already extracted, against a seeded subset
            (``real_seed``) of the real features of the same size as the generated set (off when
            ``num_samples`` <= 5: the k-NN balls need more samples than k).
        feature_extractor_weights_path: local Inception weights (torch-fidelity format), for
            machines without internet.
        antialias: resize for Inception with antialiasing (False = the published-FID protocol).
        cache_dir: where real features and classifiers are cached (``$GANBENCH_CACHE`` or
            ``~/.cache/ganbench`` when null).
        batch_size: images per extractor forward pass.
        grid_size: samples shown in the grid (the first ones of the fixed evaluation noise).
        classifier: training settings of the domain classifier (see ``train_classifier``).
        metric_seed: seed of the random subsets of KID and IS.
        metrics: the metrics to report (names from :meth:`available_metrics`), or None for all.
            Only what they need is computed: an extractor none of whose metrics is selected is
            not built (no classifier is trained, no Inception is loaded), and KID, PRDC and IS
            are skipped when none of theirs is.

    Built from the run's datamodule by :meth:`from_datamodule`.
    """

    for_toy_data = False  # evaluates images (validation pairs it with an image dataset)

    def __init__(
        self,
        datamodule: Any,
        num_samples: int = 10000,
        split: str | None = None,
        num_real: int | None = None,
        real_seed: int = 0,
        inception: bool = True,
        inception_score: bool = False,
        domain: bool = False,
        kid: bool = True,
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
        prdc: bool = True,
        feature_extractor_weights_path: str | None = None,
        antialias: bool = False,
        cache_dir: str | None = None,
        batch_size: int = 250,
        grid_size: int = 64,
        classifier: dict[str, Any] | None = None,
        metric_seed: int = 0,
        metrics: list[str] | None = None,
    ) -> None:
        if num_samples < 2:
            raise ValueError(f"evaluator.num_samples must be >= 2 for FID, got {num_samples}")
        if not (inception or domain):
            raise ValueError("evaluator needs inception=true or domain=true (no metric would be computed)")
        # k-NN balls need more than k = 5 samples on each side; tiny evaluations go without PRDC
        available = image_directions(inception, domain, kid, prdc and num_samples > DC_K, inception_score)
        selected = select_metrics(metrics, available, "ImageEvaluator")
        inception = inception and any(metric_part(name)[0] == "inception" for name in selected)
        domain = domain and any(metric_part(name)[0] == "domain" for name in selected)
        self.datamodule = datamodule
        self.num_samples = int(num_samples)
        self.split = split or datamodule.split
        datamodule.check_split(self.split)
        self.num_real = num_real
        self.real_seed = int(real_seed)
        parts = {metric_part(name)[1] for name in selected}
        self.kid, self.kid_subsets, self.kid_subset_size = "kid" in parts, int(kid_subsets), int(kid_subset_size)
        self.want_inception_score = "is" in parts
        self.prdc = "prdc" in parts
        self.cache_dir = cache_root(cache_dir)
        self.batch_size = int(batch_size)
        self.grid_size = int(grid_size)
        self.metric_seed = int(metric_seed)
        self.data_shape = tuple(datamodule.data_shape)
        # Built now, so a missing weights file or unlabelled data fails before training starts.
        self.extractors: dict[str, Any] = {}
        if domain:
            self.extractors["domain"] = DomainExtractor(
                datamodule, self.split, self.cache_dir / "classifiers", **dict(classifier or {})
            )
        if inception:
            self.extractors["inception"] = InceptionExtractor(feature_extractor_weights_path, antialias)
        self._distances: dict[str, FeatureDistance] = {}
        self._prdc: dict[str, PRDC] = {}
        self.directions = selected
        self.draws_grid = True  # plot() saves a sample grid (summary.json: sample_grid)
        self.last_seconds: float | None = None

    # ------------------------------------------------------------------ features
    def _extract(self, name: str, images: Tensor) -> tuple[Tensor, Tensor]:
        extractor = self.extractors[name]
        feats, logits = [], []
        for part in images.split(self.batch_size):
            f, lg = extractor(part)
            feats.append(f)
            logits.append(lg)
        return torch.cat(feats), torch.cat(logits)

    def real_key(self, name: str) -> dict[str, Any]:
        dm = self.datamodule
        return {
            "dataset": dm.name,
            "identity": dm.identity(),
            "split": self.split,
            "resolution": dm.resolution,
            "channels": dm.channels,
            "extractor": self.extractors[name].id,
            "num_real": dm.num_real(self.split, self.num_real),
            "real_seed": self.real_seed,
            "quantised": "uint8",
            "version": 1,
        }

    def real_features(self, name: str, device: torch.device) -> Tensor:
        """Features of the real images for extractor ``name``, from the cache or computed now."""

        def compute() -> Tensor:
            start = time.perf_counter()
            feats = [
                self._extract(name, batch.to(device))[0].cpu()
                for batch in self.datamodule.real_images(self.split, self.num_real, self.real_seed, self.batch_size)
            ]
            log.info(
                "real %s features of %s computed in %.1f s", name, self.datamodule.name, time.perf_counter() - start
            )
            return torch.cat(feats)

        features, _ = load_or_compute(self.cache_dir / "real", self.real_key(name), compute)
        return features

    def _distance(self, name: str, device: torch.device) -> FeatureDistance:
        if name not in self._distances:
            self._distances[name] = FeatureDistance(
                self.real_features(name, device), self.kid, self.kid_subsets, self.kid_subset_size
            )
        return self._distances[name]

    def _prdc_reference(self, name: str, num_fake: int, device: torch.device) -> PRDC:
        """:class:`PRDC` against ``num_fake`` real features (all of them if there are fewer), a subset
        drawn once with a private generator seeded ``real_seed``."""
        if name not in self._prdc or self._prdc[name].num_real != num_fake:
            real = self.real_features(name, device)
            if real.shape[0] > num_fake:
                pick = torch.randperm(real.shape[0], generator=torch.Generator().manual_seed(self.real_seed))
                real = real[pick[:num_fake]]
            self._prdc[name] = PRDC(real.to(device))
        return self._prdc[name]

    # ------------------------------------------------------------------ the evaluator interface
    @classmethod
    def available_metrics(cls, **settings: Any) -> dict[str, str | None]:
        """Every metric an ImageEvaluator with these settings (its constructor's keywords) can
        compute, with its direction (see :func:`image_directions`)."""
        a = bound_settings(cls, settings, skip=("datamodule",))
        return image_directions(
            a["inception"], a["domain"], a["kid"], a["prdc"] and a["num_samples"] > DC_K, a["inception_score"]
        )

    @classmethod
    def from_datamodule(cls, datamodule: Any, **settings: Any) -> ImageEvaluator:
        """The evaluator of an image datamodule (it reads the real images through ``real_images``,
        ``labelled`` and ``data_shape``)."""
        if not hasattr(datamodule, "real_images"):
            raise ValueError(
                f"evaluator={'domain' if settings.get('domain') else 'images'} measures images; dataset "
                f"{getattr(datamodule, 'name', '?')} has none. Use evaluator=toy for the 2-D toy datasets"
            )
        return cls(datamodule, **settings)

    def info(self) -> dict[str, Any]:
        """Facts about the benchmark, not metrics: the number of classes of the domain classifier."""
        return {"num_classes": self.extractors["domain"].num_classes} if "domain" in self.extractors else {}

    @torch.no_grad()
    def evaluate(self, samples: Tensor) -> dict[str, float]:
        """All configured metrics of ``samples`` (N, C, R, R) in [−1, 1]."""
        if tuple(samples.shape[1:]) != self.data_shape:
            raise ValueError(
                f"generated samples have shape {tuple(samples.shape[1:])}, the dataset {self.data_shape}: "
                "set the model's channels/resolution from the dataset (${dataset.channels}, ${dataset.resolution})"
            )
        start = time.perf_counter()
        out: dict[str, float] = {}
        for name in self.extractors:
            features, logits = sharded(lambda x, name=name: self._extract(name, x), samples)
            distances = self._distance(name, features.device)(features, seed=self.metric_seed)
            prefix = "domain_" if name == "domain" else ""
            out.update({prefix + k: v for k, v in distances.items()})
            if self.prdc:
                reference = self._prdc_reference(name, features.shape[0], features.device)
                out.update({prefix + k: v for k, v in reference(features).items()})
            if name == "inception" and self.want_inception_score:
                out["is"], out["is_std"] = inception_score(logits, seed=self.metric_seed)
            if name == "domain":
                k = self.extractors[name].num_classes
                out.update(classifier_metrics(logits, k))
                out["classifier_is"] = inception_score(logits, splits=1)[0]
        self.last_seconds = time.perf_counter() - start
        return {name: out[name] for name in self.directions}

    def plot_job(self, samples: Tensor, path: Path, title: str = "") -> RenderJob:
        """The first ``grid_size`` samples as a PNG grid at ``path``."""
        return grid_job(samples[: self.grid_size], Path(path), title)
