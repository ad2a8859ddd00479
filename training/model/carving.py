"""Silhouette carving: density where a drawing shows background is removed.

The front and back drawings are orthographic views of the character, so their silhouettes bound it
(its visual hull from two views): a point that projects onto a drawing's background cannot hold
matter. At inference the drawings' alpha is known exactly (the user's cut-out, or the renderer's), and
carving the field with it makes the front and back silhouettes of every render those of the drawings,
sharp at any ray count, where a small neural render is otherwise soft at thin limbs and hands. It
adds no depth: side views keep what the field learned, only trimmed to the hull. Measured on validation
(docs/RESULTS.md) it trades colour for outline, hence off by default (InferenceSettings.carve).

Each drawing's alpha is sampled (bilinear) where its camera sees the point (``training/geometry/camera.py``'s
project: one world frame, the pixel convention of the renders), zero outside its image; a point is in the
hull when every drawing's alpha there is at least 0.5 (HULL_ALPHA, the silhouette threshold of the
metrics and of the framing), and outside it its density is zero. The cut is hard on purpose: scaling the
density by a soft alpha keeps any opaque point whose alpha is above zero, which widens the silhouette by
the drawing's whole anti-aliased fringe; the bilinear alpha still places the edge between pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from training.geometry.camera import project

HULL_ALPHA = 0.5  # a drawing's alpha at or above this is the character
EMPTY_SIGMA = -200.0  # raw sigma of a carved point: softplus(-201) underflows to exactly zero density


@dataclass
class Silhouettes:
    """The drawings' alpha and the cameras that drew them, for B characters and V drawings each."""

    alpha: torch.Tensor
    """(B, V, 1, S, S) in [0, 1]; row 0 is the image's top row, as the renders store it."""
    labels: torch.Tensor
    """(B, V, 25): each drawing's camera (the preset's ortho front and back views)."""

    def __post_init__(self):
        if self.alpha.ndim != 5 or self.labels.shape != (*self.alpha.shape[:2], 25):
            raise ValueError(f"silhouettes need alpha (B, V, 1, S, S) and labels (B, V, 25), got "
                             f"{tuple(self.alpha.shape)} and {tuple(self.labels.shape)}")

    def map(self, fn) -> "Silhouettes":
        """The same silhouettes with fn applied to both tensors along the batch axis (expand, slice, repeat)."""
        return Silhouettes(alpha=fn(self.alpha), labels=fn(self.labels))


def in_hull(points: torch.Tensor, silhouettes: Silhouettes) -> torch.Tensor:
    """(B, N, 1) bool: whether every drawing's alpha where its camera sees the point (B, N, 3) (world
    units) is at least HULL_ALPHA; False where a point falls outside a drawing."""
    batch, views = silhouettes.labels.shape[:2]
    size = silhouettes.alpha.shape[-1]
    pts = points.float().repeat_interleave(views, 0)  # (B V, N, 3)
    uv, _ = project(pts, silhouettes.labels.reshape(batch * views, 25))
    grid = (uv * 2 - 1)[:, :, None]  # (B V, N, 1, 2): x = u over columns, y = v over rows
    alpha = silhouettes.alpha.reshape(batch * views, 1, size, size).float()
    seen = F.grid_sample(alpha, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return (seen[:, 0, :, 0] >= HULL_ALPHA).unflatten(0, (batch, views)).all(1)[..., None]


def carve(sigma: torch.Tensor, points: torch.Tensor, silhouettes: Silhouettes) -> torch.Tensor:
    """Raw sigma (B, N, 1) of points (B, N, 3), emptied outside the drawings' hull."""
    return torch.where(in_hull(points, silhouettes), sigma, torch.full_like(sigma, EMPTY_SIGMA))
