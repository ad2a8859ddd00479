"""Multi-granularity PAT encoder: the condition image -> feature maps injected into the backbone.

PoolFormer-style pooling-attention blocks: the token mixer is an average pool minus the token itself,
followed by a channel MLP, each behind a norm and a residual with layer scale. A stem brings any
condition image to a 64 x 64 grid, then 4 stages run at 64, 32, 16 and 8 (stride-2 convolutions in
between); the last three give the maps added to the backbone at resolutions 32, 16 and 8 (the coarse
512 x 8 x 8 map of the original, plus the finer ones). The same encoder serves front and back.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

GRID = 64  # resolution after the stem
OUT_RESOLUTIONS = (8, 16, 32)
STAGE_OF_RESOLUTION = {64: 0, 32: 1, 16: 2, 8: 3}
EncoderKind = Literal["pat", "none"]  # the --encoder choices of _train.train


@dataclass
class EncoderConfig:
    """image_resolution: the encoder works at this size (a multiple of 64; other inputs are resized)."""

    kind: EncoderKind = "pat"
    image_resolution: int = 512
    widths: tuple[int, int, int, int] = (64, 128, 320, 512)  # stages at 64, 32, 16, 8
    depths: tuple[int, int, int, int] = (2, 2, 6, 2)  # PoolFormer-S12
    out_channels: tuple[int, int, int] = (512, 512, 512)  # maps at OUT_RESOLUTIONS 8, 16, 32
    mlp_ratio: float = 4.0
    pool_size: int = 3
    layer_scale_init: float = 1e-5


class PoolingBlock(nn.Module):
    """x + s1 * (avgpool(n1(x)) - n1(x)), then x + s2 * mlp(n2(x)): PoolFormer's block."""

    def __init__(self, channels: int, mlp_ratio: float, pool_size: int, layer_scale_init: float):
        super().__init__()
        hidden = int(channels * mlp_ratio)
        self.norm_mix, self.norm_mlp = nn.GroupNorm(1, channels), nn.GroupNorm(1, channels)
        self.pool = nn.AvgPool2d(pool_size, stride=1, padding=pool_size // 2, count_include_pad=False)
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.GELU(), nn.Conv2d(hidden, channels, 1))
        self.scale_mix = nn.Parameter(torch.full((channels, 1, 1), layer_scale_init))
        self.scale_mlp = nn.Parameter(torch.full((channels, 1, 1), layer_scale_init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm_mix(x)
        x = x + self.scale_mix * (self.pool(y) - y)
        return x + self.scale_mlp * self.mlp(self.norm_mlp(x))


class PATEncoder(nn.Module):
    """(B, 3, H, W) image in [-1, 1] -> {8: (B, c8, 8, 8), 16: (B, c16, 16, 16), 32: (B, c32, 32, 32)}."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        if cfg.image_resolution < GRID or cfg.image_resolution % GRID:
            raise ValueError(f"encoder image_resolution must be a multiple of {GRID}, got {cfg.image_resolution}")
        self.cfg = cfg
        stride = cfg.image_resolution // GRID
        self.stem = nn.Conv2d(3, cfg.widths[0], 2 * stride + 1, stride=stride, padding=stride)
        self.stages = nn.ModuleList()
        for i, (width, depth) in enumerate(zip(cfg.widths, cfg.depths)):
            down = nn.Identity() if i == 0 else nn.Conv2d(cfg.widths[i - 1], width, 3, stride=2, padding=1)
            blocks = [PoolingBlock(width, cfg.mlp_ratio, cfg.pool_size, cfg.layer_scale_init) for _ in range(depth)]
            self.stages.append(nn.Sequential(down, *blocks))
        self.heads = nn.ModuleList()
        for resolution, channels in zip(OUT_RESOLUTIONS, cfg.out_channels):
            width = cfg.widths[STAGE_OF_RESOLUTION[resolution]]
            self.heads.append(nn.Sequential(nn.GroupNorm(1, width), nn.Conv2d(width, channels, 1)))

    def forward(self, image: torch.Tensor) -> dict[int, torch.Tensor]:
        size = self.cfg.image_resolution
        if image.shape[-2:] != (size, size):
            image = F.interpolate(image, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        x = self.stem(image)
        stage_maps = []
        for stage in self.stages:
            x = stage(x)
            stage_maps.append(x)
        return {resolution: head(stage_maps[STAGE_OF_RESOLUTION[resolution]])
                for resolution, head in zip(OUT_RESOLUTIONS, self.heads)}


def build_encoder(cfg: EncoderConfig) -> PATEncoder | None:
    """The encoder of cfg.kind; None for 'none' (the backbone then gets no encoder features)."""
    if cfg.kind == "none":
        return None
    if cfg.kind != "pat":
        raise ValueError(f"unknown encoder kind {cfg.kind!r}; choose one of {', '.join(get_args(EncoderKind))}")
    return PATEncoder(cfg)
