"""Bilinear grid sampling whose gradients (w.r.t. the input and the grid) can be differentiated again.

EG3D needed a custom op because PyTorch had no double backward for grid_sample. What we measured:
torch 2.13 (CPU build) has it (GridSampler2DBackwardBackward; gradgradcheck passes w.r.t. input and
grid for every 2-D mode, padding mode and align_corners, and for bilinear 3-D), while torch 2.11+cu130
raises "derivative for aten::grid_sampler_2d_backward is not implemented". environment.yaml allows
pytorch>=2.4, so ``grid_sample`` calls PyTorch where a one-time probe finds the double backward, and
otherwise a formulation from four gathers, which autograd differentiates to any order (slower, more
memory: it keeps the corner indices and weights).
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F


def grid_sample(input: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Sample ``input`` [N, C, H, W] at ``grid`` [N, Ho, Wo, 2] (x, y in [-1, 1]): bilinear, zeros
    outside, align_corners=False (pixel centres at (2i + 1) / size - 1)."""
    if native_double_backward():
        return F.grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return gather_grid_sample(input, grid)


@functools.cache
def native_double_backward() -> bool:
    """Whether this torch can differentiate grid_sample's gradient (w.r.t. input and grid) again."""
    with torch.enable_grad():
        x = torch.ones(1, 1, 2, 2, dtype=torch.float64, requires_grad=True)
        grid = torch.full((1, 1, 1, 2), 0.1, dtype=torch.float64, requires_grad=True)
        y = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        dx, dgrid = torch.autograd.grad(y.sum(), [x, grid], create_graph=True)
        try:
            torch.autograd.grad((dx.sum() + dgrid.sum()), [x, grid], allow_unused=True)
        except RuntimeError:
            return False
    return True


def gather_grid_sample(input: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """``grid_sample`` written with gathers of the four corners: differentiable to any order."""
    n, c, h, w = input.shape
    grid = grid.to(torch.promote_types(grid.dtype, torch.float32))  # coordinates in bf16 would land in wrong cells
    ix = ((grid[..., 0] + 1) * w - 1) / 2  # pixel coordinates, centres at integers
    iy = ((grid[..., 1] + 1) * h - 1) / 2
    x0, y0 = ix.floor().detach(), iy.floor().detach()
    flat = input.reshape(n, c, h * w)
    out = grid.new_zeros(n, c, *ix.shape[1:])
    for cx, wx in ((x0, x0 + 1 - ix), (x0 + 1, ix - x0)):
        for cy, wy in ((y0, y0 + 1 - iy), (y0 + 1, iy - y0)):
            inside = (cx >= 0) & (cx <= w - 1) & (cy >= 0) & (cy <= h - 1)
            index = (cy.clamp(0, h - 1) * w + cx.clamp(0, w - 1)).long().reshape(n, 1, -1).expand(n, c, -1)
            corner = flat.gather(2, index).reshape(out.shape)
            out = out + corner * (wx * wy * inside)[:, None]
    return out.to(input.dtype)
