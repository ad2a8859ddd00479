"""Fitting one character's planes to its own two drawings (test-time refinement), before rendering.

The generator makes a character's planes in one forward pass from its condition images (64 px for the
CPU presets); what it renders from the front and back then only approximates the drawings it was given
(a CPU-trained model blurs thin limbs and shifts colours). The front and back drawings are, exactly, what the front and back
ortho cameras should see, so the planes can be fitted to them: a few Adam steps on the two plane sets
(the networks stay fixed), each step rendering a random subset of rays of both drawings' cameras at the
drawings' full resolution and comparing colour (on white) and alpha. The sides have no drawing: their
silhouettes are held to what the generator's planes render there (the keep term), and the fit starts
from the generator's planes, so what it learned about depth stays; their colour is free.

The defaults (100 steps at lr 0.02, 1024 rays per drawing, the side silhouettes kept) were chosen on
the open real characters' validation split (docs/RESULTS.md); reconstruct, the web app and
measure_drawings fit by default (--refine-steps 0 turns it off).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import torch
from PIL import Image
from tqdm import tqdm

from training.data.layout import DataPreset
from training.data.preprocess import to_condition, to_silhouette
from training.geometry.camera import ray_bundle
from training.infer.cameras import ortho_views
from training.model.triplane import NovaGenerator, Planes


@dataclass(frozen=True)
class RefineSettings:
    """How the planes are fitted to the drawings (--refine-steps and --refine-lr of reconstruct, the web app
    and measure_drawings)."""

    steps: int = 100
    """Adam steps; 0 leaves the generator's planes as they are."""
    lr: float = 0.02
    """Adam's learning rate on the plane features."""
    rays: int = 1024
    """Random rays per view per step (of size x size), for each drawing and each kept side view."""
    alpha_weight: float = 1.0
    """Weight of the alpha term beside the colour term (both mean absolute errors)."""
    keep_weight: float = 1.0
    """Weight of keeping the side silhouettes as the generator made them: the alpha term on rays of the
    left and right ortho cameras against the unrefined planes' alpha (0: the drawings alone). Colour is
    free there, so the drawings' colours can reach the sides."""
    seed: int = 0
    """Seed of the ray draws and of the samples' jitter: the same drawings and settings give the same planes."""

    def __post_init__(self) -> None:
        if self.steps < 0 or self.rays < 1 or self.lr <= 0 or self.alpha_weight < 0 or self.keep_weight < 0:
            raise ValueError(f"refinement needs steps >= 0, rays >= 1, lr > 0, alpha_weight >= 0 and "
                             f"keep_weight >= 0, got {self}")


@dataclass
class DrawingTargets:
    """What the drawings' cameras must see: both drawings, their alpha and their cameras."""

    rgb: torch.Tensor
    """(2, 3, S, S) in [-1, 1], on white: front then back."""
    alpha: torch.Tensor
    """(2, 1, S, S) in [0, 1]."""
    labels: torch.Tensor
    """(2, 25): the preset's ortho front and back cameras."""
    keep_labels: torch.Tensor
    """(K, 25): cameras whose views the fit keeps as the generator made them (the ortho sides)."""


def drawing_targets(preset: DataPreset, front: Image.Image, back: Image.Image) -> DrawingTargets:
    """The targets of two framed drawings (RGBA, RGB on white; preprocess.prepare_image's), seen by the
    preset's ortho front and back cameras; the ortho left and right views are kept."""
    labels = ortho_views(preset).labels  # front, back, left, right
    return DrawingTargets(rgb=torch.stack([to_condition(front), to_condition(back)]),
                          alpha=torch.stack([to_silhouette(front), to_silhouette(back)]),
                          labels=labels[:2], keep_labels=labels[2:])


def refine_planes(G: NovaGenerator, planes: Planes, targets: DrawingTargets, settings: RefineSettings,
                  progress: Callable[[int, float], None] | None = None) -> Planes:
    """One character's planes (batch 1) fitted to its drawings; G and planes are not changed.

    Args:
        G: the generator (its renderer's sample counts are the ones the output is rendered with).
        planes: the generator's planes of this character.
        targets: the drawings at the resolution the fit compares (usually the output size).
        settings: steps, learning rate, rays per step, the keep term's weight, the seed.
        progress: called after each step with (step, loss).
    Returns:
        new Planes with the fitted plane sets (no gradients); latents and silhouettes unchanged.
    """
    if settings.steps == 0:
        return planes
    device = planes.front.device
    size = targets.rgb.shape[-1]
    labels, true = targets.labels.to(device), torch.cat([targets.rgb, targets.alpha], 1).to(device)
    colour_weight = torch.ones(len(labels), device=device)
    alpha_weight = torch.full((len(labels),), settings.alpha_weight, device=device)
    if settings.keep_weight > 0:
        keep = targets.keep_labels.to(device)
        with torch.no_grad():
            kept = G.renderer(G.field(planes.expand(len(keep))), keep, size, G.cfg.near, G.cfg.far)
        labels, true = torch.cat([labels, keep]), torch.cat([true, torch.cat([kept.rgb, kept.alpha], 1)])
        colour_weight = torch.cat([colour_weight, torch.zeros(len(keep), device=device)])
        alpha_weight = torch.cat([alpha_weight, torch.full((len(keep),), settings.keep_weight, device=device)])
    views = len(labels)
    origins, directions = ray_bundle(labels, size)  # (V, S S, 3) each, rays row-major
    true = true.flatten(2).transpose(1, 2)  # (V, S S, 4): RGB in [-1, 1] on white, alpha
    # per view (V, 1, 1), scaled so that the drawings weigh as much as they do alone
    colour_weight, alpha_weight = (w[:, None, None] * views / len(targets.labels) for w in (colour_weight, alpha_weight))
    fitted = replace(planes, front=planes.front.detach().clone().requires_grad_(True),
                     back=None if planes.back is None else planes.back.detach().clone().requires_grad_(True))
    params = [p for p in (fitted.front, fitted.back) if p is not None]
    optimizer = torch.optim.Adam(params, lr=settings.lr)
    # the ray draws and the samples' jitter come from settings.seed; the caller's random state is left as it was
    with (torch.enable_grad(), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []),
          tqdm(total=settings.steps, desc="refine", unit="step", leave=False, dynamic_ncols=True) as bar):
        torch.manual_seed(settings.seed)
        for step in range(settings.steps):
            pick = torch.randint(size * size, (views, settings.rays, 1), device=device)
            composite, _ = G.renderer.render_rays(G.field(fitted.expand(views)), origins.gather(1, pick.expand(-1, -1, 3)),
                                                  directions.gather(1, pick.expand(-1, -1, 3)),
                                                  G.cfg.near, G.cfg.far, jitter=True)
            seen = true.gather(1, pick.expand(-1, -1, 4))
            loss = ((colour_weight * (composite.features[..., :3] - seen[..., :3]).abs()).mean()
                    + (alpha_weight * (composite.alpha - seen[..., 3:]).abs()).mean())
            # gradients of the planes only: G's weights collect none, whether or not they require them
            for p, grad in zip(params, torch.autograd.grad(loss, params)):
                p.grad = grad
            optimizer.step()
            bar.update()
            if progress is not None:
                progress(step + 1, loss.item())
    return replace(fitted, front=fitted.front.detach(), back=None if fitted.back is None else fitted.back.detach())
