"""A convolution combined with FIR up- or down-sampling by an integer factor, computed at the low resolution.

The direct way to upsample-then-convolve (or convolve-then-downsample) runs the convolution at the high
resolution, on a map that is mostly inserted zeros (up) or of which only every ``down``-th output is kept
(down): ``up * up`` (``down * down``) times the multiply-adds that matter. Both the convolution and the
FIR resampling are linear and translation-invariant, so they commute, and the same result comes from

- up: a transposed convolution with stride ``up`` (the kernel flipped: conv2d correlates, the zero-inserted
  map is convolved), then the FIR filter at the high resolution with gain ``up * up``;
- down: the FIR filter, then the convolution with stride ``down``.

The two differ from the direct order only in the outermost ring of output pixels, where the direct order
truncates the intermediate map to the image before the second op; everywhere else they are equal
(``tests/ops/test_ops_conv2d_resample.py`` checks both, and gradients). A 1x1 kernel commutes exactly with the
per-channel filter, so it runs on whichever side has the smaller map (exact everywhere). EG3D's
``conv2d_resample`` orders the ops the same way, so this also matches the original's layers at the border.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from torch_utils.ops import upfirdn2d


def conv2d_resample(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor, up: int = 1, down: int = 1,
                    padding: int = 0, groups: int = 1) -> torch.Tensor:
    """``conv2d(x, w, padding, groups)`` (correlation) with FIR resampling by ``up`` before it or ``down``
    after it; ``f`` is the 2-D filter of ``upfirdn2d.setup_filter``. The output is ``in * up / down``
    (for ``padding = kernel // 2``), as upsample2d + conv2d or conv2d + downsample2d give."""
    if up > 1 and down > 1:
        raise ValueError("resample up or down, not both")
    kh, kw = w.shape[-2:]
    if kh != kw or f.ndim != 2 or f.shape[0] != f.shape[1]:
        raise ValueError(f"square kernel and 2-D square filter expected, got {list(w.shape)} and {list(f.shape)}")
    taps = f.shape[-1]
    if up > 1:
        if kw == 1:
            return upfirdn2d.upsample2d(F.conv2d(x, w, groups=groups), f, up=up)
        w_t = w.reshape(groups, -1, *w.shape[1:]).transpose(1, 2).reshape(-1, w.shape[0] // groups, kh, kw)
        x = F.conv_transpose2d(x, w_t.flip([2, 3]), stride=up, groups=groups)
        pad0 = padding + (taps + up - 1) // 2 - (kw - 1)
        pad1 = up + taps - 1 - kw - pad0
        return upfirdn2d.upfirdn2d(x, f, padding=[pad0, pad1, pad0, pad1], gain=up * up)
    if down > 1:
        if kw == 1:
            return F.conv2d(upfirdn2d.downsample2d(x, f, down=down), w, groups=groups)
        pad0 = padding + (taps - down + 1) // 2
        pad1 = padding + (taps - down) // 2
        x = upfirdn2d.upfirdn2d(x, f, padding=[pad0, pad1, pad0, pad1])
        return F.conv2d(x, w, stride=down, groups=groups)
    return F.conv2d(x, w, padding=padding, groups=groups)
