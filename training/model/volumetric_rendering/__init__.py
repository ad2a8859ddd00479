"""EG3D-style volume rendering: ray samplers, ray marcher and the renderer that ties them together."""
from training.model.volumetric_rendering.renderer import Field, RenderConfig, RenderOutput, VolumeRenderer

__all__ = ["Field", "RenderConfig", "RenderOutput", "VolumeRenderer"]
