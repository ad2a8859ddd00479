"""Rendering one character from many cameras: the one renderer behind generate, reconstruct, measure
and the training sample grids.

Takes a generator, one character's planes (``make_character_planes``, made once per character) and
camera labels (training/infer/cameras.py); gives batches of rendered views (``RenderedViews``): float
images, alpha and surface points, and their 8-bit forms as files store them. Everything is
deterministic: the mapping network's mean latent, noise 'const', and the renderer in eval mode (fixed,
unjittered samples along each ray), so two runs give the same pixels.

Output size: the neural render runs at neural_resolution * size / img_resolution (at most
neural_resolution) rays per side, the super-resolution network brings it to img_resolution and the
result is resized to the requested size; so small previews cost proportionally fewer rays and the
default size (img_resolution) renders exactly what the model was trained to produce.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from training.model.triplane import NovaGenerator, Planes


@torch.no_grad()
def make_character_planes(G: NovaGenerator, cond_front: torch.Tensor, cond_back: torch.Tensor,
                          feat_front: torch.Tensor | None = None, feat_back: torch.Tensor | None = None) -> Planes:
    """Planes of one character (condition images (3, S, S) or (1, 3, S, S) in [-1, 1] on white), or of N
    characters in one backbone call (N, 3, S, S): render_views takes one character's slice of them."""
    device = next(G.parameters()).device

    def batch(x: torch.Tensor | None) -> torch.Tensor | None:
        return None if x is None else (x if x.ndim == 4 else x[None]).to(device, torch.float32)

    front = batch(cond_front)
    return G.make_planes(front, batch(cond_back), G.mean_ws(len(front)), batch(feat_front), batch(feat_back),
                         noise_mode="const")


def neural_size(G: NovaGenerator, size: int) -> int:
    """Rays per side of the neural render for an output of size x size (module docstring)."""
    img = G.cfg.sr.img_resolution
    return max(1, min(G.cfg.neural_resolution, math.ceil(G.cfg.neural_resolution * size / img)))


def _resize(x: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    if x.shape[-1] == size:
        return x
    if mode == "nearest":
        return F.interpolate(x, size=(size, size), mode="nearest")
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=x.shape[-1] > size)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(b, C, H, W) in [0, 1] -> (b, H, W, C) uint8."""
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


@dataclass
class RenderedViews:
    """A batch of b rendered views of one character, on the render device.

    ``image`` is what the metrics compare; ``alpha`` and ``xyz`` are the neural render's, unresized
    (the geometry metrics' surface points); ``rgb`` and ``xyza`` are the 8-bit images files store.
    """

    image: torch.Tensor
    """(b, 3, size, size) in [0, 1]: the super-resolved image, resized to the requested size."""
    alpha: torch.Tensor
    """(b, 1, r, r) accumulated alpha at the neural render's r rays per side."""
    xyz: torch.Tensor
    """(b, 3, r, r) the expected surface point of each ray, in world units."""
    box_warp: float
    """The box width that the xyza encoding divides by."""

    @cached_property
    def rgb(self) -> np.ndarray:
        """(b, size, size, 3) uint8."""
        return to_uint8(self.image)

    @cached_property
    def xyza(self) -> np.ndarray:
        """(b, size, size, 4) uint8 in the dataset's encoding: RGB = (p + box_warp/2) / box_warp of the
        surface point (nearest resize), A = alpha (bilinear resize)."""
        size = self.image.shape[-1]
        xyz = _resize((self.xyz + self.box_warp / 2) / self.box_warp, size, "nearest")
        return to_uint8(torch.cat([xyz, _resize(self.alpha, size, "bilinear")], 1))


@torch.no_grad()
def render_views(G: NovaGenerator, planes: Planes, labels: torch.Tensor, size: int | None = None,
                 batch: int = 4) -> Iterator[RenderedViews]:
    """Render planes of ONE character from labels (V, 25), batch cameras per call, at size x size
    (default: the model's image resolution); yields RenderedViews in label order."""
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    device = planes.front.device
    size = size or G.cfg.sr.img_resolution
    rays = neural_size(G, size)
    for start in range(0, len(labels), batch):
        lab = labels[start:start + batch].to(device)
        b = len(lab)
        expanded = Planes(*(None if p is None else p.expand(b, *p.shape[1:])
                            for p in (planes.front, planes.back, planes.ws)))
        out = G.render(expanded, lab, resolution=rays, noise_mode="const")
        image = _resize(out.image.float(), size, "bilinear")
        yield RenderedViews(image=(image + 1) / 2, alpha=out.alpha.float(), xyz=out.xyz.float(),
                            box_warp=G.cfg.box_warp)
