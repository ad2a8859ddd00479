"""The image-conditioned StyleGAN2 synthesis network that paints one set of tri-planes.

It runs once on the front image and once on the back image (shared weights, one batched call).
Four conditioning paths, as in NOVA-3D:
  (a) at every resolution the condition image, resized and scaled to [-cond_scale, cond_scale],
      replaces the last 3 channels of the feature map;
  (b) encoder maps are added to the first channels of the feature map at their resolution
      (the coarse 512 x 8 x 8 map and the finer ones);
  (c) the condition image is added to the first 3 channels of the XY plane's depth slice nearest the
      camera that saw it (``injection_channel``);
  (d) cross-averaging: channels [0, C/8) are replaced by their mean over the width and [C/8, C/4)
      by their mean over the height, giving the network cheap long-range (row/column) context.
The toRGB weights start small (output_init), so an untrained network's planes carry the injected image
of (c) nearly clean: at full scale its random output swamps those channels (after the 600-image CPU
demo the xy plane's colour channels correlated with the true surface colour by only 0.03 to 0.4)
and the colour path is learned much later (test PSNR after 200 images 18.4 -> 20.4 dB).
Images enter flipped vertically: tri-plane rows run bottom-up (v = y), image rows top-down. Then the
front image lies on the XY plane as the front camera sees it, and the back image likewise on the back
planes, whose frame is the world turned 180 degrees about y (torch_utils.ops.triplane_sampler).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from torch_utils.ops import upfirdn2d
from training.model.layers import (RESAMPLE_FILTER, Conv2dLayer, MappingNetwork, SynthesisLayer, ToRGBLayer,
                             block_resolutions, channels_at)


@dataclass
class BackboneConfig:
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 2
    mapping_lr: float = 0.01
    resolution: int = 256  # tri-plane resolution
    plane_channels: int = 16  # C per slice
    plane_depth: int = 3  # D slices per plane
    channel_base: int = 32768
    channel_max: int = 512
    conv_clamp: float | None = 256.0
    cond_scale: float = 4.0
    cross_average: bool = True
    inject_output: bool = True
    output_init: float = 0.1  # scale of the toRGB weights at init: planes start as the injected image, (c)

    @property
    def out_channels(self) -> int:
        return 3 * self.plane_depth * self.plane_channels


def resize_condition(cond: torch.Tensor, size: int) -> torch.Tensor:
    """The condition image at a feature resolution: area averaging when shrinking (antialiased at any
    factor; CUDA's antialiased bilinear cannot shrink 512 -> 4), bilinear when growing."""
    if cond.shape[-1] >= size:
        return F.adaptive_avg_pool2d(cond, size)
    return F.interpolate(cond, size=(size, size), mode="bilinear", align_corners=False)


class SynthesisBlock(nn.Module):
    """One resolution of the 'skip' StyleGAN2 synthesis network."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 conv_clamp: float | None, rgb_init: float = 1.0):
        super().__init__()
        self.resolution = resolution
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
            self.conv0 = None
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2, conv_clamp=conv_clamp)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp, weight_init=rgb_init)
        self.register_buffer("resample_filter", upfirdn2d.setup_filter(RESAMPLE_FILTER))
        self.num_ws = 2 if self.conv0 is not None else 1

    def features(self, x: torch.Tensor | None, ws: torch.Tensor, noise_mode: str) -> torch.Tensor:
        if self.conv0 is None:
            x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
            return self.conv1(x, ws[:, 0], noise_mode)
        x = self.conv0(x, ws[:, 0], noise_mode)
        return self.conv1(x, ws[:, 1], noise_mode)

    def to_image(self, x: torch.Tensor, img: torch.Tensor | None, w: torch.Tensor) -> torch.Tensor:
        y = self.torgb(x, w)
        if img is None:
            return y
        return upfirdn2d.upsample2d(img, self.resample_filter, up=2) + y


class ConditionedBackbone(nn.Module):
    """(condition image, encoder maps, ws) -> planes (B, 3 * D * C, R, R)."""

    def __init__(self, cfg: BackboneConfig, encoder_channels: dict[int, int] | None = None):
        super().__init__()
        self.cfg = cfg
        self.resolutions = block_resolutions(cfg.resolution)
        blocks, in_ch = [], 0
        for res in self.resolutions:
            out_ch = channels_at(res, cfg.channel_base, cfg.channel_max)
            blocks.append(SynthesisBlock(in_ch, out_ch, cfg.w_dim, res, cfg.out_channels, cfg.conv_clamp,
                                         rgb_init=cfg.output_init))
            in_ch = out_ch
        self.blocks = nn.ModuleList(blocks)
        self.num_ws = sum(b.num_ws for b in blocks) + 1  # + the last toRGB
        self.mapping = MappingNetwork(cfg.z_dim, 0, cfg.w_dim, self.num_ws, cfg.mapping_layers, cfg.mapping_lr)
        self.feature_proj = nn.ModuleDict({
            str(res): (nn.Identity() if ch == channels_at(res, cfg.channel_base, cfg.channel_max)
                       else Conv2dLayer(ch, channels_at(res, cfg.channel_base, cfg.channel_max), 1))
            for res, ch in (encoder_channels or {}).items()})

    def forward(self, ws: torch.Tensor, cond: torch.Tensor, features: dict[int, torch.Tensor] | None = None,
                noise_mode: str = "random") -> torch.Tensor:
        cond = cond.flip(-2) * self.cfg.cond_scale
        features = features or {}
        x = img = None
        w_index = 0
        for block in self.blocks:
            x = block.features(x, ws[:, w_index:w_index + block.num_ws], noise_mode)
            w_index += block.num_ws
            x = self._condition(x, cond, features.get(block.resolution))
            img = block.to_image(x, img, ws[:, w_index])
        if self.cfg.inject_output:
            at = self.injection_channel
            img = torch.cat([img[:, :at], img[:, at:at + 3] + resize_condition(cond, img.shape[-1]).to(img.dtype),
                             img[:, at + 3:]], dim=1)
        return img

    @property
    def injection_channel(self) -> int:
        """First output channel of path (c): channels 0..2 of the XY plane's LAST depth slice. The planes
        are laid out (plane, slice, channel) and the slices run along the plane's normal from -z to +z
        (slice centres as align_corners=False texels), so the last slice is the one nearest the camera
        that saw the image: +z for the front pass, and for the back pass, whose frame is turned 180
        degrees about y, world -z. (Slice 0 would paint the front image onto the back half of the box.)"""
        return (self.cfg.plane_depth - 1) * self.cfg.plane_channels

    def _condition(self, x: torch.Tensor, cond: torch.Tensor, feature: torch.Tensor | None) -> torch.Tensor:
        if feature is not None:
            feature = self.feature_proj[str(x.shape[-1])](feature.to(x.dtype))
            x = torch.cat([x[:, :feature.shape[1]] + feature, x[:, feature.shape[1]:]], dim=1)
        x = torch.cat([x[:, :-3], resize_condition(cond, x.shape[-1]).to(x.dtype)], dim=1)
        if self.cfg.cross_average:
            ch = x.shape[1] // 8
            x = torch.cat([x[:, :ch].mean(-1, keepdim=True).expand(-1, -1, *x.shape[2:]),
                           x[:, ch:2 * ch].mean(-2, keepdim=True).expand(-1, -1, *x.shape[2:]),
                           x[:, 2 * ch:]], dim=1)
        return x
