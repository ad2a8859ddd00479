"""Geometry metrics from surface point clouds: chamfer distance and F-score, as the paper reports them.

Surface points come from per-pixel world points: predicted ``xyz`` + ``alpha`` renders, and the
ground truth's ``xyza`` images (foreground pixels of every view used). Distances are measured from at
most 10k points of each cloud (seeded, without replacement; all points when there are fewer) to ALL
points of the other, so a prediction equal to the truth scores chamfer 0 and F1 100 however many
points there are (two independent 10k samples of one 512 px surface would not: their nearest
neighbours lie a sample spacing apart, more than the thresholds). With d(p, Q) the distance from p to
its nearest neighbour in Q:

- chamfer = (mean_p d(p, true) + mean_t d(t, pred)) / 2, reported x 100;
- F1@t = 2 P R / (P + R) with precision P = share of predicted points within t of the truth and
  recall R = share of true points within t of the prediction (0 when both are 0), reported x 100,
  at t = 0.005 and 0.01 in world units (the preset's box: 2.1 wide for bodies, 0.7 for heads).

A prediction with no surface point gets the worst scores (``empty_prediction_scores``): F1 0 and
chamfer = the box diagonal sqrt(3) * box_warp (no two points in the box are farther apart), so it
counts in the means instead of being left out.

Nearest neighbours are exact: a scipy cKDTree for clouds on the CPU (fast on two cores), torch.cdist
without the matrix-product shortcut (whose rounding can pick a wrong neighbour), in chunks, on a GPU.
"""
from __future__ import annotations

import math

import torch
from scipy.spatial import cKDTree

from training.data.layout import MASK_THRESHOLD

N_SAMPLES = 10_000
THRESHOLDS = (0.005, 0.01)
MAX_DISTANCES = 2 ** 26  # entries of one cdist chunk (256 MB in float32)
SURFACE_ALPHA_THRESHOLD = MASK_THRESHOLD / 255
"""A pixel is surface where its alpha passes the dataset's mask rule, in predicted renders and true xyza
images alike: one rule, so a prediction equal to the truth keeps exactly the true points (the true
images' antialiased edges would otherwise enter one cloud and not the other)."""


def surface_points(xyz: torch.Tensor, alpha: torch.Tensor, threshold: float) -> torch.Tensor:
    """World points (P, 3) of the pixels with alpha > threshold, over all views: xyz (V, 3, H, W),
    alpha (V, 1, H, W) (alpha may be at another resolution; it is resized to xyz's, nearest)."""
    if xyz.ndim != 4 or xyz.shape[1] != 3 or alpha.ndim != 4 or alpha.shape[1] != 1 or len(xyz) != len(alpha):
        raise ValueError(f"surface_points: expected xyz (V, 3, H, W) and alpha (V, 1, H, W), got "
                         f"{tuple(xyz.shape)} and {tuple(alpha.shape)}")
    if alpha.shape[-2:] != xyz.shape[-2:]:
        alpha = torch.nn.functional.interpolate(alpha.float(), size=xyz.shape[-2:], mode="nearest-exact")
    keep = (alpha[:, 0] > threshold).reshape(-1)
    return xyz.permute(0, 2, 3, 1).reshape(-1, 3)[keep]


def sample_points(points: torch.Tensor, n: int = N_SAMPLES, seed: int = 0) -> torch.Tensor:
    """At most n of the points (P, 3), drawn without replacement by a generator seeded with ``seed``."""
    if len(points) <= n:
        return points
    gen = torch.Generator().manual_seed(seed)
    return points[torch.randperm(len(points), generator=gen)[:n].to(points.device)]


def nearest_distances(a: torch.Tensor, b: torch.Tensor, method: str = "auto", chunk: int = 2048) -> torch.Tensor:
    """For each point of a (N, 3), the distance to its nearest neighbour in b (M, 3); shape (N,).

    method: 'kdtree', 'cdist' or 'auto' (kdtree on the CPU, cdist elsewhere); both are exact. cdist
    takes at most chunk points of a at a time, fewer when b is large (MAX_DISTANCES).
    """
    if len(a) == 0 or len(b) == 0:
        raise ValueError(f"nearest_distances: empty point cloud ({len(a)} and {len(b)} points)")
    if method == "auto":
        method = "kdtree" if a.device.type == "cpu" else "cdist"
    if method == "kdtree":
        dist, _ = cKDTree(b.detach().double().cpu().numpy()).query(a.detach().double().cpu().numpy())
        return torch.from_numpy(dist).to(a.device, a.dtype)
    if method != "cdist":
        raise ValueError(f"nearest_distances: unknown method {method!r} (auto, kdtree or cdist)")
    rows = max(1, min(chunk, MAX_DISTANCES // len(b)))  # a chunk's distance matrix stays small
    out = [torch.cdist(part[None], b[None], compute_mode="donot_use_mm_for_euclid_dist")[0].amin(dim=1)
           for part in a.split(rows)]
    return torch.cat(out)


def threshold_name(t: float) -> str:
    """'f1@5' for 0.005, 'f1@10' for 0.01: the threshold in thousandths of a world unit."""
    return f"f1@{round(t * 1000):d}"


def geometry_scores(pred: torch.Tensor, true: torch.Tensor, thresholds: tuple[float, ...] = THRESHOLDS,
                    method: str = "auto", n: int = N_SAMPLES, seed: int = 0) -> dict[str, float]:
    """Chamfer x 100 and F1 x 100 at each threshold between two point clouds (N, 3) and (M, 3): from at
    most n points of each (sample_points, seeds seed and seed + 1) to all points of the other."""
    pred, true = pred.float(), true.float()
    p2t = nearest_distances(sample_points(pred, n, seed), true, method)
    t2p = nearest_distances(sample_points(true, n, seed + 1), pred, method)
    scores = {"chamfer": 100 * (p2t.mean().item() + t2p.mean().item()) / 2}
    for t in thresholds:
        precision = (p2t <= t).float().mean().item()
        recall = (t2p <= t).float().mean().item()
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        scores[threshold_name(t)] = 100 * f1
    return scores


def empty_prediction_scores(box_warp: float, thresholds: tuple[float, ...] = THRESHOLDS) -> dict[str, float]:
    """The scores of a prediction with no surface point, the worst possible: chamfer x 100 = the box
    diagonal (sqrt(3) * box_warp), F1 0 at each threshold."""
    return {"chamfer": 100 * math.sqrt(3) * box_warp, **{threshold_name(t): 0.0 for t in thresholds}}
