"""Rendering one character from many cameras: the one renderer, and the one set of inference settings,
behind generate, reconstruct, measure and the training sample grids.

Takes a generator built with the inference settings (``InferenceSettings``: load_generator for a
snapshot, ``inference_generator`` for the trainer's G_ema), one character's planes (``make_character_planes``, made once per character) and
camera labels (training/infer/cameras.py); gives batches of rendered views (``RenderedViews``): float
images, alpha and surface points, and their 8-bit forms as files store them. Everything is
deterministic: the mapping network's mean latent, noise 'const', and the renderer in eval mode (fixed,
unjittered samples along each ray), so two runs give the same pixels.

Output size: the neural render runs at neural_resolution * size / img_resolution (at most
neural_resolution) rays per side, the super-resolution network brings it to img_resolution and the
result is resized to the requested size; so small previews cost proportionally fewer rays and the
default size (img_resolution) renders exactly what the model was trained to produce. A model without
super-resolution (--no-sr) has nothing to bring a small render up with: it renders one ray per output
pixel, so planes fitted to full-size drawings (training/infer/refine.py) keep their detail. Surface points
(alpha, xyz) can be asked for at another ray count (``surface_size``): the geometry metrics render them
at the ground truth's resolution, without the image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from training.data.layout import DataPreset
from training.infer.cameras import drawing_silhouettes
from training.model.carving import Silhouettes
from training.model.triplane import GeneratorConfig, NovaGenerator, Planes
from training.model.volumetric_rendering.renderer import RenderConfig


@dataclass(frozen=True)
class InferenceSettings:
    """How every image users see is rendered: generate, reconstruct, measure (so its table describes
    those images) and the trainer's sample grids all build their generator from one of these.

    The sample-count rule: ``samples`` coarse and ``samples`` fine samples per ray when given, else
    ``sample_scale`` times the trained counts (48 + 48 -> 96 + 96 for the body and head presets; a
    model without fine samples keeps none). Training keeps its own counts for speed; inference takes
    twice as many, which only changes how finely the field is sampled, never the weights.
    """

    sample_scale: int = 2
    """Samples per ray as a multiple of the trained counts (coarse and fine each)."""
    samples: int | None = None
    """Coarse and fine samples per ray each, instead of the scaled trained counts (generate's --samples)."""
    chunk: int | None = None
    """Rays per batch element per field call (memory only); None: the trained setting."""
    carve: bool = False
    """Remove density where the drawings show background (GeneratorConfig.carve; training/model/carving.py),
    for planes made with the drawings' silhouettes: front and back silhouettes then match the drawings.
    Off by default: on both validation sets it cost more colour than it gained outline (docs/RESULTS.md)."""

    def render_config(self, trained: RenderConfig) -> RenderConfig:
        """The trained render config with these sample counts and chunk."""
        n_coarse = self.samples or self.sample_scale * trained.n_coarse
        n_fine = (self.samples or self.sample_scale * trained.n_fine) if trained.n_fine else 0
        return replace(trained, n_coarse=n_coarse, n_fine=n_fine, chunk=trained.chunk if self.chunk is None else self.chunk)

    def generator_config(self, trained: GeneratorConfig) -> GeneratorConfig:
        """A copy of the trained generator config whose renderer (and carving) uses these settings."""
        return replace(trained, render=self.render_config(trained.render or RenderConfig(box_warp=trained.box_warp)),
                       carve=self.carve)


def inference_generator(trained: GeneratorConfig, state: dict[str, torch.Tensor], settings: InferenceSettings,
                        device: torch.device | str = "cpu") -> NovaGenerator:
    """A generator with the trained config and weights ``state``, rendering with ``settings``: eval
    mode, no gradients, on device. Its initial weights are drawn under a forked RNG, so building one
    leaves the global RNG as it was (the trainer's sample grids build one from G_ema at every snapshot).
    RuntimeError when the state does not fit the config."""
    with torch.random.fork_rng(devices=[]):
        G = NovaGenerator(settings.generator_config(trained))
    G.load_state_dict(state)
    return G.to(device).eval().requires_grad_(False)


@torch.no_grad()
def make_character_planes(G: NovaGenerator, cond_front: torch.Tensor, cond_back: torch.Tensor,
                          feat_front: torch.Tensor | None = None, feat_back: torch.Tensor | None = None,
                          silhouettes: Silhouettes | None = None) -> Planes:
    """Planes of one character (condition images (3, S, S) or (1, 3, S, S) in [-1, 1] on white), or of N
    characters in one backbone call (N, 3, S, S): render_views takes one character's slice of them.
    silhouettes: the drawings' (drawing_silhouettes), kept with the planes for carving."""
    device = next(G.parameters()).device

    def batch(x: torch.Tensor | None) -> torch.Tensor | None:
        return None if x is None else (x if x.ndim == 4 else x[None]).to(device, torch.float32)

    front = batch(cond_front)
    if silhouettes is not None:
        silhouettes = silhouettes.map(lambda t: t.to(device, torch.float32))
    return G.make_planes(front, batch(cond_back), G.mean_ws(len(front)), batch(feat_front), batch(feat_back),
                         noise_mode="const", silhouettes=silhouettes)


def item_planes(G: NovaGenerator, item: dict, preset: DataPreset) -> Planes:
    """Planes of one dataset item (NovaHumanDataset's: condition images, features where served, and the
    drawings' silhouettes, carved when G's inference settings say so); the preset gives their cameras."""
    silhouettes = drawing_silhouettes(preset, item["silhouette_front"], item["silhouette_back"])
    return make_character_planes(G, item["cond_front"], item["cond_back"], item.get("feat_front"),
                                 item.get("feat_back"), silhouettes=silhouettes)


def neural_size(G: NovaGenerator, size: int) -> int:
    """Rays per side of the neural render for an output of size x size (module docstring); a model
    without super-resolution renders one ray per output pixel."""
    if not G.cfg.sr.enabled:
        return size
    img = G.cfg.sr.img_resolution
    return max(1, min(G.cfg.neural_resolution, math.ceil(G.cfg.neural_resolution * size / img)))


def _resize(x: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    if x.shape[-1] == size:
        return x
    if mode == "nearest":
        return F.interpolate(x, size=(size, size), mode="nearest")
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=x.shape[-1] > size)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(b, C, H, W) in [0, 1] -> (b, H, W, C) uint8."""
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


@dataclass
class RenderedViews:
    """A batch of b rendered views of one character, on the render device.

    ``image`` is what the metrics compare; ``alpha`` and ``xyz`` are rendered at the surface ray count,
    unresized (the geometry metrics' surface points); ``rgb`` and ``xyza`` are the 8-bit images files store.
    """

    image: torch.Tensor
    """(b, 3, size, size) in [0, 1]: the super-resolved image, resized to the requested size."""
    alpha: torch.Tensor
    """(b, 1, r, r) accumulated alpha at r rays per side (the neural render's unless surface_size)."""
    xyz: torch.Tensor
    """(b, 3, r, r) the expected surface point of each ray, in world units."""
    box_warp: float
    """The box width that the xyza encoding divides by."""

    @cached_property
    def rgb(self) -> np.ndarray:
        """(b, size, size, 3) uint8."""
        return to_uint8(self.image)

    @cached_property
    def xyza(self) -> np.ndarray:
        """(b, size, size, 4) uint8 in the dataset's encoding: RGB = (p + box_warp/2) / box_warp of the
        surface point (nearest resize), A = alpha (bilinear resize)."""
        size = self.image.shape[-1]
        xyz = _resize((self.xyz + self.box_warp / 2) / self.box_warp, size, "nearest")
        return to_uint8(torch.cat([xyz, _resize(self.alpha, size, "bilinear")], 1))


@torch.no_grad()
def render_views(G: NovaGenerator, planes: Planes, labels: torch.Tensor, size: int | None = None,
                 batch: int = 4, surface_size: int | None = None) -> Iterator[RenderedViews]:
    """Render planes of ONE character from labels (V, 25), batch cameras per call, at size x size
    (default: the model's image resolution); yields RenderedViews in label order. surface_size: rays
    per side of alpha and xyz (default: the neural render's); another count renders them again, alone."""
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    device = planes.front.device
    size = size or G.cfg.sr.img_resolution
    rays = neural_size(G, size)
    for start in range(0, len(labels), batch):
        lab = labels[start:start + batch].to(device)
        b = len(lab)
        expanded = planes.expand(b)
        out = G.render(expanded, lab, resolution=rays, noise_mode="const")
        # without super-resolution the raw render is the image (G's output is it resized to img_resolution)
        image = _resize((out.image if G.cfg.sr.enabled else out.image_raw).float(), size, "bilinear")
        surface = out if surface_size in (None, rays) else G.renderer(G.field(expanded), lab, surface_size,
                                                                        G.cfg.near, G.cfg.far)
        yield RenderedViews(image=(image + 1) / 2, alpha=surface.alpha.float(), xyz=surface.xyz.float(),
                            box_warp=G.cfg.box_warp)
