"""Fused bias + activation + gain + clamp, the nonlinearity of every StyleGAN2 layer.

``y = clamp(act(x + b) * gain, -clamp, clamp)``. The CUDA path does it in one pass and computes the
first and second derivatives (R1 needs gradients of gradients) with the same kernel; the reference
path is plain PyTorch and autograd differentiates it. Both take the same arguments.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import Callable

import torch
import torch.nn.functional as F

from torch_utils.custom_ops import resolve_impl


@dataclass(frozen=True)
class Activation:
    code: int  # nova_bias_act::Act in bias_act.h
    alpha: float  # default alpha (lrelu slope, elu scale)
    gain: float  # default gain: sqrt(2) keeps the variance of relu-like outputs
    ref: Callable[[torch.Tensor, float], torch.Tensor]


ACTIVATIONS: dict[str, Activation] = {
    "linear": Activation(0, 0.0, 1.0, lambda x, _: x),
    "relu": Activation(1, 0.0, math.sqrt(2), lambda x, _: F.relu(x)),
    "lrelu": Activation(2, 0.2, math.sqrt(2), lambda x, a: F.leaky_relu(x, a)),
    "tanh": Activation(3, 0.0, 1.0, lambda x, _: torch.tanh(x)),
    "sigmoid": Activation(4, 0.0, 1.0, lambda x, _: torch.sigmoid(x)),
    "elu": Activation(5, 1.0, 1.0, lambda x, a: F.elu(x, a)),
    "selu": Activation(6, 0.0, 1.0, lambda x, _: F.selu(x)),
    "softplus": Activation(7, 0.0, 1.0, lambda x, _: F.softplus(x)),
    "swish": Activation(8, 0.0, math.sqrt(2), lambda x, _: F.silu(x)),
}
_SOURCES = ["bias_act.cu", "bias_act_binding.cpp"]
_HEADERS = ["bias_act.h", "nova_hd.h", "nova_cuda_types.cuh"]
_VALUE, _GRAD, _GRAD2 = 0, 1, 2  # nova_bias_act::Mode


def bias_act(x: torch.Tensor, b: torch.Tensor | None = None, dim: int = 1, act: str = "linear",
             alpha: float | None = None, gain: float | None = None, clamp: float | None = None,
             impl: str = "auto") -> torch.Tensor:
    """Add ``b`` (shape ``[x.shape[dim]]``, cast to x's dtype) along ``dim``, apply ``act``, scale by ``gain``, clamp.

    ``alpha`` and ``gain`` default per activation (ACTIVATIONS); ``clamp=None`` means no clamp.
    ``impl``: 'auto' (CUDA kernel for CUDA tensors when it builds), 'cuda' or 'ref'.
    """
    if act not in ACTIVATIONS:
        raise ValueError(f"unknown activation {act!r}; expected one of {sorted(ACTIVATIONS)}")
    if clamp is not None and clamp < 0:
        raise ValueError(f"clamp must be None or >= 0, got {clamp}")
    dim = dim % x.ndim
    if b is not None and (b.ndim != 1 or b.shape[0] != x.shape[dim]):
        raise ValueError(f"b must have shape [{x.shape[dim]}] (x.shape[{dim}]), got {list(b.shape)}")
    spec = ACTIVATIONS[act]
    b = None if b is None else b.to(x.dtype)
    alpha = spec.alpha if alpha is None else float(alpha)
    gain = spec.gain if gain is None else float(gain)
    plugin = resolve_impl(impl, "nova_bias_act", _SOURCES, _HEADERS, x.device)
    if plugin is None:
        return _bias_act_ref(x, b, dim, spec, alpha, gain, clamp)
    return _BiasAct.apply(x, b, _Kernel(plugin, dim, spec.code, alpha, gain, clamp))


def _bias_act_ref(x: torch.Tensor, b: torch.Tensor | None, dim: int, spec: Activation, alpha: float, gain: float,
                  clamp: float | None) -> torch.Tensor:
    if b is not None:
        x = x + b.reshape([-1 if i == dim else 1 for i in range(x.ndim)])
    y = spec.ref(x, alpha)
    if gain != 1:
        y = y * gain
    if clamp is not None:
        y = y.clamp(-clamp, clamp)
    return y


@dataclass(frozen=True)
class _Kernel:
    """One call of the plugin's ``bias_act`` with the settings fixed; absent tensors are passed empty."""

    plugin: ModuleType
    dim: int
    act: int
    alpha: float
    gain: float
    clamp: float | None

    def __call__(self, mode: int, x: torch.Tensor, b: torch.Tensor | None, dy: torch.Tensor | None = None,
                 ddx: torch.Tensor | None = None) -> torch.Tensor:
        empty = x.new_empty([0])
        return self.plugin.bias_act(x, empty if b is None else b, empty if dy is None else dy,
                                    empty if ddx is None else ddx, self.dim, mode, self.act, self.alpha,
                                    self.gain, -1.0 if self.clamp is None else float(self.clamp))

    def sum_to_bias(self, t: torch.Tensor) -> torch.Tensor:
        return t.sum([i for i in range(t.ndim) if i != self.dim])


class _BiasAct(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, b: torch.Tensor | None, kernel: _Kernel) -> torch.Tensor:
        ctx.kernel = kernel
        ctx.save_for_backward(x, b)
        return kernel(_VALUE, x, b)

    @staticmethod
    def backward(ctx, dy: torch.Tensor):
        x, b = ctx.saved_tensors
        dx = _BiasActGrad.apply(dy, x, b, ctx.kernel)
        db = ctx.kernel.sum_to_bias(dx) if b is not None and ctx.needs_input_grad[1] else None
        return dx, db, None


class _BiasActGrad(torch.autograd.Function):
    """dx = dy * gain * act'(x + b) inside the clamp; its own backward gives the second order."""

    @staticmethod
    def forward(ctx, dy: torch.Tensor, x: torch.Tensor, b: torch.Tensor | None, kernel: _Kernel) -> torch.Tensor:
        ctx.kernel = kernel
        ctx.save_for_backward(dy, x, b)
        return kernel(_GRAD, x, b, dy)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, ddx: torch.Tensor):
        dy, x, b = ctx.saved_tensors
        kernel = ctx.kernel
        d_dy = kernel(_GRAD, x, b, ddx) if ctx.needs_input_grad[0] else None
        d_x = kernel(_GRAD2, x, b, dy, ddx) if any(ctx.needs_input_grad[1:3]) else None
        d_b = kernel.sum_to_bias(d_x) if b is not None and ctx.needs_input_grad[2] else None
        return d_dy, d_x, d_b, None
