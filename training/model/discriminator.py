"""The dual discriminator: StyleGAN2 ResNet D on [image, upsampled raw image], camera conditioned, with
an optional mask branch (NOVA-3D's mask_d).

Dual input (EG3D): the final image (B, 3, R, R) and the raw neural render resized to R are stacked
into 6 channels, so D judges the super-resolved image and its 3D-consistent raw render together and
the super-resolution cannot drift away from the render.
Camera conditioning: the 25-float label goes through a mapping network to cmap (B, cmap_dim); the
epilogue's last layer also emits cmap_dim values and the score is their projection onto cmap,
(x * cmap).sum / sqrt(cmap_dim) (Miyato & Koyama's projection discriminator, as StyleGAN2-ADA).
Mask branch: its own ResNet blocks on the alpha mask (resized to mask_resolution, scaled to [-1, 1])
down to 4x4, **added** to the main branch's 4x4 features before the epilogue. Adding (not concatenating)
keeps the epilogue the same with the branch on or off, so mask_d is a pure switch, and R1 on the mask
(a separate gamma) flows through the same epilogue. With mask_d off the mask argument is ignored.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from torch_utils.ops import upfirdn2d
from training.geometry.camera import LABEL_DIM
from training.model.layers import Conv2dLayer, FullyConnectedLayer, MappingNetwork, channels_at

SKIP_GAIN = math.sqrt(0.5)  # keeps the variance of (residual + skip) equal to that of one path


@dataclass
class DiscriminatorConfig:
    img_resolution: int = 512
    img_channels: int = 3  # per image; D sees twice as many (image + raw)
    c_dim: int = LABEL_DIM  # 0 = unconditional
    channel_base: int = 32768
    channel_max: int = 512
    cmap_dim: int | None = None  # None = the channels at 4x4
    mapping_layers: int = 8  # StyleGAN2-ADA's D mapping depth
    conv_clamp: float | None = 256.0
    mbstd_group_size: int = 4
    mbstd_channels: int = 1
    mask_d: bool = True
    mask_resolution: int = 128
    mask_channel_base: int = 8192  # the mask branch is narrower than the image branch
    mask_channel_max: int = 256

    def __post_init__(self) -> None:
        for name in ("img_resolution", "mask_resolution"):
            res = getattr(self, name)
            if res < 8 or res & (res - 1):
                raise ValueError(f"{name} must be a power of two >= 8, got {res}")
        if self.channels_4x4 % self.mbstd_channels:
            raise ValueError(f"mbstd_channels {self.mbstd_channels} must divide the {self.channels_4x4} channels at 4x4")

    @property
    def channels_4x4(self) -> int:
        return channels_at(4, self.channel_base, self.channel_max)


class DiscriminatorBlock(nn.Module):
    """One resolution of the ResNet D: two 3x3 convs (the second down 2x) plus a 1x1 skip down 2x.

    img_channels > 0 makes it the first block, which maps the input image in with a 1x1 fromRGB conv.
    """

    def __init__(self, tmp_channels: int, out_channels: int, img_channels: int = 0,
                 conv_clamp: float | None = None):
        super().__init__()
        self.fromrgb = (Conv2dLayer(img_channels, tmp_channels, 1, activation="lrelu", conv_clamp=conv_clamp)
                        if img_channels > 0 else None)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, 3, activation="lrelu", down=2, conv_clamp=conv_clamp)
        self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fromrgb is not None:
            x = self.fromrgb(x)
        y = self.skip(x, gain=SKIP_GAIN)
        x = self.conv1(self.conv0(x), gain=SKIP_GAIN)
        return x + y


class ResNetTrunk(nn.Module):
    """An image (B, C, R, R) -> features (B, channels at 4, 4, 4) through one DiscriminatorBlock per resolution."""

    def __init__(self, resolution: int, img_channels: int, channel_base: int, channel_max: int, out_channels: int,
                 conv_clamp: float | None):
        super().__init__()
        resolutions = [2 ** i for i in range(int(math.log2(resolution)), 2, -1)]
        blocks = []
        for res in resolutions:
            tmp = channels_at(res, channel_base, channel_max)
            out = out_channels if res == 8 else channels_at(res // 2, channel_base, channel_max)
            blocks.append(DiscriminatorBlock(tmp, out, 0 if blocks else img_channels, conv_clamp))
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


class MinibatchStd(nn.Module):
    """Appends the feature std over groups of samples, so D can see a lack of variety (mode collapse)."""

    def __init__(self, group_size: int, num_channels: int = 1):
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = next(g for g in range(min(self.group_size, n), 0, -1) if n % g == 0)  # largest group dividing n
        f = self.num_channels
        y = x.reshape(g, n // g, f, c // f, h, w)
        y = (y - y.mean(dim=0)).square().mean(dim=0)
        y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4])  # (n / g, f)
        y = y.reshape(n // g, f, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)


class Epilogue(nn.Module):
    """4x4 features -> score: minibatch std, 3x3 conv, fc, out fc, projection onto the camera embedding."""

    def __init__(self, channels: int, cmap_dim: int, mbstd_group_size: int, mbstd_channels: int,
                 conv_clamp: float | None):
        super().__init__()
        self.cmap_dim = cmap_dim
        self.mbstd = MinibatchStd(mbstd_group_size, mbstd_channels)
        self.conv = Conv2dLayer(channels + mbstd_channels, channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(channels * 16, channels, activation="lrelu")
        self.out = FullyConnectedLayer(channels, max(cmap_dim, 1))

    def forward(self, x: torch.Tensor, cmap: torch.Tensor | None) -> torch.Tensor:
        x = self.conv(self.mbstd(x))
        x = self.out(self.fc(x.flatten(1)))
        if cmap is None:
            return x
        return (x * cmap).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)


class DualDiscriminator(nn.Module):
    """D(image, image_raw, label, mask) -> logits (B, 1).

    image: (B, 3, R, R) final image in [-1, 1]; image_raw: (B, 3, r, r) raw render, resized to R here;
    label: (B, 25) camera label (ignored when c_dim = 0); mask: (B, 1, H, W) alpha in [0, 1], resized to
    mask_resolution, required with mask_d and ignored without it. blur_sigma > 0 blurs image and raw
    image alike with a Gaussian (EG3D fades such a blur in early training so D cannot win on fine detail).
    """

    def __init__(self, cfg: DiscriminatorConfig):
        super().__init__()
        self.cfg = cfg
        c4 = cfg.channels_4x4
        self.cmap_dim = 0 if cfg.c_dim == 0 else (cfg.cmap_dim or c4)
        self.trunk = ResNetTrunk(cfg.img_resolution, 2 * cfg.img_channels, cfg.channel_base, cfg.channel_max, c4,
                                 cfg.conv_clamp)
        self.mask_trunk = (ResNetTrunk(cfg.mask_resolution, 1, cfg.mask_channel_base, cfg.mask_channel_max, c4,
                                       cfg.conv_clamp) if cfg.mask_d else None)
        self.mapping = (MappingNetwork(0, cfg.c_dim, self.cmap_dim, num_ws=1, num_layers=cfg.mapping_layers)
                        if cfg.c_dim > 0 else None)
        self.epilogue = Epilogue(c4, self.cmap_dim, cfg.mbstd_group_size, cfg.mbstd_channels, cfg.conv_clamp)

    def forward(self, image: torch.Tensor, image_raw: torch.Tensor, label: torch.Tensor | None = None,
                mask: torch.Tensor | None = None, blur_sigma: float = 0.0) -> torch.Tensor:
        res = self.cfg.img_resolution
        if image.shape[-2:] != (res, res):
            raise ValueError(f"image must be (B, {self.cfg.img_channels}, {res}, {res}), got {list(image.shape)}")
        raw = resize(image_raw, res)
        if blur_sigma > 0:
            image, raw = gaussian_blur(image, blur_sigma), gaussian_blur(raw, blur_sigma)
        x = self.trunk(torch.cat([image, raw.to(image.dtype)], dim=1))
        if self.mask_trunk is not None:
            if mask is None:
                raise ValueError("mask_d is on: pass the alpha mask (B, 1, H, W)")
            x = x + self.mask_trunk(resize(mask, self.cfg.mask_resolution).to(x.dtype) * 2 - 1)
        cmap = None
        if self.mapping is not None:
            if label is None:
                raise ValueError(f"a camera-conditioned D needs the label (B, {self.cfg.c_dim})")
            cmap = self.mapping(label.new_zeros(label.shape[0], 0), label.to(x.dtype))[:, 0]
        return self.epilogue(x, cmap)


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize to size x size, antialiased when shrinking; the identity at the same size."""
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=x.shape[-1] > size)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with taps out to 3 sigma, same size out (zero padded at the border)."""
    radius = max(1, int(math.ceil(3 * sigma)))
    taps = torch.arange(-radius, radius + 1, dtype=torch.float32, device=x.device)
    f = upfirdn2d.setup_filter(torch.exp(-0.5 * (taps / sigma).square()), device=x.device, separable=True)
    return upfirdn2d.filter2d(x, f)
