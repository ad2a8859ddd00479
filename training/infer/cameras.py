"""Camera sets for inference: the ortho views, the 12-view spin and turntables of a data preset.

Takes a data preset (its framing and camera rules); gives named cameras (ViewSet: file stems and
25-float labels) that training/infer/render.py renders.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from training.data.layout import RECON_VIEWS, SPIN_INDICES, DataPreset
from training.model.carving import Silhouettes


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


def drawing_silhouettes(preset: DataPreset, alpha_front: torch.Tensor, alpha_back: torch.Tensor) -> Silhouettes:
    """The two drawings' silhouettes with their cameras, the preset's ortho front and back views (the
    drawings are framed as those views render): alpha (1, S, S) for one character or (N, 1, S, S)."""
    alpha = torch.stack([a if a.ndim == 4 else a[None] for a in (alpha_front, alpha_back)], 1)
    labels = torch.stack([preset.ortho_params(v).label() for v in ("front", "back")])
    return Silhouettes(alpha=alpha.float(), labels=labels.expand(len(alpha), 2, labels.shape[-1]))
