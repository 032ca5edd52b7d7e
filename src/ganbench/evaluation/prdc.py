"""Precision, recall, density and coverage of generated samples against real ones, from k-nearest-
neighbour balls in a feature space.

Let X = {x_1 … x_N} be real features, Y = {y_1 … y_M} generated ones, and NND_k(x) the distance
from x to its k-th nearest neighbour *in its own set* (the point itself not counted). B(x, r) is
the ball of radius r around x.

- Improved precision and recall, Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric
  for Assessing Generative Models" (NeurIPS), eq. 1–2, k = 3:

      precision = (1/M) Σ_j 1[∃ i: ‖y_j − x_i‖ ≤ NND_k(x_i)]   (fakes inside the real manifold)
      recall    = (1/N) Σ_i 1[∃ j: ‖x_i − y_j‖ ≤ NND_k(y_j)]   (reals inside the fake manifold)

- Density and coverage, Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative
  Models" (ICML), eq. 3–4, k = 5:

      density  = 1/(k M) Σ_j Σ_i 1[‖y_j − x_i‖ < NND_k(x_i)]   (can exceed 1; ≈ 1 for Y ~ P_X)
      coverage = (1/N) Σ_i 1[min_j ‖x_i − y_j‖ < NND_k(x_i)]

Precision and recall use ≤, as the authors' code and torch-fidelity 0.4 do; density and coverage use
<, as Naeem et al.'s ``prdc`` package does (the two differ only on exact ties).

Distances are computed in blocks of ``chunk`` rows, so memory stays at ``chunk × max(N, M)``
distances (40 MB for 1,024 × 10,000 in float32) however many samples there are; one pass over the
real × fake blocks gives all four metrics. Low-dimensional features (≤ 64, e.g. the 2-D toys, where
neighbour distances are ~1e-3) use the exact difference-based distance in float64; higher dimensions
use the ‖a‖² + ‖b‖² − 2a·b matrix product in float32, which is what makes 2048-D features fast.

Features of at most ``KDTREE_MAX_DIM`` dimensions (the toys) skip the N × M pass: k-d trees
(``scipy.spatial.cKDTree``) find, for every ball, the points that may lie in it (the radius widened by
a relative 1e-9), and only those pairs' distances are computed, with the same float64 difference
formula, and compared with ≤ or < as above. Each ball holds a handful of points, so an evaluation of
2,500 toy samples costs a few milliseconds instead of three 2,500 × 2,500 distance matrices; the
results equal the block pass (tests/evaluation/test_prdc.py checks both against a brute-force loop
with exact ties).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import Tensor

PR_K = 3  # Kynkäänniemi et al. 2019
DC_K = 5  # Naeem et al. 2020
EXACT_MAX_DIM = 64
KDTREE_MAX_DIM = 8  # k-d trees lose to the block pass in higher dimensions
_WIDEN = 1 + 1e-9  # candidate balls are widened so the tree's own rounding never drops a point


def _use_kdtree(x: Tensor, method: str) -> bool:
    if method not in ("auto", "blocks", "kdtree"):
        raise ValueError(f"method must be 'auto', 'blocks' or 'kdtree', got {method!r}")
    return method == "kdtree" or (method == "auto" and x.shape[1] <= KDTREE_MAX_DIM)


def _check_k(ks: tuple[int, ...], n: int) -> None:
    for k in ks:
        if not 1 <= k < n:
            raise ValueError(f"k-nearest-neighbour radii need 1 <= k < number of samples, got k={k}, N={n}")


def _exact(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Euclidean distances of paired rows, by differences in float64 (as the block pass)."""
    return np.sqrt(((a - b) ** 2).sum(axis=1))


def _kdtree_radii(x: np.ndarray, tree: cKDTree, ks: tuple[int, ...]) -> dict[int, np.ndarray]:
    """NND_k of every row of ``x`` within ``x``: the tree finds the k+1 nearest (the row itself
    included), whose distances are recomputed exactly and sorted."""
    top = max(ks) + 1
    _, idx = tree.query(x, k=top)
    idx = idx.reshape(len(x), top)
    d = np.sort(_exact(np.repeat(x, top, axis=0), x[idx.ravel()]).reshape(len(x), top), axis=1)
    return {k: d[:, k].copy() for k in ks}


def _ball_pairs(centres: np.ndarray, radii: np.ndarray, points: np.ndarray, tree: cKDTree):
    """(centre index, point index, exact distance) of every point of ``tree`` that may lie in a ball."""
    found = tree.query_ball_point(centres, radii * _WIDEN + 1e-300, return_sorted=False)
    counts = np.fromiter((len(f) for f in found), dtype=np.int64, count=len(found))
    ci = np.repeat(np.arange(len(centres)), counts)
    pi = np.fromiter((j for f in found for j in f), dtype=np.int64, count=int(counts.sum()))
    return ci, pi, _exact(centres[ci], points[pi])


def _prdc_kdtree(x: Tensor, y: Tensor, pr_k: int, dc_k: int, real_radii: dict[int, Tensor]) -> dict[str, float]:
    """:func:`prdc` by k-d trees (see the module doc); ``real_radii`` holds NND_pr_k and NND_dc_k."""
    xn, yn = x.double().cpu().numpy(), y.double().cpu().numpy()
    x_tree, y_tree = cKDTree(xn), cKDTree(yn)
    r_pr, r_dc = (real_radii[k].double().cpu().numpy() for k in (pr_k, dc_k))
    r_fake = _kdtree_radii(yn, y_tree, (pr_k,))[pr_k]
    # balls around the reals (precision with NND_pr_k, density with NND_dc_k), over the fakes
    ri, fj, d = _ball_pairs(xn, np.maximum(r_pr, r_dc), yn, y_tree)
    in_real_manifold = np.zeros(len(yn), dtype=bool)
    in_real_manifold[fj[d <= r_pr[ri]]] = True
    density_count = int((d < r_dc[ri]).sum())
    # balls around the fakes (recall), over the reals
    fj, ri, d = _ball_pairs(yn, r_fake, xn, x_tree)
    in_fake_manifold = np.zeros(len(xn), dtype=bool)
    in_fake_manifold[ri[d <= r_fake[fj]]] = True
    # the nearest fake of every real (coverage)
    _, nearest = y_tree.query(xn, k=1)
    nearest_fake = _exact(xn, yn[nearest])
    return {
        "precision": float(in_real_manifold.mean()),
        "recall": float(in_fake_manifold.mean()),
        "density": density_count / (dc_k * len(yn)),
        "coverage": float((nearest_fake < r_dc).mean()),
    }


def _prepare(features: Tensor) -> Tensor:
    features = features.detach()
    if features.dim() != 2:
        raise ValueError(f"features must be a matrix (N, D), got shape {tuple(features.shape)}")
    return features.double() if features.shape[1] <= EXACT_MAX_DIM else features.float()


def pairwise_distances(a: Tensor, b: Tensor) -> Tensor:
    """Euclidean distances (len(a), len(b)); exact differences for low dimensions (see module doc)."""
    if a.shape[1] <= EXACT_MAX_DIM:
        return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")
    return torch.cdist(a, b, compute_mode="use_mm_for_euclid_dist")


def _radii(x: Tensor, ks: tuple[int, ...], chunk: int, method: str = "auto") -> dict[int, Tensor]:
    """NND_k of every row of the prepared ``x`` for every k in ``ks``, from one pass over the rows:
    the (k+1)-th smallest distance of each row, the first being the row itself (distance 0)."""
    _check_k(ks, x.shape[0])
    if _use_kdtree(x, method):
        xn = x.double().cpu().numpy()
        radii = _kdtree_radii(xn, cKDTree(xn), ks)
        return {k: torch.from_numpy(r).to(device=x.device, dtype=x.dtype) for k, r in radii.items()}
    top = max(ks) + 1
    nearest = torch.cat([pairwise_distances(part, x).topk(top, dim=1, largest=False).values for part in x.split(chunk)])
    return {k: nearest[:, k].contiguous() for k in ks}


def knn_radii(features: Tensor, k: int, chunk: int = 1024, method: str = "auto") -> Tensor:
    """NND_k of every row of ``features`` (N, D) within ``features``: the (k+1)-th smallest distance
    of each row, the first being the row itself (distance 0). ``method``: ``"auto"`` (k-d tree up to
    ``KDTREE_MAX_DIM`` dimensions, blocks above), ``"blocks"`` or ``"kdtree"``."""
    return _radii(_prepare(features), (k,), chunk, method)[k]


def prdc(
    real: Tensor,
    fake: Tensor,
    pr_k: int = PR_K,
    dc_k: int = DC_K,
    chunk: int = 1024,
    real_radii: dict[int, Tensor] | None = None,
    method: str = "auto",
) -> dict[str, float]:
    """``precision``, ``recall`` (k = ``pr_k``), ``density`` and ``coverage`` (k = ``dc_k``) of
    generated features ``fake`` (M, D) against real features ``real`` (N, D); see the module doc.

    ``real_radii`` may hold precomputed :func:`knn_radii` of ``real`` keyed by k (the real set is
    fixed across evaluations, so callers cache them); missing ones are computed. ``method`` as in
    :func:`knn_radii`: both give the same values.
    """
    x, y = _prepare(real), _prepare(fake)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"real and generated features differ in dimension: {x.shape[1]} vs {y.shape[1]}")
    radii = dict(real_radii or {})
    missing = tuple(sorted({pr_k, dc_k} - set(radii)))
    if missing:
        radii.update(_radii(x, missing, chunk, method))
    if _use_kdtree(x, method):
        _check_k((pr_k,), y.shape[0])
        return _prdc_kdtree(x, y, pr_k, dc_k, radii)
    r_pr, r_dc = radii[pr_k].to(x), radii[dc_k].to(x)
    r_fake = _radii(y, (pr_k,), chunk, method)[pr_k]
    in_real_manifold = torch.zeros(y.shape[0], dtype=torch.bool, device=y.device)
    density_counts = torch.zeros(y.shape[0], dtype=torch.float64, device=y.device)
    in_fake_manifold = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    nearest_fake = torch.full((x.shape[0],), float("inf"), dtype=x.dtype, device=x.device)
    for start in range(0, y.shape[0], chunk):
        stop = min(start + chunk, y.shape[0])
        d = pairwise_distances(y[start:stop], x)  # (fakes in block, reals)
        in_real_manifold[start:stop] = (d <= r_pr).any(dim=1)
        density_counts[start:stop] = (d < r_dc).sum(dim=1).double()
        in_fake_manifold |= (d <= r_fake[start:stop, None]).any(dim=0)
        nearest_fake = torch.minimum(nearest_fake, d.min(dim=0).values)
    return {
        "precision": float(in_real_manifold.double().mean()),
        "recall": float(in_fake_manifold.double().mean()),
        "density": float(density_counts.mean() / dc_k),
        "coverage": float((nearest_fake < r_dc).double().mean()),
    }


class PRDC:
    """:func:`prdc` against a fixed set of real features, with their k-NN radii computed once.

    ``directions`` declares every metric as higher-is-better."""

    directions: dict[str, str | None] = {"precision": "max", "recall": "max", "density": "max", "coverage": "max"}

    def __init__(self, real: Tensor, pr_k: int = PR_K, dc_k: int = DC_K, chunk: int = 1024) -> None:
        self.real = _prepare(real)
        self.pr_k, self.dc_k, self.chunk = int(pr_k), int(dc_k), int(chunk)
        self._radii: dict[int, Tensor] = {}

    @property
    def num_real(self) -> int:
        return self.real.shape[0]

    def __call__(self, fake: Tensor) -> dict[str, float]:
        if fake.shape[0] <= self.pr_k:
            raise ValueError(f"precision/recall need more than k={self.pr_k} generated samples, got {fake.shape[0]}")
        device = fake.device
        if self.real.device != device:
            self.real = self.real.to(device)
            self._radii = {k: r.to(device) for k, r in self._radii.items()}
        if not self._radii:
            self._radii = _radii(self.real, tuple(sorted({self.pr_k, self.dc_k})), self.chunk)
        return prdc(self.real, fake, self.pr_k, self.dc_k, self.chunk, self._radii)
