"""PSNR / SSIM / MS-SSIM against the reference libraries (used here only, as test references).

- PSNR equals torchmetrics' PeakSignalNoiseRatio called once per image, as the original measure
  script did, for both protocols.
- The paper SSIM equals skimage's structural_similarity(win_size=3, data_range=1, channel_axis=2)
  (uniform 3x3 window, skimage's default sample covariance, per channel, averaged, border cropped).
- The standard SSIM equals skimage with gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
  data_range=1 within 1e-4.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.metrics import structural_similarity
from torchmetrics.functional.image import multiscale_structural_similarity_index_measure
from torchmetrics.image import PeakSignalNoiseRatio

from training.metrics.image import ms_ssim, protocol_psnr, protocol_ssim, psnr, ssim


def _pairs(dtype=torch.float32, n=3, size=(37, 45), seed=0) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth 'images' in [0, 1] with a white border (like renders on white) and noisy predictions."""
    g = torch.Generator().manual_seed(seed)
    target = F.avg_pool2d(torch.rand(n, 3, *size, generator=g, dtype=torch.float64), 5, 1, 2)
    target[..., :4, :] = 1.0
    pred = (target + 0.08 * torch.randn(target.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    return pred.to(dtype), target.to(dtype)


def _hwc(x: torch.Tensor) -> np.ndarray:
    return x.permute(1, 2, 0).numpy()


def test_psnr_standard_equals_torchmetrics():
    pred, target = _pairs()
    ours = psnr(pred, target, data_range=1.0)
    assert torch.equal(ours, protocol_psnr(pred, target, "standard"))
    for i in range(len(pred)):
        ref = PeakSignalNoiseRatio(data_range=1.0)(pred[i:i + 1], target[i:i + 1])
        assert ours[i].item() == pytest.approx(ref.item(), abs=1e-4)


def test_psnr_paper_takes_the_range_from_the_target_like_old_torchmetrics():
    """Old torchmetrics' PeakSignalNoiseRatio() (data_range=None) kept running min/max states that
    start at 0 and used max - min of them: per single-image call, max(t.max(), 0) - min(t.min(), 0).
    torchmetrics >= 1.0 requires data_range, so it is given that value here."""
    pred, target = _pairs()
    target[1] = 0.2 + 0.7 * target[1]  # in [0.2, 0.9]: the range is 0.9, not 0.7
    target[2] = (target[2] - target[2].min()) / (target[2].max() - target[2].min()) - 0.5  # [-0.5, 0.5]: 1.0
    ours = psnr(pred, target, data_range=None)
    assert torch.equal(ours, protocol_psnr(pred, target, "paper"))
    for i, expected_range in enumerate([target[0].max().item(), 0.9, 1.0]):
        t = target[i:i + 1]
        legacy_range = max(t.max().item(), 0.0) - min(t.min().item(), 0.0)
        assert legacy_range == pytest.approx(expected_range, abs=1e-6)
        ref = PeakSignalNoiseRatio(data_range=legacy_range)(pred[i:i + 1], t)
        assert ours[i].item() == pytest.approx(ref.item(), abs=1e-4)


def test_psnr_identical_is_inf():
    _, target = _pairs(n=1)
    assert math.isinf(psnr(target, target).item())


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_ssim_paper_equals_skimage_win3(dtype, tol):
    pred, target = _pairs(dtype)
    ours = protocol_ssim(pred, target, "paper")
    for i in range(len(pred)):
        ref = structural_similarity(_hwc(pred[i]), _hwc(target[i]), win_size=3, data_range=1, channel_axis=2)
        assert ours[i].item() == pytest.approx(float(ref), abs=tol)


def test_ssim_standard_equals_skimage_gaussian():
    pred, target = _pairs(torch.float32, size=(48, 40))
    ours = protocol_ssim(pred, target, "standard")
    assert torch.equal(ours, ssim(pred, target))
    for i in range(len(pred)):
        ref = structural_similarity(_hwc(pred[i]), _hwc(target[i]), gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, data_range=1, channel_axis=2)
        assert ours[i].item() == pytest.approx(float(ref), abs=1e-4)


def test_ssim_identical_is_one_and_bad_input_is_one_line():
    _, target = _pairs()
    assert torch.allclose(ssim(target, target), torch.ones(len(target)))
    with pytest.raises(ValueError, match=r"smaller than the 11x11 window"):
        ssim(target[..., :8, :], target[..., :8, :])
    with pytest.raises(ValueError, match=r"same shape"):
        ssim(target, target[:1])
    with pytest.raises(ValueError, match="unknown metric protocol 'tf'"):
        protocol_ssim(target, target, "tf")


def test_ssim_and_ms_ssim_gradients_flow():
    pred, target = _pairs(size=(64, 64))
    for fn in (ssim, ms_ssim):
        x = pred.clone().requires_grad_(True)
        (1 - fn(x, target)).sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # very different images (negative contrast terms) still give finite gradients
    x = torch.rand(2, 3, 64, 64, requires_grad=True)
    ms_ssim(x, 1 - x.detach()).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_ms_ssim_behaviour():
    pred, target = _pairs(n=2, size=(176, 176))
    assert torch.allclose(ms_ssim(target, target), torch.ones(len(target)))
    # below 22 px only one scale fits: MS-SSIM is SSIM
    small_p, small_t = pred[..., :20, :20], target[..., :20, :20]
    assert torch.allclose(ms_ssim(small_p, small_t), ssim(small_p, small_t))
    # worse predictions score lower
    noisier = (target + 0.3 * (pred - target) / 0.08).clamp(0, 1)
    assert (ms_ssim(noisier, target) < ms_ssim(pred, target)).all()
    # the usual 5-scale MS-SSIM: torchmetrics differs only in border handling (reflect padding)
    ref = multiscale_structural_similarity_index_measure(pred, target, data_range=1.0, reduction="none")
    assert torch.allclose(ms_ssim(pred, target), ref, atol=5e-3)
