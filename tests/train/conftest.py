"""Training tests at the real presets' plane structure (3 depth slices x 16 channels) on the tiny sizes."""
from __future__ import annotations

from dataclasses import replace

from training.train.presets import ModelConfig, model_config


def full_structure_tiny() -> ModelConfig:
    """The tiny preset with body/head's planes: plane_depth 3, plane_channels 16 (tiny has 1 x 8)."""
    mc = model_config("tiny")
    g = mc.generator
    return replace(mc, generator=replace(g, backbone=replace(g.backbone, plane_depth=3, plane_channels=16),
                                         fusion=replace(g.fusion, plane_channels=16)))
