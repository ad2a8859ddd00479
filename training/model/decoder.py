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
    drawing_colour: bool = False
    """RGB is predicted as a change of the drawings' colour at the point (GeneratorConfig.drawing_colour),
    added in logit space; the RGB rows of the last layer start at a tenth of their gain, so an untrained
    field already shows the drawings' colours where the fusion reads them."""


class Decoder(nn.Module):
    """(B, N, in_dim) -> sigma (B, N, 1), features (B, N, out_features) in [-1, 1]."""

    def __init__(self, cfg: DecoderConfig):
        super().__init__()
        if cfg.out_features < 3:
            raise ValueError(f"the decoder needs at least 3 feature channels (RGB), got {cfg.out_features}")
        self.cfg = cfg
        self.net = nn.Sequential(unit_linear(cfg.in_dim, cfg.hidden), nn.Softplus(),
                                 unit_linear(cfg.hidden, 1 + cfg.out_features))
        if cfg.drawing_colour:
            with torch.no_grad():
                self.net[-1].weight[1:4] *= 0.1

    def forward(self, x: torch.Tensor, base_rgb: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, N, in_dim); base_rgb (B, N, 3) in [-1, 1]: the colour RGB starts from (drawing_colour only)."""
        out = self.net(x)
        if base_rgb is not None:
            base = ((base_rgb + 1) / 2).clamp(0.02, 0.98)  # logit of 0.02 / 0.98 = -+3.9: the ends stay learnable
            out = torch.cat([out[..., :1], out[..., 1:4] + torch.log(base / (1 - base)), out[..., 4:]], -1)
        unit = torch.sigmoid(out[..., 1:]) * (1 + 2 * SIGMOID_MARGIN) - SIGMOID_MARGIN
        return out[..., :1], unit * 2 - 1
