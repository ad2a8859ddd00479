"""Upsample, FIR-filter and downsample 2-D images: the anti-aliased resampling of StyleGAN2 layers.

``upfirdn2d`` inserts ``up - 1`` zeros after each sample, pads (negative padding crops), convolves each
channel with the filter ``f`` (a true convolution; ``flip_filter=True`` correlates instead), multiplies
by ``gain`` and keeps every ``down``-th sample. A 1-D ``f`` is separable: it filters rows, then columns.
The CUDA path is one kernel (math in upfirdn2d.h); its gradient is the adjoint upfirdn2d (up and down
swapped, the filter flipped, padding mirrored), computed by the same op, so gradients of gradients
work too. The reference path is zero insertion + F.pad + a grouped F.conv2d, differentiated by
autograd. Filters are fixed buffers: the CUDA path gives no gradient for ``f``.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Sequence

import torch
import torch.nn.functional as F

from torch_utils.custom_ops import resolve_impl

Ints = int | Sequence[int]
_SOURCES = ["upfirdn2d.cu", "upfirdn2d_binding.cpp"]
_HEADERS = ["upfirdn2d.h", "nova_hd.h", "nova_cuda_types.cuh"]


def setup_filter(f, device: torch.device | str = "cpu", normalize: bool = True, flip_filter: bool = False,
                 gain: float = 1, separable: bool | None = None) -> torch.Tensor:
    """A float32 filter for the functions here from taps (None = [1]).

    1-D taps stay separable (1-D) by default when there are 8 or more of them, else become their outer
    product. ``normalize`` makes the taps sum to 1; ``gain`` is the overall gain of the 2-D filter.
    """
    f = torch.as_tensor(1.0 if f is None else f, dtype=torch.float32)
    if f.ndim > 2 or f.numel() == 0:
        raise ValueError(f"a filter has 0, 1 or 2 dimensions and at least one tap, got shape {list(f.shape)}")
    f = f.reshape(1) if f.ndim == 0 else f
    if separable is None:
        separable = f.ndim == 1 and f.numel() >= 8
    if f.ndim == 1 and not separable:
        f = torch.outer(f, f)
    if separable and f.ndim != 1:
        raise ValueError("a separable filter must be given as 1-D taps")
    if normalize:
        f = f / f.sum()
    if flip_filter:
        f = f.flip(list(range(f.ndim)))
    return (f * gain ** (f.ndim / 2)).to(device)


def upfirdn2d(x: torch.Tensor, f: torch.Tensor | None, up: Ints = 1, down: Ints = 1, padding: Ints = 0,
              flip_filter: bool = False, gain: float = 1, impl: str = "auto") -> torch.Tensor:
    """Resample ``x`` [N, C, H, W] with filter ``f`` ([fh, fw], separable [k], or None for identity).

    ``up``/``down``: int or (x, y); ``padding``: int, (x, y) or (x0, x1, y0, y1), applied after upsampling.
    Output size: ``(in * up + pad0 + pad1 - taps) // down + 1`` per dimension.
    """
    if x.ndim != 4:
        raise ValueError(f"x must be [N, C, H, W], got shape {list(x.shape)}")
    f = torch.ones([1, 1], dtype=torch.float32, device=x.device) if f is None else f
    if f.ndim not in (1, 2):
        raise ValueError(f"f must be 1-D (separable) or 2-D, got shape {list(f.shape)}")
    upx, upy = _pair(up, "up")
    downx, downy = _pair(down, "down")
    padx0, padx1, pady0, pady1 = _padding(padding)
    plugin = resolve_impl(impl, "nova_upfirdn2d", _SOURCES, _HEADERS, x.device)
    if f.ndim == 1:  # rows, then columns; the gain once
        x = _run(plugin, x, f[None, :], _Resample(upx, 1, downx, 1, padx0, padx1, 0, 0, flip_filter, gain))
        return _run(plugin, x, f[:, None], _Resample(1, upy, 1, downy, 0, 0, pady0, pady1, flip_filter, 1.0))
    return _run(plugin, x, f, _Resample(upx, upy, downx, downy, padx0, padx1, pady0, pady1, flip_filter, gain))


def filter2d(x: torch.Tensor, f: torch.Tensor | None, padding: Ints = 0, flip_filter: bool = False,
             gain: float = 1, impl: str = "auto") -> torch.Tensor:
    """Filter ``x`` keeping its size (plus ``padding``), the filter centred."""
    pad = _centred_padding(f, padding, 1, 1, 1, 1)
    return upfirdn2d(x, f, padding=pad, flip_filter=flip_filter, gain=gain, impl=impl)


def upsample2d(x: torch.Tensor, f: torch.Tensor | None, up: Ints = 2, padding: Ints = 0, flip_filter: bool = False,
               gain: float = 1, impl: str = "auto") -> torch.Tensor:
    """Upsample by ``up`` (output ``in * up`` plus ``padding``) with the interpolation filter ``f``.

    The gain is multiplied by ``upx * upy`` so a filter normalised to sum 1 keeps the image's level.
    """
    upx, upy = _pair(up, "up")
    pad = _centred_padding(f, padding, upx, upy, 1, 1)
    return upfirdn2d(x, f, up=(upx, upy), padding=pad, flip_filter=flip_filter, gain=gain * upx * upy, impl=impl)


def downsample2d(x: torch.Tensor, f: torch.Tensor | None, down: Ints = 2, padding: Ints = 0,
                 flip_filter: bool = False, gain: float = 1, impl: str = "auto") -> torch.Tensor:
    """Low-pass with ``f``, then keep every ``down``-th sample (output ``in // down`` plus ``padding``)."""
    downx, downy = _pair(down, "down")
    pad = _centred_padding(f, padding, 1, 1, downx, downy)
    return upfirdn2d(x, f, down=(downx, downy), padding=pad, flip_filter=flip_filter, gain=gain, impl=impl)


def _pair(v: Ints, name: str) -> tuple[int, int]:
    pair = (int(v), int(v)) if isinstance(v, int) else tuple(int(i) for i in v)
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f"{name} must be an int >= 1 or an (x, y) pair of them, got {v!r}")
    return pair


def _padding(padding: Ints) -> tuple[int, int, int, int]:
    if isinstance(padding, int):
        return (padding,) * 4
    padding = [int(p) for p in padding]
    if len(padding) == 2:
        return padding[0], padding[0], padding[1], padding[1]
    if len(padding) == 4:
        return tuple(padding)
    raise ValueError(f"padding must be an int, (x, y) or (x0, x1, y0, y1), got {padding!r}")


def _centred_padding(f: torch.Tensor | None, padding: Ints, upx: int, upy: int, downx: int, downy: int) -> list[int]:
    """Padding that keeps the output at in * up / down with the filter centred on the samples."""
    fw, fh = (1, 1) if f is None else (f.shape[-1], f.shape[0])
    padx0, padx1, pady0, pady1 = _padding(padding)
    return [padx0 + (fw + upx - downx) // 2, padx1 + (fw - upx - downx + 1) // 2,
            pady0 + (fh + upy - downy) // 2, pady1 + (fh - upy - downy + 1) // 2]


@dataclass(frozen=True)
class _Resample:
    """The settings of one 2-D-filter pass, in the order of the plugin's arguments."""

    upx: int
    upy: int
    downx: int
    downy: int
    padx0: int
    padx1: int
    pady0: int
    pady1: int
    flip: bool
    gain: float

    def adjoint(self, in_hw: Sequence[int], out_hw: Sequence[int], f_hw: Sequence[int]) -> _Resample:
        """The pass that maps a gradient of the output back onto the input (see upfirdn2d.h's formula)."""
        (in_h, in_w), (out_h, out_w), (fh, fw) = in_hw, out_hw, f_hw
        return _Resample(self.downx, self.downy, self.upx, self.upy,
                         fw - 1 - self.padx0, in_w * self.upx - out_w * self.downx + self.padx0 - self.upx + 1,
                         fh - 1 - self.pady0, in_h * self.upy - out_h * self.downy + self.pady0 - self.upy + 1,
                         not self.flip, self.gain)


def _run(plugin: ModuleType | None, x: torch.Tensor, f: torch.Tensor, r: _Resample) -> torch.Tensor:
    return _reference(x, f, r) if plugin is None else _UpFirDn2d.apply(x, f, plugin, r)


def _reference(x: torch.Tensor, f: torch.Tensor, r: _Resample) -> torch.Tensor:
    n, c, h, w = x.shape
    if r.upx > 1 or r.upy > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, r.upx - 1, 0, 0, 0, r.upy - 1]).reshape(n, c, h * r.upy, w * r.upx)
    x = F.pad(x, [r.padx0, r.padx1, r.pady0, r.pady1])
    weight = f if r.flip else f.flip([0, 1])  # conv2d correlates; flipping makes it a convolution
    weight = (weight * r.gain).to(x.dtype)[None, None].expand(c, 1, -1, -1)
    return F.conv2d(x, weight, stride=(r.downy, r.downx), groups=c)


class _UpFirDn2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, f: torch.Tensor, plugin: ModuleType, r: _Resample) -> torch.Tensor:
        y = plugin.upfirdn2d(x, f, r.upx, r.upy, r.downx, r.downy, r.padx0, r.padx1, r.pady0, r.pady1, r.flip, r.gain)
        ctx.save_for_backward(f)
        ctx.plugin = plugin
        ctx.adjoint = r.adjoint(x.shape[2:], y.shape[2:], f.shape)
        return y

    @staticmethod
    def backward(ctx, dy: torch.Tensor):
        (f,) = ctx.saved_tensors
        dx = _UpFirDn2d.apply(dy, f, ctx.plugin, ctx.adjoint) if ctx.needs_input_grad[0] else None
        return dx, None, None, None
