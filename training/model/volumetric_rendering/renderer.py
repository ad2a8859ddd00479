"""Volume rendering of a radiance field seen through the project's cameras (training/geometry/camera.py).

The renderer knows nothing about tri-planes: it takes a field callable
``field(points (B, N, 3), directions (B, N, 3)) -> (sigma (B, N, 1), features (B, N, F))`` in world
coordinates. Per ray it takes n_coarse stratified samples, then n_fine importance samples drawn from
the coarse weights, evaluates both, and composites them together (EG3D's two-pass scheme, with one
field instead of a coarse and a fine network).

Near and far: depths t are distances along the unit ray direction from the ray origin. Perspective
rays start at the camera; orthographic rays start on the plane through the camera position (as
camera.ray_bundle defines them), so the preset's near/far (dist -+ box half-diagonal) mean the same
for both. With clip_to_box, each ray's [near, far] is tightened to the part inside the box
[-box_warp/2, box_warp/2]^3, where the tri-planes are defined, so every sample lands where there is
something to see; rays that miss the box are given an empty interval at far and render background.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import torch
from torch.utils.checkpoint import checkpoint

from training.geometry.camera import ray_bundle
from training.model.volumetric_rendering.ray_marcher import (Composite, RayMarcher, compositing_weights,
                                                       density_from_sigma, segment_lengths)
from training.model.volumetric_rendering.ray_samplers import (blur_weights, importance_samples, intersect_box,
                                                        stratified_samples, stratum_offsets)

Field = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class RenderConfig:
    """box_warp: width of the cube the field lives in (the preset's). 48 + 48 samples train, 96 + 96 infer."""

    box_warp: float
    n_coarse: int = 48
    n_fine: int = 48
    white_background: bool = True
    clip_to_box: bool = True
    importance_padding: float = 0.01  # weight floor per coarse bin before importance sampling
    chunk: int | None = None  # rays per batch element per field call; None: all at once
    recompute: bool = False  # with gradients on, keep only each chunk's rays and recompute its samples, field
    # and compositing in backward (torch.utils.checkpoint): the render's activations shrink to one chunk's at the
    # cost of a second forward pass through the field; off when the rays fit in one chunk (nothing to save)

    def __post_init__(self):
        if self.n_coarse < 1 or self.n_fine < 0:
            raise ValueError(f"need n_coarse >= 1 and n_fine >= 0, got {self.n_coarse} and {self.n_fine}")
        if self.n_fine and self.importance_padding <= 0:
            raise ValueError("importance_padding must be > 0: an empty ray's coarse weights are all zero")


@dataclass
class RenderOutput:
    """Images (B, C, R, R): composited features (first 3 = raw RGB in [-1, 1]), depth along the ray,
    accumulated alpha, and xyz = the world point at that depth. With return_samples, the sorted
    sample depths and their compositing weights per ray (B, R*R, n_coarse + n_fine), rays row-major."""

    features: torch.Tensor
    depth: torch.Tensor
    alpha: torch.Tensor
    xyz: torch.Tensor
    sample_depths: torch.Tensor | None = None
    sample_weights: torch.Tensor | None = None

    @property
    def rgb(self) -> torch.Tensor:
        return self.features[:, :3]


class VolumeRenderer(torch.nn.Module):
    """Renders a field for a batch of camera labels; jittered samples in training mode, fixed in eval."""

    def __init__(self, cfg: RenderConfig):
        super().__init__()
        self.cfg = cfg
        self.marcher = RayMarcher(white_background=cfg.white_background)

    def forward(self, field: Field, labels: torch.Tensor, resolution: int, near: float | torch.Tensor,
                far: float | torch.Tensor, return_samples: bool = False) -> RenderOutput:
        """labels (B, 25); near/far: floats or per-sample tensors (B,)."""
        origins, directions = ray_bundle(labels, resolution)
        composite, depths = self.render_rays(field, origins, directions, near, far, return_samples=return_samples)
        batch = origins.shape[0]
        xyz = origins + directions * composite.depth

        def image(x: torch.Tensor) -> torch.Tensor:
            return x.transpose(1, 2).reshape(batch, -1, resolution, resolution)

        return RenderOutput(features=image(composite.features), depth=image(composite.depth),
                            alpha=image(composite.alpha), xyz=image(xyz),
                            sample_depths=depths,
                            sample_weights=composite.weights if return_samples else None)

    def render_rays(self, field: Field, origins: torch.Tensor, directions: torch.Tensor,
                    near: float | torch.Tensor, far: float | torch.Tensor,
                    jitter: bool | None = None, return_samples: bool = False) -> tuple[Composite, torch.Tensor | None]:
        """Any rays, not only an image's: origins and unit directions (B, P, 3), near/far floats or (B,).

        Returns:
            the composite per ray (features (B, P, F), depth, alpha (B, P, 1), weights (B, P, S)) and, with
            return_samples, the sorted sample depths (B, P, S), else None. jitter: sample positions jittered
            inside their strata (default: in training mode)."""
        jitter = self.training if jitter is None else jitter
        batch, n_rays = origins.shape[:2]
        near, far = (torch.as_tensor(v, dtype=origins.dtype, device=origins.device).reshape(-1, 1, 1)
                     .expand(batch, n_rays, 1) for v in (near, far))
        offsets_coarse = stratum_offsets((batch, n_rays, self.cfg.n_coarse), jitter, origins.device)
        offsets_fine = stratum_offsets((batch, n_rays, self.cfg.n_fine), jitter, origins.device)
        rays = (origins, directions, near, far, offsets_coarse, offsets_fine)
        step = self.cfg.chunk or n_rays
        render = self._render_rays
        if self.cfg.recompute and torch.is_grad_enabled() and step < n_rays:
            render = partial(checkpoint, self._render_rays, use_reentrant=False)
        parts = [render(field, *(x[:, i:i + step] for x in rays)) for i in range(0, n_rays, step)]
        if len(parts) == 1:
            composite, depths = parts[0]
        else:
            composite = Composite(*(torch.cat([getattr(c, name) for c, _ in parts], 1)
                                    for name in ("features", "depth", "alpha", "weights")))
            depths = torch.cat([t for _, t in parts], 1) if return_samples else None
        return composite, depths if return_samples else None

    def _render_rays(self, field: Field, origins: torch.Tensor, directions: torch.Tensor, near: torch.Tensor,
                     far: torch.Tensor, offsets_coarse: torch.Tensor,
                     offsets_fine: torch.Tensor) -> tuple[Composite, torch.Tensor]:
        """One chunk of rays (B, P, ...) -> its composite and its sorted sample depths (B, P, S)."""
        t_start, t_end = self._interval(origins, directions, near, far)
        edges, t = stratified_samples(t_start, t_end, offsets_coarse)
        sigma, features = self._query(field, origins, directions, t)
        if self.cfg.n_fine > 0:
            coarse = compositing_weights(density_from_sigma(sigma[..., 0]), segment_lengths(t, t_start, t_end))
            t_fine = importance_samples(edges, blur_weights(coarse, self.cfg.importance_padding), offsets_fine)
            sigma_fine, features_fine = self._query(field, origins, directions, t_fine)
            t, order = torch.sort(torch.cat([t, t_fine], -1), -1)
            sigma = torch.cat([sigma, sigma_fine], -2).gather(-2, order[..., None])
            features = torch.cat([features, features_fine], -2)
            features = features.gather(-2, order[..., None].expand(*order.shape, features.shape[-1]))
        return self.marcher(sigma, features, t, t_start, t_end, far), t

    def _interval(self, origins: torch.Tensor, directions: torch.Tensor, near: torch.Tensor,
                  far: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-ray [t_start, t_end] (B, P, 1): [near, far], tightened to the box when clip_to_box."""
        if not self.cfg.clip_to_box:
            return near, far
        entry, exit_ = intersect_box(origins, directions, self.cfg.box_warp / 2)
        start, end = torch.maximum(near, entry), torch.minimum(far, exit_)
        miss = start >= end
        return torch.where(miss, far, start), torch.where(miss, far, end)

    @staticmethod
    def _query(field: Field, origins: torch.Tensor, directions: torch.Tensor,
               t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Evaluate the field at depths t (B, P, S) -> sigma (B, P, S, 1), features (B, P, S, F)."""
        batch, n_rays, n_samples = t.shape
        points = origins[..., None, :] + directions[..., None, :] * t[..., None]
        sigma, features = field(points.reshape(batch, -1, 3),
                                directions[..., None, :].expand_as(points).reshape(batch, -1, 3))
        return sigma.reshape(batch, n_rays, n_samples, 1), features.reshape(batch, n_rays, n_samples, -1)
