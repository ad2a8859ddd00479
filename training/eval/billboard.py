"""The flat billboard reference: the front drawing on a card, seen from every camera, with no model.

The card is the plane z = 0 (through the world origin, facing the front camera) carrying the true
front ortho image at the place the front camera sees it, infinitely thin and visible from both sides.
Each view is ray-traced: every pixel's ray (training/geometry/camera.py ray_bundle) meets the plane and
takes the front image's colour and alpha there (bilinear). So the front view is the front drawing
itself, the back view the card's back (the front drawing mirrored), the ring views the card
foreshortened by perspective, and the side views (rays parallel to the card, or a camera in its plane)
see nothing: an empty silhouette, a white image. It is what a method that learned no depth at all
would show, and the scores a model has to beat to have reconstructed anything beyond the drawing.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from training.geometry.camera import project, ray_bundle

PARALLEL = 1e-6  # |ray direction z| below this: the ray runs along the card and never meets it


def card_views(front_rgb: torch.Tensor, front_alpha: torch.Tensor, front_label: torch.Tensor,
               labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The card of the front view (rgb (3, R, R) on white, alpha (1, R, R), its camera label) seen by
    the cameras labels (V, 25): images (V, 3, R, R) on white and alpha (V, 1, R, R)."""
    res = front_rgb.shape[-1]
    origins, directions = ray_bundle(labels.float(), res)
    dz = directions[..., 2]
    hits = dz.abs() > PARALLEL
    t = -origins[..., 2] / torch.where(hits, dz, torch.ones_like(dz))
    hits &= t > 0
    points = origins + t[..., None] * directions
    uv, _ = project(points.reshape(1, -1, 3), front_label.float()[None])
    grid = (uv.reshape(len(labels), res, res, 2) * 2 - 1).to(front_rgb.dtype)
    card = torch.cat([front_rgb - 1, front_alpha])[None].expand(len(labels), -1, -1, -1)
    seen = F.grid_sample(card, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    seen = seen * hits.reshape(len(labels), 1, res, res)
    return seen[:, :3] + 1, seen[:, 3:]
