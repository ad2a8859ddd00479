"""Writes one character's rendered views into the NOVA-Human layout (synthetic and VRM renders alike).

Every PNG goes to a temporary name first and is moved into place with os.replace, so a killed job
never leaves a truncated file behind and "the file exists" means "the file is complete".
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image

from training.data.synth.gl_render import Render
from training.geometry.camera import RenderParams
from training.data.layout import DTYPE_GROUPS, Renderset

PNG_COMPRESS_LEVEL = 1  # zlib level 1: about as small as 6 on these flat images, several times faster


@dataclass
class View:
    """One rendered view: its image dtype (rgb, ortho or rgb60), view name, camera and pixels."""

    dtype: str
    name: str
    params: RenderParams
    render: Render


def write_png(path: Path, pixels: np.ndarray) -> None:
    """Write an 8-bit PNG (L for 2-D arrays, RGBA for (H, W, 4)) atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(buffer.getvalue())
    os.replace(tmp, path)


def encode_xyza(render: Render, boxwarp: float) -> np.ndarray:
    """RGB = (p + bw/2) / bw in 8 bits (zero where no surface covers the pixel centre), A = the colour
    image's alpha, so the xyza alpha and the mask agree."""
    xyz = np.rint((render.xyz / boxwarp + 0.5) * 255).clip(0, 255).astype(np.uint8)
    xyz[~render.hit] = 0
    return np.concatenate([xyz, render.rgba[..., 3:]], -1)


def decode_xyza(pixels: np.ndarray, boxwarp: float) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of encode_xyza: world points (H, W, 3) and alpha in [0, 1]."""
    pixels = pixels.astype(np.float32) / 255
    return (pixels[..., :3] - 0.5) * boxwarp, pixels[..., 3]


def write_view(renderset: Renderset, char_id: str, view: View) -> None:
    """The image, its mask (where the dtype has one) and its xyza."""
    mask_dtype, xyza_dtype = DTYPE_GROUPS[view.dtype]
    write_png(renderset.path(view.dtype, char_id, view.name), view.render.rgba)
    if mask_dtype is not None:
        write_png(renderset.path(mask_dtype, char_id, view.name), view.render.mask.astype(np.uint8) * 255)
    write_png(renderset.path(xyza_dtype, char_id, view.name), encode_xyza(view.render, view.params.boxwarp))


def meta_entry(renderset: Renderset, char_id: str, dtype: str, name: str, params: RenderParams) -> tuple[str, dict]:
    return renderset.meta_key(dtype, char_id, name), {"render_params": params.to_meta()}


def write_character(renderset: Renderset, char_id: str, views: Iterable[View]) -> dict[str, dict]:
    """Write every view (consumed one at a time) and return the character's meta entries."""
    meta = {}
    for view in views:
        write_view(renderset, char_id, view)
        key, value = meta_entry(renderset, char_id, view.dtype, view.name, view.params)
        meta[key] = value
    return meta
