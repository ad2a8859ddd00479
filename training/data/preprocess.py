"""A user's own front or back image -> a condition image framed like the training data.

Steps: read (EXIF orientation applied) -> background removal -> crop to the character -> scale and
place it in a square frame as the dataset's ortho views frame their characters -> resize to the
model's cond_resolution -> composite on white, (3, S, S) in [-1, 1]. The framed image keeps the
character's alpha as its A band (its RGB is already on white, so dropping A gives the condition image):
the silhouette that carving removes background density with (training/model/carving.py).

Background removal: an alpha channel with any transparent pixel is used as it is. Otherwise the
background colour is the median of the image's outermost pixel ring (white paper, a plain grey or
coloured backdrop), and the background is every pixel within ``tolerance`` of it (max over channels,
in [0, 1]) that is connected to the image border; a soft edge (alpha ramping over the outer half of
the tolerance) keeps anti-aliased outlines. Regions of background colour enclosed by the character
(between an arm and the body) stay: they are on white after compositing anyway when the backdrop is
white. With ``remove_background=False`` the image is taken as already framed like the training
views: it is only padded to a square with white (centred) and resized.

Framing rule (``FRAMINGS``), measured on the synthetic ortho views (the same rule places VRM
characters, training/data/synth/characters.py ``_fit``): body: the character's feet (the bottom of its
bounding box) sit at 96 % of the frame height (the box floor, y = -0.46 box_warp), its height fills
85 % of the frame (training characters span 78-90 %, mean 84 %) and its bounding box is centred
horizontally; a character wider than 92 % of the frame at that scale is scaled down to 92 %. Head:
the bust's bounding box is centred and its larger side fills 85 % of the frame. Front and back are
framed independently; an artist's front and back drawn at one scale come out at one scale.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

MIN_CHARACTER_PX = 32  # a character smaller than this (its bounding box's larger side) is rejected
DEFAULT_TOLERANCE = 0.1  # background keying tolerance, fraction of the colour range
ALPHA_FOREGROUND = 0.5  # alpha above which a pixel counts for the bounding box
PLAIN_BORDER_FRACTION = 0.5  # share of border pixels that must match the background colour


class ImageError(ValueError):
    """An unusable input image; the message is one line and names the file."""


@dataclass(frozen=True)
class Framing:
    """Where the character goes in the square frame (fractions of the frame size)."""

    height: float  # body: bbox height; head: the bbox's larger side
    max_width: float
    bottom: float | None  # bbox bottom (feet) row; None: centred vertically


FRAMINGS = {"body": Framing(height=0.85, max_width=0.92, bottom=0.96),
            "head": Framing(height=0.85, max_width=0.85, bottom=None)}


def load_rgba(path: Path) -> np.ndarray:
    """(H, W, 4) float32 in [0, 1], EXIF rotation applied; ImageError for anything unreadable."""
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode in ("I", "I;16", "I;16B", "F"):  # 16-bit / float greyscale: scale to 8 bit first
                arr = np.asarray(im, dtype=np.float32)
                im = Image.fromarray((arr / max(float(arr.max()), 1.0) * 255).astype(np.uint8))
            rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImageError(f"{path}: unreadable image ({reason})") from None
    if rgba.ndim != 3 or min(rgba.shape[:2]) < 1:
        raise ImageError(f"{path}: empty image")
    return rgba


def _border(x: np.ndarray) -> np.ndarray:
    return np.concatenate([x[0], x[-1], x[1:-1, 0], x[1:-1, -1]])


def remove_background(rgba: np.ndarray, tolerance: float = DEFAULT_TOLERANCE, name: str = "image") -> np.ndarray:
    """RGBA with the background made transparent (module docstring); raises ImageError for a busy border."""
    alpha = rgba[..., 3]
    if alpha.min() < 1.0 - 1.0 / 255:
        return rgba
    rgb = rgba[..., :3]
    colour = np.median(_border(rgb), axis=0)
    distance = np.abs(rgb - colour).max(-1)
    near = distance <= tolerance
    if _border(near).mean() < PLAIN_BORDER_FRACTION:
        raise ImageError(f"{name}: no transparent or plain background to remove (use an RGBA image, or "
                         f"--no-bg-removal for an image already framed like the training views)")
    labels, _ = ndimage.label(near)
    touching = np.unique(_border(labels))
    background = np.isin(labels, touching[touching > 0])
    ramp = np.clip((distance - tolerance / 2) / (tolerance / 2), 0.0, 1.0)
    out = rgba.copy()
    out[..., 3] = np.where(background, ramp, 1.0)
    return out


def _on_white(rgba: np.ndarray) -> np.ndarray:
    return rgba[..., :3] * rgba[..., 3:] + (1.0 - rgba[..., 3:])


def _to_image(rgb: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(rgb, 0, 1) * 255).round().astype(np.uint8))


def _resized(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    """BOX when shrinking (as the data loader resizes its condition images), bicubic when enlarging."""
    if im.size == size:
        return im
    return im.resize(size, Image.BOX if size[0] <= im.size[0] else Image.BICUBIC)


def _with_alpha(rgba: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """RGBA image: RGB composited on white, then resized (as before silhouettes were kept, so condition
    images are unchanged), and the alpha resized the same way as the A band."""
    rgb = _resized(_to_image(_on_white(rgba)), size)
    alpha = _resized(Image.fromarray((np.clip(rgba[..., 3], 0, 1) * 255).round().astype(np.uint8)), size)
    rgb.putalpha(alpha)
    return rgb


def frame_character(rgba: np.ndarray, framing: Framing, size: int, name: str = "image") -> Image.Image:
    """Crop to the character, scale and place it by the framing rule on a size x size RGBA frame (RGB on
    white, A the character's alpha)."""
    ys, xs = np.nonzero(rgba[..., 3] > ALPHA_FOREGROUND)
    if len(ys) == 0:
        raise ImageError(f"{name}: empty: no character found (the whole image is background)")
    top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    h, w = bottom - top, right - left
    if max(h, w) < MIN_CHARACTER_PX:
        raise ImageError(f"{name}: character too small ({w}x{h} px; needs at least {MIN_CHARACTER_PX} px)")
    span = h if framing.bottom is not None else max(h, w)
    scale = min(framing.height * size / span, framing.max_width * size / w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    crop = _with_alpha(rgba[top:bottom, left:right], (new_w, new_h))
    x0 = round(size / 2 - new_w / 2)
    y0 = round(framing.bottom * size - new_h) if framing.bottom is not None else round(size / 2 - new_h / 2)
    frame = Image.new("RGBA", (size, size), (255, 255, 255, 0))
    frame.paste(crop, (x0, y0))
    return frame


def pad_to_square(rgba: np.ndarray, size: int) -> Image.Image:
    """The whole image padded to a centred square and resized, RGBA as frame_character's (no background
    removal: the image's own alpha, opaque for an image without one)."""
    h, w = rgba.shape[:2]
    side = max(h, w)
    square = np.zeros((side, side, 4), dtype=np.float32)
    square[..., :3] = 1.0
    top, left = (side - h) // 2, (side - w) // 2
    square[top:top + h, left:left + w] = rgba
    return _with_alpha(square, (size, size))


def resize_framed(image: Image.Image, size: int) -> Image.Image:
    """A framed image (frame_character's or pad_to_square's) at size x size, resized as framing resizes:
    RGB (on white) and the A band separately, BOX when shrinking, as the data loader shrinks its renders
    to condition images."""
    if image.size == (size, size):
        return image
    rgb = _resized(image.convert("RGB"), (size, size))
    if "A" in image.getbands():
        rgb.putalpha(_resized(image.getchannel("A"), (size, size)))
    return rgb


def to_condition(image: Image.Image) -> torch.Tensor:
    """A framed image (RGB on white, any A band ignored) -> (3, S, S) float in [-1, 1], as the dataset
    serves condition images."""
    arr = np.asarray(image.convert("RGB"), dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def to_silhouette(image: Image.Image) -> torch.Tensor:
    """A framed image's alpha -> (1, S, S) float in [0, 1] (all ones for an image without an A band)."""
    if "A" not in image.getbands():
        return torch.ones(1, image.height, image.width)
    arr = np.asarray(image.getchannel("A"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr)[None].contiguous()


def prepare_image(path: Path, preset: str, size: int, remove_bg: bool = True,
                  tolerance: float = DEFAULT_TOLERANCE) -> Image.Image:
    """A user image file -> the framed condition image (size x size) the model will see: RGBA, RGB on
    white (to_condition) and the character's alpha (to_silhouette)."""
    if preset not in FRAMINGS:
        raise ValueError(f"unknown preset '{preset}' (choose from {', '.join(FRAMINGS)})")
    rgba = load_rgba(path)
    if not remove_bg:
        if min(rgba.shape[:2]) < MIN_CHARACTER_PX:
            raise ImageError(f"{path}: image too small ({rgba.shape[1]}x{rgba.shape[0]} px; needs at least "
                             f"{MIN_CHARACTER_PX} px)")
        return pad_to_square(rgba, size)
    return frame_character(remove_background(rgba, tolerance, str(path)), FRAMINGS[preset], size, str(path))
