"""Alpha compositing of field samples along rays (emission-absorption model, as EG3D).

Conventions, shared with the renderer:
- density = softplus(sigma - 1), EG3D's activation of the decoder's raw sigma (the shift starts a
  fresh network nearly empty);
- each sample stands for the stretch of ray between the midpoints to its neighbours; the first
  stretch starts at the ray's t_start and the last ends at its t_end, so the stretches tile the
  sampled interval exactly (no infinite last delta as in NeRF, no averaging of neighbours into
  S - 1 intervals as in EG3D's marcher), and a constant density d over a chord of length L gives
  alpha = 1 - exp(-d L) up to half a sample spacing at each end of the chord;
- depth is the expected depth of what the ray hit, normalised by the accumulated alpha (EG3D's
  definition: where the visible matter is, even when it is faint); a ray that hit nothing gets the
  far plane. Both are one formula, (sum w t + eps far) / (sum w + eps), smooth and free of 0 / 0;
- with a white background every feature channel is composited onto +1. Features live in [-1, 1]
  (the first 3 channels are the raw RGB), so the raw image is white where nothing was hit and the
  super-resolution network sees one constant background in every channel, as EG3D's (which
  composited all its channels onto 1 in [0, 1] before mapping them to [-1, 1]).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

DEPTH_EPS = 1e-6  # accumulated alpha below this lets the depth fall back to the far plane


def density_from_sigma(sigma: torch.Tensor) -> torch.Tensor:
    """EG3D's density activation; very negative sigma gives exactly zero density."""
    return F.softplus(sigma - 1.0)


def segment_lengths(t: torch.Tensor, t_start: torch.Tensor, t_end: torch.Tensor) -> torch.Tensor:
    """Length (..., S) of the stretch each sorted sample t (..., S) stands for within [t_start, t_end]."""
    bounds = torch.cat([t_start, (t[..., 1:] + t[..., :-1]) / 2, t_end], -1)
    return bounds.diff(dim=-1)


def compositing_weights(density: torch.Tensor, deltas: torch.Tensor) -> torch.Tensor:
    """w_i = T_i (1 - exp(-d_i delta_i)) with transmittance T_i = exp(-sum_{j<i} d_j delta_j), all (..., S).

    Transmittance is summed in log space, so it is exact where a product of (1 - alpha) would round.
    """
    optical_depth = density * deltas
    before = F.pad(optical_depth.cumsum(-1)[..., :-1], (1, 0))
    return torch.exp(-before) * -torch.expm1(-optical_depth)


@dataclass
class Composite:
    """Per-ray results: features (..., F) on the background, depth and alpha (..., 1), weights (..., S)."""

    features: torch.Tensor
    depth: torch.Tensor
    alpha: torch.Tensor
    weights: torch.Tensor


class RayMarcher(torch.nn.Module):
    """Composites sorted samples of each ray into a feature vector, a depth and an alpha."""

    def __init__(self, white_background: bool = True):
        super().__init__()
        self.white_background = white_background

    def forward(self, sigma: torch.Tensor, features: torch.Tensor, t: torch.Tensor, t_start: torch.Tensor,
                t_end: torch.Tensor, far: torch.Tensor) -> Composite:
        """sigma (..., S, 1) raw, features (..., S, F), t (..., S) sorted; t_start, t_end, far (..., 1)."""
        weights = compositing_weights(density_from_sigma(sigma[..., 0]), segment_lengths(t, t_start, t_end))
        alpha = weights.sum(-1, keepdim=True)
        composited = (weights[..., None] * features).sum(-2)
        if self.white_background:
            composited = composited + (1.0 - alpha)
        depth = ((weights * t).sum(-1, keepdim=True) + DEPTH_EPS * far) / (alpha + DEPTH_EPS)
        return Composite(features=composited, depth=depth, alpha=alpha, weights=weights)
