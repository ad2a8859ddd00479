"""Model presets: body (NOVA-Human), head (VRoid heads), tiny (CPU tests and the demo) and small (the
released CPU model: tiny's networks with body's plane structure, super-resolved to 128 px).

A preset fixes the box and cameras of its data preset (training/data/layout.py) and the network sizes.
Ablations are switches on top of a preset (fusion mode, encoder kind, mask_d, superresolution), never other
modules; their choices are the Literal types of the model configs (FusionMode, EncoderKind).
"""
from __future__ import annotations

from dataclasses import dataclass
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
ModelPreset = Literal["body", "head", "tiny", "small"]
MODEL_PRESETS: tuple[str, ...] = get_args(ModelPreset)


@dataclass
class ModelConfig:
    data_preset: str
    generator: GeneratorConfig
    discriminator: DiscriminatorConfig
    cond_resolution: int  # the condition images' size the data loader serves


def model_config(preset: ModelPreset, fusion: FusionMode = "attention", encoder: EncoderKind = "pat",
                 mask_d: bool = True, superresolution: bool = True) -> ModelConfig:
    """The networks of a preset with the ablation switches applied."""
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
        neural, img, cond = 128, 512, 512
        sr = SuperResolutionConfig(enabled=superresolution, input_resolution=neural, img_resolution=img)
        disc = DiscriminatorConfig(img_resolution=img, mask_d=mask_d)
        n_coarse = n_fine = 48
        fusion_cfg = FusionConfig(mode=fusion, plane_channels=plane_channels, direction_prior=DIRECTION_PRIOR)
    gen = GeneratorConfig(box_warp=data.boxwarp, near=data.near, far=data.far, neural_resolution=neural,
                          backbone=backbone, encoder=enc, fusion=fusion_cfg,
                          decoder=DecoderConfig(in_dim=fusion_cfg.out_dim, drawing_colour=True), drawing_colour=True,
                          render=RenderConfig(box_warp=data.boxwarp, n_coarse=n_coarse, n_fine=n_fine), sr=sr)
    return ModelConfig(data_preset=data.name, generator=gen, discriminator=disc, cond_resolution=cond)
