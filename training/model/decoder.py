"""The decoder MLP (EG3D's OSG decoder): fused features of a point -> raw sigma and its features.

Sigma stays raw (the ray marcher applies softplus(sigma - 1)). The features are squashed into
[-1, 1] with EG3D's slightly widened sigmoid (MipNeRF's trick, so the ends stay reachable), mapped
from [0, 1] to the [-1, 1] of the images; the first 3 channels are the raw RGB.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from training.model.layers import unit_linear

SIGMOID_MARGIN = 0.001


@dataclass
class DecoderConfig:
    in_dim: int = 32  # FusionConfig.out_dim
    hidden: int = 64
    out_features: int = 32  # feature channels besides sigma; the first 3 are RGB


class Decoder(nn.Module):
    """(B, N, in_dim) -> sigma (B, N, 1), features (B, N, out_features) in [-1, 1]."""

    def __init__(self, cfg: DecoderConfig):
        super().__init__()
        if cfg.out_features < 3:
            raise ValueError(f"the decoder needs at least 3 feature channels (RGB), got {cfg.out_features}")
        self.cfg = cfg
        self.net = nn.Sequential(unit_linear(cfg.in_dim, cfg.hidden), nn.Softplus(),
                                 unit_linear(cfg.hidden, 1 + cfg.out_features))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(x)
        unit = torch.sigmoid(out[..., 1:]) * (1 + 2 * SIGMOID_MARGIN) - SIGMOID_MARGIN
        return out[..., :1], unit * 2 - 1
