"""One similarity transform per character, fitted on the front view and applied to every view.

reconstruct reframes a user's drawing (training/data/preprocess.py), so a model's views are not in
the true views' frame; a user comparing them lines the two up by eye on the front view and then
judges every other view with that same alignment. Here: the predicted character is moved by ONE world
similarity p -> scale * p + shift (scale about the world origin, shift in the front view's image
plane, i.e. the x-y plane), found on the front view from the silhouettes (alpha > 0.5):

- scale: true silhouette height / predicted silhouette height (bounding-box rows);
- shift: the predicted feet (bottom edge of the silhouette's bounding box) onto the true feet, and
  the predicted horizontal centre (centre of the bounding box, as the framing rule centres it) onto
  the true one.

Each view sees that similarity as a 2D map of its image: scale about the image point of the world
origin plus the shift's projection on the view's right and down axes, in pixels per world unit at the
origin. Exact for orthographic views (front, back, left, right); for the perspective ring it is the
weak-perspective approximation (every point magnified as the origin's depth is): a point off by its
depth from the origin over the camera distance of how far the similarity moves it (body preset: 0.3 /
3.5, about 9 %; under a pixel at 96 px for a 0.8 scale and a 0.15-unit shift). So the fit changes
nothing that the front view cannot see: a side view that is too wide or too deep stays wrong, and a
sideways offset of the front view moves the back view the other way and the side views not at all,
as the 3D offset would.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from training.geometry.camera import is_ortho, project, split_label

SILHOUETTE_ALPHA = 0.5  # alpha above which a pixel is in the silhouette (preprocess's ALPHA_FOREGROUND)


@dataclass(frozen=True)
class Similarity:
    """The world similarity p -> scale * p + shift that moves the prediction onto the truth."""

    scale: float
    shift: tuple[float, float, float]


IDENTITY = Similarity(1.0, (0.0, 0.0, 0.0))


@dataclass(frozen=True)
class Anchors:
    """A silhouette's bounding box in continuous pixel coordinates (pixel i covers [i, i + 1])."""

    height: float
    feet: float
    """The bottom edge (largest row + 1)."""
    centre: float
    """The horizontal centre of the bounding box."""


def silhouette(alpha: torch.Tensor) -> torch.Tensor:
    """Boolean silhouette of alpha in [0, 1] (any shape)."""
    return alpha > SILHOUETTE_ALPHA


def anchors(mask: torch.Tensor) -> Anchors | None:
    """The anchors of a boolean (H, W) silhouette; None when it is empty."""
    rows, cols = torch.nonzero(mask, as_tuple=True)
    if len(rows) == 0:
        return None
    top, bottom = rows.min().item(), rows.max().item() + 1
    return Anchors(height=float(bottom - top), feet=float(bottom),
                   centre=(cols.min().item() + cols.max().item() + 1) / 2)


@dataclass(frozen=True)
class ViewGeometry:
    """How one camera (at res pixels per side) images the world near the origin."""

    origin: torch.Tensor
    """(2,) pixel coordinates (u, v) of the world origin."""
    pixels_per_unit: float
    """Magnification at the origin's depth."""
    right: torch.Tensor
    """(3,) world direction of the image's +u axis."""
    down: torch.Tensor
    """(3,) world direction of the image's +v axis."""


def view_geometry(label: torch.Tensor, res: int) -> ViewGeometry:
    """The ViewGeometry of a 25-float camera label at res x res pixels."""
    label = label.double()
    cam2world, intr = split_label(label)
    uv, depth = project(torch.zeros(1, 1, 3, dtype=torch.float32), label.float()[None])
    focal = intr[0, 0].abs().item() * res
    magnification = focal if bool(is_ortho(label)) else focal / depth[0, 0].item()
    return ViewGeometry(origin=uv[0, 0].double() * res, pixels_per_unit=magnification,
                        right=cam2world[:3, 0], down=cam2world[:3, 1])


def image_map(sim: Similarity, view: ViewGeometry) -> tuple[float, torch.Tensor]:
    """(scale, offset (2,)): the view's image of sim, pixel (u, v) -> scale * (u, v) + offset."""
    shift = torch.tensor(sim.shift, dtype=torch.float64)
    moved = view.pixels_per_unit * torch.stack([shift @ view.right, shift @ view.down])
    return sim.scale, view.origin * (1 - sim.scale) + moved


def fit_front(pred_alpha: torch.Tensor, true_alpha: torch.Tensor, front_label: torch.Tensor) -> Similarity | None:
    """The similarity that puts the predicted front silhouette's height, feet and horizontal centre on
    the true one's (alphas (H, W) at one resolution); None when either silhouette is empty."""
    pred, true = anchors(silhouette(pred_alpha)), anchors(silhouette(true_alpha))
    if pred is None or true is None:
        return None
    view = view_geometry(front_label, pred_alpha.shape[-1])
    scale = true.height / pred.height
    target = torch.tensor([true.centre, true.feet], dtype=torch.float64)
    source = torch.tensor([pred.centre, pred.feet], dtype=torch.float64)
    du, dv = (target - view.origin - scale * (source - view.origin)) / view.pixels_per_unit
    shift = du * view.right + dv * view.down
    return Similarity(scale, tuple(float(x) for x in shift))


def warp_views(rgb: torch.Tensor, alpha: torch.Tensor, labels: torch.Tensor, sim: Similarity) -> tuple[torch.Tensor, torch.Tensor]:
    """Views (V, 3, R, R) on white and their alpha (V, 1, R, R) moved by sim (each view by its own
    image_map, bilinear); what comes in from outside the frame is white and transparent."""
    if sim == IDENTITY:
        return rgb, alpha
    res = rgb.shape[-1]
    centres = torch.arange(res, dtype=torch.float64) + 0.5
    grids = []
    for label in labels:
        scale, offset = image_map(sim, view_geometry(label, res))
        u = (centres - offset[0]) / scale  # the source pixel each output pixel centre samples
        v = (centres - offset[1]) / scale
        gv, gu = torch.meshgrid(2 * v / res - 1, 2 * u / res - 1, indexing="ij")
        grids.append(torch.stack([gu, gv], -1))
    stacked = torch.cat([rgb - 1, alpha], 1)  # zeros outside = white, transparent
    moved = F.grid_sample(stacked, torch.stack(grids).to(rgb.dtype), mode="bilinear", padding_mode="zeros",
                          align_corners=False)
    return moved[:, :3] + 1, moved[:, 3:]
