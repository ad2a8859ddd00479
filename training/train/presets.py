"""Model presets: body (NOVA-Human), head (VRoid heads), tiny (CPU tests and the demo) and small (the
released CPU model: tiny's networks with body's plane structure, super-resolved to 128 px).

A preset fixes the box and cameras of its data preset (training/data/layout.py) and the network sizes.
Ablations are switches on top of a preset (fusion mode, encoder kind, mask_d, superresolution), never other
modules; their choices are the Literal types of the model configs (FusionMode, EncoderKind).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, get_args

from training.model.backbone import BackboneConfig
from training.data.layout import PRESETS as DATA_PRESETS
from training.model.decoder import DecoderConfig
from training.model.discriminator import DiscriminatorConfig
from training.model.encoder import EncoderConfig, EncoderKind
from training.model.fusion import FusionConfig, FusionMode
from training.model.superresolution import SuperResolutionConfig
from training.model.triplane import GeneratorConfig
from training.model.volumetric_rendering.renderer import RenderConfig

DIRECTION_PRIOR = 3.0  # the attention's initial front/back bias (FusionConfig.direction_prior): +-3 on the two
# logits of a ray looking straight at one side (weight 0.998 on that side's token when the tokens tie), 0 along x or y
# body and head are the paper's runs (the original's _configs/nova_human and nova_head attention run configs pass
# --neural_rendering_resolution_final=96 --sr_channels_hidden=16; its SR resizes the render to 128 first).
# Measured on CPU at batch 1 (docs/PERFORMANCE.md): SR 16/8 channels instead of 256/128 takes the G step from
# 23.6 to 14.1 s and 7.8 to 6.1 GB, render 96 instead of 128 takes 26 % off the G step and 1.8 GB. Snapshots
# keep the values they were trained with (their model config is stored and is what loading and --resume use).
PAPER_NEURAL_RESOLUTION = 96
PAPER_SR_INPUT = 128
PAPER_SR_HIDDEN = 16
ModelPreset = Literal["body", "head", "tiny", "small"]
MODEL_PRESETS: tuple[str, ...] = get_args(ModelPreset)


@dataclass
class ModelConfig:
    data_preset: str
    generator: GeneratorConfig
    discriminator: DiscriminatorConfig
    cond_resolution: int  # the condition images' size the data loader serves


def model_config(preset: ModelPreset, fusion: FusionMode = "attention", encoder: EncoderKind = "pat",
                 mask_d: bool = True, superresolution: bool = True,
                 neural_resolution: int | None = None) -> ModelConfig:
    """The networks of a preset with the ablation switches applied; neural_resolution replaces the preset's
    render size (super-resolution's input follows where the preset feeds it the render as it is: tiny and
    small; body and head resize the render to 128 first and keep doing so)."""
    if preset not in MODEL_PRESETS:
        raise ValueError(f"unknown model preset {preset!r}; choose one of {', '.join(MODEL_PRESETS)}")
    data = DATA_PRESETS["head" if preset == "head" else "body"]
    if preset in ("tiny", "small"):
        # small: 3 depth slices x 16 channels as body/head, a 32^2 render super-resolved 4x to 128 px; the
        # 64 px condition images match the 64^2 planes (finer input detail has nowhere to go)
        plane_channels, plane_depth = (8, 1) if preset == "tiny" else (16, 3)
        backbone = BackboneConfig(resolution=64, plane_channels=plane_channels, plane_depth=plane_depth,
                                  channel_base=2048, channel_max=128, mapping_layers=2)
        enc = EncoderConfig(kind=encoder, image_resolution=64, widths=(16, 32, 64, 128), depths=(1, 1, 1, 1),
                            out_channels=(128, 64, 32))
        neural, img, cond = 32, 64 if preset == "tiny" else 128, 64
        sr = SuperResolutionConfig(enabled=superresolution, input_resolution=neural, img_resolution=img,
                                   hidden_channels=32)
        disc = DiscriminatorConfig(img_resolution=img, channel_base=1024, channel_max=128, mapping_layers=2,
                                   mask_d=mask_d, mask_resolution=32, mask_channel_base=256, mask_channel_max=32)
        n_coarse = n_fine = 12  # the box-clipped interval keeps 24 samples per ray dense enough at 32 px
        fusion_cfg = FusionConfig(mode=fusion, plane_channels=plane_channels, dim=32, heads=4,
                                  direction_prior=DIRECTION_PRIOR)
    else:
        plane_channels = 16
        backbone = BackboneConfig(plane_channels=plane_channels)
        enc = EncoderConfig(kind=encoder)
        neural, img, cond = PAPER_NEURAL_RESOLUTION, 512, 512
        sr = SuperResolutionConfig(enabled=superresolution, input_resolution=PAPER_SR_INPUT, img_resolution=img,
                                   hidden_channels=PAPER_SR_HIDDEN)
        disc = DiscriminatorConfig(img_resolution=img, mask_d=mask_d)
        n_coarse = n_fine = 48
        fusion_cfg = FusionConfig(mode=fusion, plane_channels=plane_channels, direction_prior=DIRECTION_PRIOR)
    if neural_resolution is not None:
        if not 8 <= neural_resolution <= img:
            raise ValueError(f"neural resolution {neural_resolution} is outside 8..{img} (the {preset} preset's images)")
        if sr.input_resolution == neural:
            sr = replace(sr, input_resolution=neural_resolution)
        neural = neural_resolution
    gen = GeneratorConfig(box_warp=data.boxwarp, near=data.near, far=data.far, neural_resolution=neural,
                          backbone=backbone, encoder=enc, fusion=fusion_cfg,
                          decoder=DecoderConfig(in_dim=fusion_cfg.out_dim, drawing_colour=True), drawing_colour=True,
                          render=RenderConfig(box_warp=data.boxwarp, n_coarse=n_coarse, n_fine=n_fine), sr=sr)
    return ModelConfig(data_preset=data.name, generator=gen, discriminator=disc, cond_resolution=cond)
