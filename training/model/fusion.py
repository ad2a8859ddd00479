"""Fusion of the front and back tri-plane features of each sample point into one feature vector.

Inputs per point: front and back features (B, N, 3, C) as sampled from the two tri-plane sets (3
planes x C channels) and the ray direction (B, N, 3). A token is the 3 planes' features concatenated
and projected linearly (3C -> dim), which keeps what each plane says apart where EG3D's mean over
planes would blend it. Modes (FusionConfig.mode):
- attention: view-direction attention over the two tokens {front, back} (below);
- concat: an MLP on the concatenated front and back features;
- mean: the mean of the front and back tokens;
- front_only: the front token alone, the back features are never read (single-view baseline).
Every mode returns Fused(features (B, N, out_dim), attention weights (B, N, heads, 2) or None).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from training.model.layers import unit_linear

FusionMode = Literal["attention", "concat", "mean", "front_only"]  # the --fusion choices of _train.train


@dataclass
class FusionConfig:
    """dim 32 in 8 heads as the original's CrossAttention (4 per head): the attention runs at every
    sample point (B x R^2 x 96 of them), where a wide model would not fit in memory."""

    mode: FusionMode = "attention"
    plane_channels: int = 16  # C, per plane after sampling
    n_planes: int = 3
    dim: int = 32  # token / attention width
    heads: int = 8
    out_dim: int = 32  # the decoder's input
    direction_frequencies: int = 4  # positional encoding of the ray direction
    query_from_tokens: bool = True  # add f + b to the direction query
    direction_prior: float = 0.0
    """Initial gain of a learned per-head logit bias toward the token of the side a ray looks at: the front
    token gets +gain x (-d_z) and the back token -gain x (-d_z), d the unit ray direction (the front camera
    looks along -z). 0: no such bias (and no parameter; the snapshots before it). Without it the two tokens
    start equally mixed, every view renders a blend of both drawings, and on a small budget the attention
    never learns to pull them apart (front and back PSNR equal after 600 CPU images)."""


class Fused(NamedTuple):
    features: torch.Tensor
    attention: torch.Tensor | None


def frequency_encoding(x: torch.Tensor, n_frequencies: int) -> torch.Tensor:
    """[x, sin(2^k pi x), cos(2^k pi x) for k < n]: (..., D) -> (..., D (1 + 2 n))."""
    scales = torch.pi * 2.0 ** torch.arange(n_frequencies, device=x.device, dtype=x.dtype)
    angles = (x[..., None, :] * scales[:, None]).flatten(-2)
    return torch.cat([x, angles.sin(), angles.cos()], -1)


class PlaneTokens(nn.Module):
    """(B, N, planes, C) -> (B, N, dim): the planes' features concatenated, then a linear map."""

    def __init__(self, n_planes: int, plane_channels: int, dim: int):
        super().__init__()
        self.proj = unit_linear(n_planes * plane_channels, dim)

    def forward(self, planes: torch.Tensor) -> torch.Tensor:
        return self.proj(planes.flatten(-2))


class ViewAttentionFusion(nn.Module):
    """Multi-head attention of each point's ray direction over its two tokens {front, back}.

    Query: the ray direction's frequency encoding, projected (plus f + b with query_from_tokens).
    Keys and values: each token plus a learned embedding of its view. Softmax over the two tokens
    per head, so the weight on the front token can follow the direction the point is seen from.
    """

    def __init__(self, cfg: FusionConfig):
        super().__init__()
        if cfg.dim % cfg.heads:
            raise ValueError(f"fusion dim {cfg.dim} is not divisible into {cfg.heads} heads")
        self.cfg = cfg
        self.tokens = PlaneTokens(cfg.n_planes, cfg.plane_channels, cfg.dim)
        self.view_embedding = nn.Parameter(torch.randn(2, cfg.dim) * 0.1)  # row 0 front, row 1 back
        self.direction = unit_linear(3 * (1 + 2 * cfg.direction_frequencies), cfg.dim)
        self.to_q, self.to_k, self.to_v = (unit_linear(cfg.dim, cfg.dim) for _ in range(3))
        self.out = unit_linear(cfg.dim, cfg.out_dim)
        self.prior_gain = nn.Parameter(torch.full((cfg.heads,), cfg.direction_prior)) if cfg.direction_prior else None

    def forward(self, front: torch.Tensor, back: torch.Tensor, directions: torch.Tensor) -> Fused:
        heads, head_dim = self.cfg.heads, self.cfg.dim // self.cfg.heads
        front_token, back_token = self.tokens(front), self.tokens(back)  # (B, N, dim)
        embed_front, embed_back = self.view_embedding
        query = self.direction(frequency_encoding(directions, self.cfg.direction_frequencies))
        if self.cfg.query_from_tokens:
            query = query + front_token + back_token
        q = self.to_q(query).unflatten(-1, (heads, head_dim))  # (B, N, H, d)
        # A softmax over two keys is the sigmoid of their score difference, and keys and values are linear in
        # the view tokens (biases cancel in a difference): so one map of (front - back) replaces the keys and
        # values of both tokens and the (B, N, 2, H, d) products: half the per-point work of the attention.
        # to_k's bias adds q . b to both scores, so it never changed a weight: it gets no gradient now and
        # stays a parameter only so that snapshots load unchanged.
        diff = front_token - back_token + (embed_front - embed_back)  # (B, N, dim)
        key_diff = F.linear(diff, self.to_k.weight).unflatten(-1, (heads, head_dim))
        score_diff = (q * key_diff).sum(-1) * head_dim ** -0.5  # (B, N, H): front score - back score
        if self.prior_gain is not None:  # front + gain x facing, back - gain x facing, facing = -d_z
            facing = -directions[..., 2:3] / directions.norm(dim=-1, keepdim=True).clamp(min=1e-8)  # (B, N, 1)
            score_diff = score_diff + 2 * facing * self.prior_gain
        w_front = torch.sigmoid(score_diff)  # (B, N, H)
        value_back = self.to_v(back_token + embed_back).unflatten(-1, (heads, head_dim))
        value_diff = F.linear(diff, self.to_v.weight).unflatten(-1, (heads, head_dim))
        mixed = (value_back + w_front.unsqueeze(-1) * value_diff).flatten(-2)  # w v_front + (1 - w) v_back
        return Fused(self.out(mixed), torch.stack([w_front, 1 - w_front], -1))


class ConcatFusion(nn.Module):
    """An MLP on [front, back] features: fuses too, but cannot be told where the point is seen from."""

    def __init__(self, cfg: FusionConfig):
        super().__init__()
        self.mlp = nn.Sequential(unit_linear(2 * cfg.n_planes * cfg.plane_channels, cfg.dim), nn.Softplus(),
                                 unit_linear(cfg.dim, cfg.out_dim))

    def forward(self, front: torch.Tensor, back: torch.Tensor, directions: torch.Tensor) -> Fused:
        return Fused(self.mlp(torch.cat([front.flatten(-2), back.flatten(-2)], -1)), None)


class MeanFusion(nn.Module):
    """The mean of the front and back tokens."""

    def __init__(self, cfg: FusionConfig):
        super().__init__()
        self.tokens = PlaneTokens(cfg.n_planes, cfg.plane_channels, cfg.out_dim)

    def forward(self, front: torch.Tensor, back: torch.Tensor, directions: torch.Tensor) -> Fused:
        return Fused((self.tokens(front) + self.tokens(back)) / 2, None)


class FrontOnlyFusion(nn.Module):
    """The front token alone: the back features are never read (the single-view baseline)."""

    def __init__(self, cfg: FusionConfig):
        super().__init__()
        self.tokens = PlaneTokens(cfg.n_planes, cfg.plane_channels, cfg.out_dim)

    def forward(self, front: torch.Tensor, back: torch.Tensor, directions: torch.Tensor) -> Fused:
        return Fused(self.tokens(front), None)


FUSIONS: dict[str, type[nn.Module]] = {"attention": ViewAttentionFusion, "concat": ConcatFusion,
                                       "mean": MeanFusion, "front_only": FrontOnlyFusion}


def build_fusion(cfg: FusionConfig) -> nn.Module:
    """The fusion module of cfg.mode; all take (front, back, directions) and return Fused."""
    if cfg.mode not in FUSIONS:
        raise ValueError(f"unknown fusion mode {cfg.mode!r}; choose one of {', '.join(FUSIONS)}")
    return FUSIONS[cfg.mode](cfg)
