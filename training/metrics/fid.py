"""Fréchet Inception Distance from two sets of features (Heusel et al. 2017, pytorch-fid's formula).

FID = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr(sqrt(S1 S2)), with the features' means and unbiased
covariances. sqrt(S1 S2) comes from scipy.linalg.sqrtm as in pytorch-fid: a non-finite result is
retried with eps added to both diagonals, and a negligible imaginary part is dropped. Where sqrtm's
imaginary part is not negligible (pytorch-fid raises there; it happens when the covariances are
singular, i.e. with fewer images than feature dimensions), the trace is taken from the eigenvalues
of S1 S2 instead: they are real and non-negative for two covariance matrices, so
tr(sqrt(S1 S2)) = sum(sqrt(eig)), computed here with the rounding-noise parts clipped off.

FID needs at least two images per set and is strongly biased for sets much smaller than the
feature dimension (2048): tables report the image count beside it.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import linalg

MIN_IMAGES = 2


def feature_stats(features: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance (float64) of features (N, D), N >= 2."""
    f = np.asarray(features.detach().cpu().double() if isinstance(features, torch.Tensor) else features,
                   dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < MIN_IMAGES:
        raise ValueError(f"FID: need features (N, D) with N >= {MIN_IMAGES}, got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray, eps: float) -> float:
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            eig = np.linalg.eigvals(sigma1 @ sigma2)
            return float(np.sqrt(np.clip(eig.real, 0, None)).sum())
        covmean = covmean.real
    return float(np.trace(covmean))


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """FID between two Gaussians given by means (D,) and covariances (D, D)."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(f"FID: mismatched statistics {mu1.shape}, {sigma1.shape}, {mu2.shape}, {sigma2.shape}")
    diff = mu1 - mu2
    tr_covmean = _trace_sqrt_product(sigma1, sigma2, eps)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)


def fid_from_features(features1: torch.Tensor | np.ndarray, features2: torch.Tensor | np.ndarray) -> float:
    """FID between two feature sets (N1, D) and (N2, D), each with at least two rows."""
    return frechet_distance(*feature_stats(features1), *feature_stats(features2))
