"""Where along each ray the field is queried.

Depths t are distances along unit ray directions from the ray origin. All functions work on any
leading shape (usually (B, P) = batch x rays) and keep the samples of every ray sorted.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def stratum_offsets(shape: tuple[int, ...], jitter: bool, device: torch.device | str = "cpu") -> torch.Tensor:
    """Where each sample sits inside its stratum, in [0, 1): the middle (0.5) or uniformly jittered.

    Drawn once per render for all rays, so that chunked and unchunked renders see the same numbers.
    """
    if jitter:
        return torch.rand(shape, device=device)
    return torch.full(shape, 0.5, device=device)


def stratified_samples(t_start: torch.Tensor, t_end: torch.Tensor,
                       offsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """n equal bins between t_start and t_end (..., 1), one sample per bin at its offset (..., n).

    Returns the bin edges (..., n + 1) and the samples (..., n).
    """
    n = offsets.shape[-1]
    steps = torch.linspace(0.0, 1.0, n + 1, device=t_start.device, dtype=t_start.dtype)
    edges = t_start + (t_end - t_start) * steps
    samples = edges[..., :-1] + (edges[..., 1:] - edges[..., :-1]) * offsets
    return edges, samples


def blur_weights(weights: torch.Tensor, padding: float) -> torch.Tensor:
    """Widen coarse weights before importance sampling (..., n) -> (..., n).

    A surface lies somewhere between the last empty sample and the first opaque one, which may be
    the bin before the first bin with weight, so each bin takes the largest weight of itself and its
    two neighbours. The constant padding keeps every bin possible, so a thin structure the coarse
    samples missed can still be found and the CDF never has a zero-width step.
    """
    dilated = F.pad(weights, (1, 1)).unfold(-1, 3, 1).amax(-1)
    return dilated + padding


def importance_samples(edges: torch.Tensor, weights: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF samples (..., m) from the piecewise-constant density given by bin weights.

    edges (..., n + 1) bound n bins with non-negative weights (..., n) that must not all be zero;
    offsets (..., m) place one sample in each of m equal strata of the CDF (0.5 = deterministic).
    The samples come out sorted and carry no gradient.
    """
    weights, edges = weights.detach(), edges.detach()
    m = offsets.shape[-1]
    cumulative = weights.cumsum(-1)
    cdf = F.pad(cumulative / cumulative[..., -1:], (1, 0))  # (..., n + 1), from 0 to exactly 1
    u = (torch.arange(m, device=offsets.device, dtype=cdf.dtype) + offsets) / m
    upper = torch.searchsorted(cdf.contiguous(), u.contiguous(), right=True).clamp(1, cdf.shape[-1] - 1)
    lower = upper - 1
    cdf_lo, cdf_hi = cdf.gather(-1, lower), cdf.gather(-1, upper)
    edge_lo, edge_hi = edges.gather(-1, lower), edges.gather(-1, upper)
    fraction = ((u - cdf_lo) / (cdf_hi - cdf_lo).clamp_min(1e-12)).clamp(0.0, 1.0)
    return edge_lo + fraction * (edge_hi - edge_lo)


def intersect_box(origins: torch.Tensor, directions: torch.Tensor,
                  half_width: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Entry and exit depths (..., 1) of rays through the cube [-half_width, half_width]^3.

    A ray that misses gets entry > exit. Direction components of zero are nudged to a tiny value of
    the same sign, so axis-aligned rays (the orthographic views) need no special case.
    """
    tiny = 1e-9
    safe = torch.where(directions.abs() < tiny, torch.full_like(directions, tiny).copysign(directions), directions)
    t_low, t_high = (-half_width - origins) / safe, (half_width - origins) / safe
    entry = torch.minimum(t_low, t_high).amax(-1, keepdim=True)
    exit_ = torch.maximum(t_low, t_high).amin(-1, keepdim=True)
    return entry, exit_
