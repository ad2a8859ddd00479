"""Rendering one character from many cameras: ortho views, the 12-view spin, turntables, videos.

The planes are made once per character (``make_character_planes``) and rendered from batches of
cameras. Everything is deterministic: the mapping network's mean latent, noise 'const', and the
renderer in eval mode (fixed, unjittered samples along each ray), so two runs give the same pixels.

Output size: the neural render runs at neural_resolution * size / img_resolution (at most
neural_resolution) rays per side, the super-resolution network brings it to img_resolution and the
result is resized to the requested size; so small previews cost proportionally fewer rays and the
default size (img_resolution) renders exactly what the model was trained to produce.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import imageio.v2 as imageio
import numpy as np
import torch
import torch.nn.functional as F

from training.data.layout import RECON_VIEWS, SPIN_INDICES, DataPreset
from training.model.triplane import NovaGenerator, Planes


@dataclass
class ViewSet:
    """Named cameras: names[i] is the file stem of the view with label labels[i] (25 floats)."""

    names: list[str]
    labels: torch.Tensor


def ortho_views(preset: DataPreset) -> ViewSet:
    """The four ortho views (front, back, left, right) as the dataset renders them."""
    labels = torch.stack([preset.ortho_params(v).label() for v in RECON_VIEWS])
    return ViewSet([f"ortho_{v}" for v in RECON_VIEWS], labels)


def spin_views(preset: DataPreset) -> ViewSet:
    """The 12-view spin: the evaluation grid's elevation-0 row (perspective, azimuth -180, -150, ..., 150),
    the views the '360' metric compares; spin_00 is grid view 36."""
    return ViewSet([f"spin_{i:02d}" for i in range(len(SPIN_INDICES))],
                   torch.stack([preset.grid_params(k).label() for k in SPIN_INDICES]))


def turntable_views(preset: DataPreset, frames: int, elev: float = 0.0) -> ViewSet:
    """frames perspective cameras at one elevation, starting at the front and turning towards the
    character's left (azimuth 360 k / frames), so the video loops seamlessly."""
    if frames < 1:
        raise ValueError(f"a turntable needs at least one frame, got {frames}")
    labels = torch.stack([preset.params(elev, 360.0 * k / frames).label() for k in range(frames)])
    return ViewSet([f"turntable_{k:04d}" for k in range(frames)], labels)


@torch.no_grad()
def make_character_planes(G: NovaGenerator, cond_front: torch.Tensor, cond_back: torch.Tensor,
                          feat_front: torch.Tensor | None = None, feat_back: torch.Tensor | None = None) -> Planes:
    """Planes of one character (condition images (3, S, S) or (1, 3, S, S) in [-1, 1] on white)."""
    device = next(G.parameters()).device

    def batch(x: torch.Tensor | None) -> torch.Tensor | None:
        return None if x is None else (x if x.ndim == 4 else x[None]).to(device, torch.float32)

    return G.make_planes(batch(cond_front), batch(cond_back), G.mean_ws(1), batch(feat_front), batch(feat_back),
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


@dataclass
class Frames:
    """A batch of rendered views: rgb (b, H, W, 3) uint8; xyza (b, H, W, 4) uint8 in the dataset's
    encoding (RGB = (p + box_warp/2) / box_warp of the expected surface point, A = accumulated alpha)."""

    rgb: np.ndarray
    xyza: np.ndarray


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """(b, C, H, W) in [0, 1] -> (b, H, W, C) uint8."""
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


@torch.no_grad()
def render_views(G: NovaGenerator, planes: Planes, labels: torch.Tensor, size: int, batch: int = 4) -> Iterator[Frames]:
    """Render planes of ONE character from labels (V, 25), batch cameras per call; yields Frames in order."""
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    device = planes.front.device
    rays = neural_size(G, size)
    box = G.cfg.box_warp
    for start in range(0, len(labels), batch):
        lab = labels[start:start + batch].to(device)
        b = len(lab)
        expanded = Planes(planes.front.expand(b, *planes.front.shape[1:]),
                          None if planes.back is None else planes.back.expand(b, *planes.back.shape[1:]),
                          planes.ws.expand(b, *planes.ws.shape[1:]))
        out = G.render(expanded, lab, resolution=rays, noise_mode="const")
        rgb = _resize(out.image.float(), size, "bilinear")
        xyz = _resize(((out.xyz.float() + box / 2) / box), size, "nearest")
        alpha = _resize(out.alpha.float(), size, "bilinear")
        yield Frames(rgb=_to_uint8((rgb + 1) / 2), xyza=_to_uint8(torch.cat([xyz, alpha], 1)))


def write_video(frames: Iterable[np.ndarray], paths: list[Path], fps: float = 30.0) -> int:
    """Stream uint8 frames (H, W, 3) into every path (.mp4 via imageio-ffmpeg / libx264, .gif looping
    forever); returns the number of frames written. Frames are consumed as they come: the mp4 encoder
    streams them to disk (only the gif writer keeps its frames until it closes)."""
    writers = []
    try:
        for path in paths:
            suffix = Path(path).suffix.lower()
            if suffix == ".mp4":
                writers.append(imageio.get_writer(path, fps=fps, codec="libx264", quality=8, macro_block_size=2,
                                                  ffmpeg_log_level="error"))
            elif suffix == ".gif":
                writers.append(imageio.get_writer(path, mode="I", duration=round(1000 / fps), loop=0))
            else:
                raise ValueError(f"{path}: unknown video format (use .mp4 or .gif)")
        count = 0
        for frame in frames:
            for w in writers:
                w.append_data(frame)
            count += 1
        return count
    finally:
        for w in writers:
            w.close()
