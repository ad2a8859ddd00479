"""StyleGAN2 building blocks: equalised-lr linear/conv layers, the mapping network, modulated convs.

Equalised learning rate: weights are stored at N(0, 1) / lr_multiplier and scaled at run time by
lr_multiplier / sqrt(fan_in), so Adam sees every layer at the same scale (Karras et al.).
Resampling uses the FIR filter [1, 3, 3, 1] (upfirdn2d) before/after the convolution, with the convolution
run at the low resolution (torch_utils/ops/conv2d_resample.py).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from torch_utils.ops import bias_act, upfirdn2d
from torch_utils.ops.conv2d_resample import conv2d_resample

RESAMPLE_FILTER = (1, 3, 3, 1)


class FullyConnectedLayer(nn.Module):
    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias.to(x.dtype) * self.bias_gain if self.bias is not None else None
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act.bias_act(x.matmul(w.t()), b, act=self.activation)


class MappingNetwork(nn.Module):
    """z (and an optional conditioning vector c) -> w, broadcast to num_ws; tracks the mean w."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int, num_layers: int = 2,
                 lr_multiplier: float = 0.01, w_avg_beta: float = 0.998):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws, self.w_avg_beta = z_dim, c_dim, w_dim, num_ws, w_avg_beta
        self.embed = FullyConnectedLayer(c_dim, w_dim) if c_dim > 0 else None
        dims = [z_dim + (w_dim if c_dim > 0 else 0)] + [w_dim] * num_layers
        self.layers = nn.Sequential(*[FullyConnectedLayer(i, o, activation="lrelu", lr_multiplier=lr_multiplier)
                                      for i, o in zip(dims[:-1], dims[1:])])
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                update_emas: bool = False) -> torch.Tensor:
        x = normalize_2nd_moment(z)
        if self.embed is not None:
            x = torch.cat([x, normalize_2nd_moment(self.embed(c))], dim=1)
        x = self.layers(x)
        if update_emas:
            self.w_avg.copy_(x.detach().float().mean(0).lerp(self.w_avg, self.w_avg_beta))
        if truncation_psi != 1:
            x = self.w_avg.lerp(x, truncation_psi)
        return x.unsqueeze(1).repeat(1, self.num_ws, 1)

    def mean_ws(self, batch: int) -> torch.Tensor:
        """The tracked mean latent, the deterministic input at inference (no random z)."""
        return self.w_avg.expand(batch, self.num_ws, self.w_dim).clone()


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class Conv2dLayer(nn.Module):
    """Conv with optional FIR up/down-sampling, bias + activation (+ clamp) fused."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", up: int = 1, down: int = 1, conv_clamp: float | None = None):
        super().__init__()
        self.activation, self.up, self.down, self.conv_clamp = activation, up, down, conv_clamp
        self.padding = kernel_size // 2
        self.register_buffer("resample_filter", upfirdn2d.setup_filter(RESAMPLE_FILTER))
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.act_gain = bias_act.ACTIVATIONS[activation].gain

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        x = conv2d_resample(x, w, self.resample_filter, up=self.up, down=self.down, padding=self.padding)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        b = self.bias.to(x.dtype) if self.bias is not None else None
        return bias_act.bias_act(x, b, act=self.activation, gain=self.act_gain * gain, clamp=clamp)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                     padding: int = 0, up: int = 1, resample_filter: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample style-modulated (and demodulated) convolution, as one grouped conv over the batch; with
    up > 1, FIR-upsampled by ``resample_filter`` first (computed as conv2d_resample does)."""
    batch, in_ch, height, width = x.shape
    out_ch = weight.shape[0]
    w = weight.unsqueeze(0) * styles.reshape(batch, 1, in_ch, 1, 1)
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8).rsqrt()
    x = x.reshape(1, batch * in_ch, height, width)
    w = w.reshape(batch * out_ch, in_ch, *weight.shape[2:]).to(x.dtype)
    if up > 1:
        x = conv2d_resample(x, w, resample_filter, up=up, padding=padding, groups=batch)
    else:
        x = torch.nn.functional.conv2d(x, w, padding=padding, groups=batch)
    return x.reshape(batch, out_ch, *x.shape[2:])


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally 2x upsampling first) + per-pixel noise + bias/activation."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, up: int = 1,
                 conv_clamp: float | None = None, use_noise: bool = True):
        super().__init__()
        self.up, self.resolution, self.conv_clamp = up, resolution, conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("resample_filter", upfirdn2d.setup_filter(RESAMPLE_FILTER))
        self.use_noise = use_noise
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.act_gain = bias_act.ACTIVATIONS["lrelu"].gain

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random", gain: float = 1.0) -> torch.Tensor:
        styles = self.affine(w)
        x = modulated_conv2d(x, self.weight, styles, padding=1, up=self.up, resample_filter=self.resample_filter)
        if self.use_noise and noise_mode != "none":
            noise = (torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
                     if noise_mode == "random" else self.noise_const.to(x.dtype))
            x = x + noise * self.noise_strength.to(x.dtype)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act.bias_act(x, self.bias.to(x.dtype), act="lrelu", gain=self.act_gain * gain, clamp=clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv without demodulation: features -> output channels. weight_init scales the
    initial weights (below 1 where the output is a residual that should start small)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None = None,
                 weight_init: float = 1.0):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1) * weight_init)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False)
        return bias_act.bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)


def unit_linear(in_features: int, out_features: int) -> nn.Linear:
    """nn.Linear with unit-gain init (weights N(0, 1/in_features), zero bias), as EG3D's FullyConnectedLayer
    starts. PyTorch's default init shrinks a signal about 0.58x per layer; through the five maps from a
    plane feature to a colour (token, value, output, decoder x2) the injected image reached the decoder's
    output at ~6%, and the CPU demo learned colours far later (with the backbone's output_init, test
    PSNR after 200 images rose from 20.4 to 21.8 dB and colours appeared by 300 images)."""
    layer = nn.Linear(in_features, out_features)
    with torch.no_grad():
        layer.weight.normal_(0.0, in_features ** -0.5)
        layer.bias.zero_()
    return layer


def channels_at(resolution: int, channel_base: int, channel_max: int) -> int:
    return int(min(channel_base // resolution, channel_max))


def block_resolutions(img_resolution: int, start: int = 4) -> list[int]:
    return [2 ** i for i in range(int(np.log2(start)), int(np.log2(img_resolution)) + 1)]
