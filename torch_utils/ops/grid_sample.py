"""Bilinear grid sampling whose gradients (w.r.t. the input and the grid) can be differentiated again.

EG3D needed a custom op because the PyTorch of its time had no double backward for grid_sample.
PyTorch 2.13 has it (GridSampler2DBackwardBackward): gradgradcheck passes w.r.t. both input and grid
for every 2-D mode, padding mode and align_corners, and for bilinear 3-D sampling; tests/test_ops_gradfix.py
checks the configuration used here, values and both orders of gradients, against an independent
gather-based formulation. So this calls PyTorch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def grid_sample(input: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Sample ``input`` [N, C, H, W] at ``grid`` [N, Ho, Wo, 2] (x, y in [-1, 1]): bilinear, zeros
    outside, align_corners=False (pixel centres at (2i + 1) / size - 1)."""
    return F.grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
