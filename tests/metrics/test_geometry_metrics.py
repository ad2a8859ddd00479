"""Chamfer and F-score against a brute-force numpy version; surface points and their sampling."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from training.metrics.geometry import (N_SAMPLES, geometry_scores, nearest_distances, sample_points, surface_points,
                                       threshold_name)


def brute_force(pred: np.ndarray, true: np.ndarray, thresholds: tuple[float, ...]) -> dict[str, float]:
    """The definitions written out with a full distance matrix (float64)."""
    d = np.sqrt(((pred[:, None, :] - true[None, :, :]) ** 2).sum(-1))
    p2t, t2p = d.min(axis=1), d.min(axis=0)
    out = {"chamfer": 100 * (p2t.mean() + t2p.mean()) / 2}
    for t in thresholds:
        p, r = (p2t <= t).mean(), (t2p <= t).mean()
        out[f"f1@{round(t * 1000)}"] = 100 * (2 * p * r / (p + r) if p + r > 0 else 0.0)
    return out


def clouds(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A true cloud in a 2.1 box and a prediction near it (offsets around the thresholds) plus outliers."""
    rng = np.random.default_rng(seed)
    true = rng.uniform(-1.05, 1.05, size=(300, 3))
    pred = true[rng.permutation(300)[:250]] + rng.normal(0, 0.006, size=(250, 3))
    pred = np.concatenate([pred, rng.uniform(-1.05, 1.05, size=(30, 3))])
    return pred.astype(np.float32), true.astype(np.float32)


@pytest.mark.parametrize("method", ["kdtree", "cdist"])
@pytest.mark.parametrize("seed", [0, 1])
def test_scores_equal_brute_force(method, seed):
    pred, true = clouds(seed)
    ours = geometry_scores(torch.from_numpy(pred), torch.from_numpy(true), method=method)
    ref = brute_force(pred.astype(np.float64), true.astype(np.float64), (0.005, 0.01))
    assert set(ours) == {"chamfer", "f1@5", "f1@10"}
    assert 0 < ref["f1@5"] < ref["f1@10"] < 100  # the clouds exercise both thresholds
    for key, value in ref.items():
        assert ours[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key


def test_identical_and_disjoint_clouds():
    pts = torch.rand(100, 3)
    assert geometry_scores(pts, pts) == {"chamfer": 0.0, "f1@5": 100.0, "f1@10": 100.0}
    far = geometry_scores(pts, pts + 10)
    assert far["f1@5"] == far["f1@10"] == 0.0 and far["chamfer"] > 900


def test_nearest_distances_methods_agree_and_reject_empty():
    a, b = torch.randn(500, 3), torch.randn(333, 3)
    assert torch.allclose(nearest_distances(a, b, "kdtree"), nearest_distances(a, b, "cdist", chunk=64), atol=1e-6)
    with pytest.raises(ValueError, match="empty"):
        nearest_distances(a, b[:0])
    with pytest.raises(ValueError, match="unknown method"):
        nearest_distances(a, b, "octree")


def test_threshold_names():
    assert threshold_name(0.005) == "f1@5" and threshold_name(0.01) == "f1@10"


def test_surface_points_keep_foreground_pixels_of_every_view():
    xyz = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    alpha = torch.zeros(2, 1, 4, 4)
    alpha[0, 0, 1, 2] = 0.9
    alpha[1, 0, 3, 0] = 0.6
    alpha[1, 0, 0, 0] = 0.4  # below the threshold
    pts = surface_points(xyz, alpha, 0.5)
    assert pts.tolist() == [xyz[0, :, 1, 2].tolist(), xyz[1, :, 3, 0].tolist()]
    # alpha at half the resolution is resized (nearest) to xyz's
    low = torch.zeros(2, 1, 2, 2)
    low[0, 0, 0, 0] = 1
    assert len(surface_points(xyz, low, 0.5)) == 4
    with pytest.raises(ValueError):
        surface_points(xyz[:, :2], alpha, 0.5)


def test_sample_points_seeded_without_replacement():
    pts = torch.randn(N_SAMPLES + 500, 3)
    a, b = sample_points(pts, seed=3), sample_points(pts, seed=3)
    assert a.shape == (N_SAMPLES, 3) and torch.equal(a, b)
    assert not torch.equal(a, sample_points(pts, seed=4))
    assert len(torch.unique(a, dim=0)) == N_SAMPLES
    few = pts[:10]
    assert torch.equal(sample_points(few), few)
