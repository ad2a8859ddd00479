"""Image metrics in pure torch, batched and differentiable: PSNR (optionally over a mask), SSIM and
multi-scale SSIM; and the silhouette IoU.

Images are float tensors (N, C, H, W); every function returns one value per image, shape (N,).

Two protocols (DESIGN.md, "Inference, metrics"):

- ``standard``: PSNR with a fixed data range of 1 (images in [0, 1]); SSIM as Wang et al. 2004:
  11x11 Gaussian window, sigma 1.5, population covariance, K1 0.01, K2 0.03, data range 1 (what
  skimage computes with gaussian_weights=True, sigma=1.5, use_sample_covariance=False).
- ``paper``: what the original measure script computed. PSNR: the data range old torchmetrics
  (``PeakSignalNoiseRatio()``, data_range=None) took from the target. Its running min/max states
  start at 0, so per call (the script called it once per image) the range is
  ``max(target.max(), 0) - min(target.min(), 0)``: for images in [0, 1] that is the target's maximum,
  not max - min. SSIM: skimage's ``structural_similarity(win_size=3, data_range=1, channel_axis=2)``:
  a uniform 3x3 window with skimage's default sample covariance (factor 9/8), per channel, averaged.

Both SSIMs average the SSIM map without the (win - 1) // 2 pixel band at each border: skimage filters
with reflect padding and then crops that band, which equals a 'valid' convolution.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

PROTOCOLS = ("standard", "paper")
# Wang, Simoncelli, Bovik 2003: weights of scales 1 (finest) .. 5
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _check_pair(pred: torch.Tensor, target: torch.Tensor, what: str) -> None:
    if pred.ndim != 4 or pred.shape != target.shape:
        raise ValueError(f"{what}: expected two image batches of the same shape (N, C, H, W), got "
                         f"{tuple(pred.shape)} and {tuple(target.shape)}")
    if not (pred.is_floating_point() and target.is_floating_point()):
        raise ValueError(f"{what}: expected float images, got {pred.dtype} and {target.dtype}")


def _check_protocol(protocol: str) -> None:
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown metric protocol {protocol!r} (known: {', '.join(PROTOCOLS)})")


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float | None = 1.0,
         mask: torch.Tensor | None = None) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image (inf for identical images).

    ``data_range=None`` takes the range from each target as old torchmetrics' default did:
    ``max(target.max(), 0) - min(target.min(), 0)`` (the paper protocol). ``mask`` (N, 1, H, W),
    boolean: the mean squared error over the masked pixels only (all channels; nan for an empty mask).
    """
    _check_pair(pred, target, "psnr")
    if mask is None:
        mse = (pred - target).pow(2).flatten(1).mean(1)
    else:
        weight = mask.to(pred.dtype).expand_as(pred)
        mse = ((pred - target).pow(2) * weight).flatten(1).sum(1) / weight.flatten(1).sum(1)
    if data_range is None:
        flat = target.flatten(1)
        peak = flat.amax(1).clamp_min(0) - flat.amin(1).clamp_max(0)
    else:
        peak = torch.full_like(mse, float(data_range))
    return 10 * torch.log10(peak.pow(2) / mse)


def silhouette_iou(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Intersection over union of boolean silhouettes (N, 1, H, W) per image (1 when both are empty)."""
    if pred.shape != target.shape or pred.dtype != torch.bool or target.dtype != torch.bool:
        raise ValueError(f"silhouette_iou: expected two boolean masks of one shape, got {pred.dtype} "
                         f"{tuple(pred.shape)} and {target.dtype} {tuple(target.shape)}")
    inter = (pred & target).flatten(1).sum(1).double()
    union = (pred | target).flatten(1).sum(1).double()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def _window(win_size: int, gaussian: bool, sigma: float, like: torch.Tensor) -> torch.Tensor:
    """Normalised 1-D window; its outer product with itself is the 2-D SSIM window."""
    if gaussian:
        x = torch.arange(win_size, dtype=like.dtype, device=like.device) - (win_size - 1) / 2
        w = torch.exp(-0.5 * (x / sigma) ** 2)
    else:
        w = torch.ones(win_size, dtype=like.dtype, device=like.device)
    return w / w.sum()


def _filter(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' filtering of every channel of x (B, C, H, W) with the window w."""
    b, c, h, wd = x.shape
    k, g = w.numel(), b * c
    # one group per (image, channel): much faster on CPU than a batch of 1-channel convolutions
    y = F.conv2d(x.reshape(1, g, h, wd), w.view(1, 1, k, 1).expand(g, 1, k, 1), groups=g)
    y = F.conv2d(y, w.view(1, 1, 1, k).expand(g, 1, 1, k), groups=g)
    return y.reshape(b, c, h - k + 1, wd - k + 1)


def _ssim_maps(pred: torch.Tensor, target: torch.Tensor, data_range: float, win_size: int, gaussian: bool,
               sigma: float, sample_covariance: bool, k1: float, k2: float) -> tuple[torch.Tensor, torch.Tensor]:
    """SSIM map and contrast-structure map over the valid region (skimage's formulas)."""
    if win_size < 1 or win_size % 2 == 0:
        raise ValueError(f"ssim: window size must be odd and positive, got {win_size}")
    if min(pred.shape[-2:]) < win_size:
        raise ValueError(f"ssim: images {tuple(pred.shape[-2:])} are smaller than the {win_size}x{win_size} window")
    n = pred.shape[0]
    w = _window(win_size, gaussian, sigma, pred)
    stats = _filter(torch.cat([pred, target, pred * pred, target * target, pred * target]), w)
    ux, uy, uxx, uyy, uxy = stats.split(n)
    cov_norm = win_size ** 2 / (win_size ** 2 - 1) if sample_covariance else 1.0
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    cs = (2 * vxy + c2) / (vx + vy + c2)
    luminance = (2 * ux * uy + c1) / (ux * ux + uy * uy + c1)
    return luminance * cs, cs


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0, win_size: int = 11,
         gaussian: bool = True, sigma: float = 1.5, sample_covariance: bool = False,
         k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """Mean SSIM per image over all channels and the valid region (defaults: Wang et al. 2004).

    ``gaussian=False`` uses a uniform window; ``sample_covariance=True`` scales (co)variances by
    NP / (NP - 1) with NP = win_size**2, as skimage does by default.
    """
    _check_pair(pred, target, "ssim")
    s, _ = _ssim_maps(pred, target, data_range, win_size, gaussian, sigma, sample_covariance, k1, k2)
    return s.mean(dim=(1, 2, 3))


def ms_ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0, win_size: int = 11,
            sigma: float = 1.5) -> torch.Tensor:
    """Multi-scale SSIM per image (Gaussian window, 2x average-pool between scales).

    Uses as many of the 5 scales as keep the coarsest image at least ``win_size`` wide (weights
    renormalised over the scales used), and a smaller odd window for images narrower than it, so
    it works at training render sizes. Per-scale values are clamped at a small positive floor before
    the fractional powers, keeping gradients finite.
    """
    _check_pair(pred, target, "ms_ssim")
    side = min(pred.shape[-2:])
    if side < 3:
        raise ValueError(f"ms_ssim: images {tuple(pred.shape[-2:])} are smaller than 3x3")
    win = min(win_size, side if side % 2 else side - 1)
    levels = 1
    while levels < len(MS_SSIM_WEIGHTS) and side // 2 ** levels >= win:
        levels += 1
    weights = torch.tensor(MS_SSIM_WEIGHTS[:levels], dtype=pred.dtype, device=pred.device)
    weights = weights / weights.sum()
    values = []
    for level in range(levels):
        s, cs = _ssim_maps(pred, target, data_range, win, True, sigma, False, 0.01, 0.03)
        values.append((s if level == levels - 1 else cs).mean(dim=(1, 2, 3)))
        if level < levels - 1:
            pred, target = F.avg_pool2d(pred, 2), F.avg_pool2d(target, 2)
    stacked = torch.stack(values, dim=1).clamp_min(1e-6)
    return stacked.pow(weights).prod(dim=1)


def protocol_psnr(pred: torch.Tensor, target: torch.Tensor, protocol: str = "standard") -> torch.Tensor:
    """PSNR per image as the named protocol computes it (images in [0, 1])."""
    _check_protocol(protocol)
    return psnr(pred, target, data_range=1.0 if protocol == "standard" else None)


def protocol_ssim(pred: torch.Tensor, target: torch.Tensor, protocol: str = "standard") -> torch.Tensor:
    """SSIM per image as the named protocol computes it (images in [0, 1])."""
    _check_protocol(protocol)
    if protocol == "standard":
        return ssim(pred, target)
    return ssim(pred, target, data_range=1.0, win_size=3, gaussian=False, sample_covariance=True)
