"""conv2d / conv_transpose2d for the StyleGAN2 layers, where R1 takes gradients of gradients.

EG3D shipped custom autograd functions here because the PyTorch of its time could not differentiate
conv2d twice in all cases. Current PyTorch can (tests/test_ops_gradfix.py runs gradgradcheck on both
ops, w.r.t. input and weight, with stride, padding, dilation and groups), so these call PyTorch.

EG3D's ``no_weight_gradients()`` context is deliberately absent: it stopped the first-order R1 gradient
from computing weight gradients, but ``torch.autograd.grad(outputs, inputs=[images])`` already computes
only what lies on the path to the requested inputs (convolution_backward runs with the weight gradient
masked off; the same test checks this), so the context would change nothing.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

Ints = int | Sequence[int]


def conv2d(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride: Ints = 1,
           padding: Ints = 0, dilation: Ints = 1, groups: int = 1) -> torch.Tensor:
    """``torch.nn.functional.conv2d``, which has double backward."""
    return F.conv2d(input, weight, bias, stride, padding, dilation, groups)


def conv_transpose2d(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride: Ints = 1,
                     padding: Ints = 0, output_padding: Ints = 0, groups: int = 1, dilation: Ints = 1) -> torch.Tensor:
    """``torch.nn.functional.conv_transpose2d``, which has double backward."""
    return F.conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups, dilation)
