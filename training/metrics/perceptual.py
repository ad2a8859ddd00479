"""Perceptual distance for training and metrics: LPIPS (AlexNet, v0.1 heads) in pure torch, and the
documented substitute used for training when no AlexNet weights are on this machine.

LPIPS v0.1 (Zhang et al. 2018, the ``lpips`` package's formula): both images, in [-1, 1], go
through AlexNet (with LPIPS's input shift/scale); each of relu1..relu5 is normalised to unit length
over channels; the squared difference is weighted per channel by a 1x1 linear head (no bias),
averaged over space and summed over the five layers. The heads are read from the lpips package's
``weights/v0.1/alex.pth`` by path (importing lpips would import torchvision).

Substitute (``perceptual_loss`` picks it when AlexNet weights are missing and says so): mean L1
plus (1 - multi-scale SSIM), both on the [0, 1] scale. It is a reconstruction loss sensitive to
structure and contrast, not a learned perceptual metric; runs that use it are labelled.
"""
from __future__ import annotations

import os

import torch
from torch import nn

from training.metrics import weights
from training.metrics.feature_nets.alexnet import RELU_CHANNELS, AlexNetFeatures, load_alexnet
from training.metrics.image import ms_ssim

HEAD_KEYS = tuple(f"lin{k}.model.1.weight" for k in range(len(RELU_CHANNELS)))
SUBSTITUTE = "L1 + (1 - MS-SSIM)"


def normalize_channels(x: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Scale each feature vector (over dim 1) to unit length, as lpips.normalize_tensor does."""
    return x / (x.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


def read_heads(path: str | os.PathLike[str]) -> list[torch.Tensor]:
    """The five (1, C, 1, 1) head weights of an lpips v0.1 AlexNet file, checked."""
    state = weights.load_state(path, "LPIPS heads file")
    if not isinstance(state, dict) or set(state) != set(HEAD_KEYS):
        keys = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"{path}: not LPIPS AlexNet heads (expected keys {list(HEAD_KEYS)}, found {keys})")
    heads = [state[k] for k in HEAD_KEYS]
    for key, w, c in zip(HEAD_KEYS, heads, RELU_CHANNELS):
        if not isinstance(w, torch.Tensor) or w.shape != (1, c, 1, 1):
            raise ValueError(f"{path}: {key} should have shape (1, {c}, 1, 1), found "
                             f"{tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__}")
    return heads


class LPIPS(nn.Module):
    """LPIPS distance per image pair, (N,), for images (N, 3, H, W) in [-1, 1].

    Parameters are frozen; gradients flow to the inputs (its use as a training loss). The paper
    protocol fed [0, 1] images here unchanged; the standard protocol maps them to [-1, 1] first.
    """

    def __init__(self, backbone: AlexNetFeatures, heads_path: str | os.PathLike[str]) -> None:
        super().__init__()
        self.net = backbone
        self.heads = nn.ModuleList(nn.Conv2d(c, 1, kernel_size=1, bias=False) for c in RELU_CHANNELS)
        with torch.no_grad():
            for head, w in zip(self.heads, read_heads(heads_path)):
                head.weight.copy_(w)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape != y.shape:
            raise ValueError(f"LPIPS: images of different shapes {tuple(x.shape)} and {tuple(y.shape)}")
        feats = self.net(torch.cat([x, y]))
        total = x.new_zeros(x.shape[0])
        for head, f in zip(self.heads, feats):
            fx, fy = normalize_channels(f).chunk(2)
            total = total + head((fx - fy).pow(2)).mean(dim=(1, 2, 3))
        return total


def from_weights(alexnet_path: str | os.PathLike[str] | None = None,
                 heads_path: str | os.PathLike[str] | None = None,
                 strict: bool = False) -> tuple[LPIPS | None, str]:
    """LPIPS from the weight files the policy finds, and a one-line description.

    Missing AlexNet weights or heads: ``(None, "n/a (weights missing: <file>, sha256 <...>)")``, the
    text a metric table shows; with ``strict`` a WeightsMissing error instead.
    """
    found = {}
    for name, path in (("alexnet", alexnet_path), ("lpips_alex_v0.1", heads_path)):
        try:
            found[name] = weights.require(name, path)
        except weights.WeightsMissing:
            if strict:
                raise
            return None, weights.describe_missing(name)
    model = LPIPS(load_alexnet(found["alexnet"]), found["lpips_alex_v0.1"])
    return model, f"LPIPS AlexNet v0.1 (backbone {found['alexnet']}, heads {found['lpips_alex_v0.1']})"


def ms_ssim_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - MS-SSIM per image, (N,), for images in [-1, 1]."""
    return 1 - ms_ssim((pred + 1) / 2, (target + 1) / 2, data_range=1.0)


class L1MSSSIMLoss(nn.Module):
    """The LPIPS substitute: mean |a - b| + (1 - MS-SSIM) per image, both on the [0, 1] scale,
    for images in [-1, 1] (same call signature and output shape as LPIPS)."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape != y.shape:
            raise ValueError(f"{SUBSTITUTE}: images of different shapes {tuple(x.shape)} and {tuple(y.shape)}")
        return (x - y).abs().flatten(1).mean(1) / 2 + ms_ssim_loss(x, y)


def perceptual_loss(weights_path: str | os.PathLike[str] | None = None,
                    strict: bool = False) -> tuple[nn.Module, str]:
    """The perceptual reconstruction loss training uses, and one line saying which one it is.

    LPIPS when the AlexNet weights (``weights_path`` or the policy's places) and the heads are found;
    otherwise the L1 + (1 - MS-SSIM) substitute, or with ``strict`` a WeightsMissing error. Both map
    (x, y) in [-1, 1] to per-image losses (N,).
    """
    model, description = from_weights(alexnet_path=weights_path, strict=strict)
    if model is not None:
        return model, description
    missing = "alexnet" if weights.resolve("alexnet", weights_path) is None else "lpips_alex_v0.1"
    return L1MSSSIMLoss(), f"{SUBSTITUTE} substitute, LPIPS {description}; " + weights.GET_IT.format(name=missing)
