"""The measure protocol: a trained generator's image and geometry metrics on a dataset split.

Takes a snapshot, a data root, preset and split, the protocol, the comparison resolution and the
feature networks that could be loaded; gives the results dict that metrics.json holds
(training/eval/report.py formats it). Per test character the generator renders the subsets' cameras
exactly as generate does (mean latent, constant noise, training/infer/render.py's InferenceSettings and
render_views at the trained image size), so the table describes the images users see: front, back,
left, right (the ortho views) and 360 (the elevation-0 ring of the 60-view grid, rgb60 0036..0047,
when the character has it; else its random views). Per subset: PSNR, SSIM x100, LPIPS x100 (AlexNet
v0.1), CLIP x100 (ViT-B/32 cosine), FID (pred vs true images of the subset, with its image count).
Geometry: chamfer x100, F1@0.005 and F1@0.01 x100 between the surface points (alpha above the
dataset's mask rule, in both) of the predicted xyz/alpha and of the true xyza images over the same
views, from 10k points of each cloud to all points of the other; the predicted xyz/alpha are rendered at the
true xyza images' resolution (one ray per true pixel, so a perfect model scores chamfer 0 and F1 100;
at the neural render's coarser ray grid even a perfect surface could not), and a character with no
predicted surface gets the worst scores (training/metrics/geometry.py). Values are means over
characters (a character's 360 value is the mean over its ring). Predicted and true images are compared
at the given resolution (nearest resize), composited on white, uncropped, as 8-bit images.

The model enters only through a ViewRenderer (``generator_renderer`` for a snapshot), so tests can
stand a known answer in for it (``score_split``).

Protocols: 'standard' (PSNR range 1, Gaussian 11x11 SSIM, LPIPS on [-1, 1]) and 'paper', which
reproduces the original measure script's choices, mistakes included (LPIPS fed [0, 1] images, PSNR
range from each target, uniform 3x3 SSIM).
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from training.data.checks import DatasetError, stored_size
from training.data.dataset import DatasetConfig, NovaHumanDataset, read_png
from training.data.layout import DTYPE_GROUPS, PRESETS, SPIN_INDICES, DataPreset, random_view_name
from training.data.validate import validate_characters
from training.eval.report import COMMON_TEXT, GEOMETRY_METRICS, IMAGE_METRICS, ORTHO_SUBSETS, PROTOCOL_TEXT, SUBSETS
from training.infer.load import LoadedGenerator, load_generator
from training.infer.render import InferenceSettings, item_planes, render_views
from training.metrics import weights
from training.metrics.feature_nets.clip_vit import load_clip
from training.metrics.feature_nets.inception import load_inception
from training.metrics.fid import MIN_IMAGES, fid_from_features
from training.metrics.geometry import SURFACE_ALPHA_THRESHOLD, empty_prediction_scores, geometry_scores, surface_points
from training.metrics.image import protocol_psnr, protocol_ssim
from training.metrics.perceptual import from_weights as lpips_from_weights
from training.model.triplane import NovaGenerator

ViewRenderer = Callable[[dict, torch.Tensor, int], dict[str, torch.Tensor]]
"""How measure sees a model: (dataset item, camera labels (V, 25), surface rays per side s) ->
{"image": (V, 3, S, S) in [0, 1], "alpha": (V, 1, s, s), "xyz": (V, 3, s, s) world units}, in label order."""


class MeasureError(ValueError):
    """A bad input that ends the measurement; the message is one line."""


@dataclass
class FeatureNets:
    """The learned metrics' networks that could be loaded; ``missing`` maps a metric to its n/a text."""

    lpips: torch.nn.Module | None = None
    clip: torch.nn.Module | None = None
    inception: torch.nn.Module | None = None
    missing: dict[str, str] = field(default_factory=dict)


def load_feature_nets(alexnet: str | None, heads: str | None, clip: str | None, inception: str | None,
                      strict: bool, device: torch.device) -> FeatureNets:
    """Every network found by the weights policy, on device; missing ones become n/a (--strict: error)."""
    nets = FeatureNets()
    try:
        nets.lpips, description = lpips_from_weights(alexnet, heads, strict=strict)
        if nets.lpips is None:
            nets.missing["lpips"] = description
        for metric, attr, name, path, loader in (("clip", "clip", "clip_vit_b32", clip, load_clip),
                                                 ("fid", "inception", "inception_fid", inception, load_inception)):
            found = weights.require(name, path) if strict else weights.resolve(name, path)
            if found is None:
                nets.missing[metric] = weights.describe_missing(name)
            else:
                setattr(nets, attr, loader(found))
    except weights.WeightsMissing as exc:
        raise MeasureError(f"--strict: {exc}") from None
    for net in (nets.lpips, nets.clip, nets.inception):
        if net is not None:
            net.to(device)
    return nets


def eval_images(images: torch.Tensor, res: int) -> torch.Tensor:
    """Images (N, 3, H, W) in [0, 1] as the metrics see them: 8-bit, resized to res x res with PIL's
    nearest rule (``nearest-exact``)."""
    images = (images.clamp(0, 1) * 255).round() / 255
    if images.shape[-2:] != (res, res):
        images = F.interpolate(images, size=(res, res), mode="nearest-exact")
    return images


def ring_views(ds: NovaHumanDataset, index: int) -> tuple[str, list[str]]:
    """The 360 subset of a character: its rgb60 ring (elevation 0) when it has one, else its random views."""
    char = ds.chars[index]
    ring = [random_view_name(k) for k in SPIN_INDICES]
    if all(v in char.views.get("rgb60", {}) for v in ring):
        return "rgb60", ring
    return "rgb", char.random_views()


def read_views(ds: NovaHumanDataset, index: int, dtype: str, views: list[str]) -> dict[str, torch.Tensor]:
    """Targets of some views: rgb on white in [0, 1], alpha and world xyz (from the xyza images), labels."""
    char = ds.chars[index]
    xyza_dtype = DTYPE_GROUPS[dtype][1]
    rgb, alpha, xyz, labels = [], [], [], []
    for view in views:
        rgba = read_png(ds.rs.path(dtype, char.char_id, view))
        xyza = read_png(ds.rs.path(xyza_dtype, char.char_id, view))
        rgb.append(rgba[:3] * rgba[3:] + 1 - rgba[3:])
        alpha.append(xyza[3:])
        xyz.append(xyza[:3] * ds.boxwarp - ds.boxwarp / 2)
        labels.append(char.views[dtype][view].label())
    return {"rgb": torch.stack(rgb), "alpha": torch.stack(alpha), "xyz": torch.stack(xyz), "label": torch.stack(labels)}


def _seed(char_id: str, what: str) -> int:
    return zlib.crc32(f"{char_id}/{what}".encode())


@dataclass
class Tally:
    """Per-character metric means and the subsets' Inception features, accumulated over characters;
    ``empty_surfaces``: characters whose renders have no surface pixel."""

    values: dict[str, dict[str, list[float]]] = field(
        default_factory=lambda: {s: {m: [] for m in IMAGE_METRICS if m != "fid"} for s in SUBSETS})
    features: dict[str, dict[str, list[torch.Tensor]]] = field(
        default_factory=lambda: {s: {"pred": [], "true": []} for s in SUBSETS})
    images: dict[str, int] = field(default_factory=lambda: {s: 0 for s in SUBSETS})
    geometry: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in GEOMETRY_METRICS})
    empty_surfaces: list[str] = field(default_factory=list)


@torch.no_grad()
def score_subset(tally: Tally, subset: str, pred: torch.Tensor, true: torch.Tensor, nets: FeatureNets,
                 protocol: str, device: torch.device) -> None:
    """Adds one character's images of one subset (V, 3, R, R) in [0, 1] to the tally."""
    pred, true = pred.to(device), true.to(device)
    row = tally.values[subset]
    row["psnr"].append(protocol_psnr(pred, true, protocol).mean().item())
    row["ssim"].append(100 * protocol_ssim(pred, true, protocol).mean().item())
    if nets.lpips is not None:
        a, b = (pred, true) if protocol == "paper" else (pred * 2 - 1, true * 2 - 1)
        row["lpips"].append(100 * nets.lpips(a, b).mean().item())
    if nets.clip is not None:
        row["clip"].append(nets.clip.similarity(pred, true).mean().item())
    if nets.inception is not None:
        tally.features[subset]["pred"].append(nets.inception(pred).cpu())
        tally.features[subset]["true"].append(nets.inception(true).cpu())
    tally.images[subset] += len(pred)


def score_geometry(tally: Tally, char_id: str, pred: dict[str, torch.Tensor], true: dict[str, torch.Tensor],
                   box_warp: float, device: torch.device) -> None:
    """Adds one character's chamfer and F-scores (surface points over all its measured views); no
    predicted surface point scores the worst (empty_prediction_scores of the box)."""
    p = surface_points(pred["xyz"], pred["alpha"], SURFACE_ALPHA_THRESHOLD)
    t = surface_points(true["xyz"], true["alpha"], SURFACE_ALPHA_THRESHOLD)
    if len(t) == 0:
        raise DatasetError(f"character {char_id}: its xyza images have no foreground pixel")
    if len(p) == 0:
        tally.empty_surfaces.append(char_id)
        scores = empty_prediction_scores(box_warp)
    else:
        scores = geometry_scores(p.to(device), t.to(device), seed=_seed(char_id, "geometry"))
    for name, value in scores.items():
        tally.geometry[name].append(value)


def open_dataset(data: Path, preset: str, split: str, generator: LoadedGenerator) -> NovaHumanDataset:
    """The split at its stored resolution (targets unresized), condition images as the model was trained."""
    probe = NovaHumanDataset(DatasetConfig(root=str(data), preset=preset, split=split))
    size = stored_size(probe.rs, {c.char_id: c for c in probe.chars})
    if size is None:
        raise DatasetError(f"{probe.rs.dir}: no readable ortho front image to take the resolution from")
    return NovaHumanDataset(DatasetConfig(root=str(data), preset=preset, split=split, resolution=size,
                                          cond_resolution=generator.model.cond_resolution,
                                          use_features=generator.G.cfg.use_precomputed_features, silhouettes=True))


def summarize(tally: Tally, nets: FeatureNets, box_warp: float) -> tuple[dict, dict, list[str]]:
    """Subset table, geometry row and notes from the tally."""
    subsets, notes = {}, []
    for s in SUBSETS:
        row: dict = {"images": tally.images[s]}
        for m in IMAGE_METRICS[:-1]:
            vals = tally.values[s][m]
            row[m] = float(np.mean(vals)) if vals else None
        feats = tally.features[s]
        row["fid"] = (fid_from_features(torch.cat(feats["pred"]), torch.cat(feats["true"]))
                      if nets.inception is not None and tally.images[s] >= MIN_IMAGES else None)
        subsets[s] = row
    if nets.inception is not None:
        notes.append(f"FID needs >= {MIN_IMAGES} images per set and is biased for sets much smaller than its "
                     f"2048 feature dimensions: read it with the image count beside it")
    geometry = {"characters": len(tally.geometry[GEOMETRY_METRICS[0]])}
    geometry.update({m: float(np.mean(v)) if v else None for m, v in tally.geometry.items()})
    if tally.empty_surfaces:
        worst = empty_prediction_scores(box_warp)["chamfer"]
        notes.append(f"geometry: no predicted surface (alpha > {SURFACE_ALPHA_THRESHOLD:.3f}) for "
                     f"{len(tally.empty_surfaces)} character(s) ({', '.join(tally.empty_surfaces[:5])}): scored "
                     f"the worst, F1 0 and chamfer x100 {worst:.1f} (the box diagonal), and counted in the means")
    return subsets, geometry, notes


def generator_renderer(G: NovaGenerator, preset: DataPreset, batch: int = 4) -> ViewRenderer:
    """The ViewRenderer of a generator: its planes of the item's condition images (with their
    silhouettes, carved when G's inference settings say so), render_views at its image size with batch
    cameras per call, the surface at the asked ray count."""
    def render(item: dict, labels: torch.Tensor, surface_size: int) -> dict[str, torch.Tensor]:
        planes = item_planes(G, item, preset)
        rendered = list(render_views(G, planes, labels, batch=batch, surface_size=surface_size))
        return {k: torch.cat([getattr(r, k).cpu() for r in rendered]) for k in ("image", "alpha", "xyz")}
    return render


def score_split(ds: NovaHumanDataset, count: int, render: ViewRenderer, protocol: str, res: int, nets: FeatureNets,
                device: torch.device, progress: bool = True) -> Tally:
    """Renders the first count characters of ds through render and scores them against their files."""
    tally = Tally()
    for i in tqdm(range(count), desc="measure", unit="char", disable=not progress):
        item = ds[i]
        ring_dtype, ring_names = ring_views(ds, i)
        ring = read_views(ds, i, ring_dtype, ring_names)
        true = {"rgb": torch.cat([(item["ortho_rgb"] + 1) / 2, ring["rgb"]]),
                "alpha": torch.cat([item["ortho_alpha"], ring["alpha"]]),
                "xyz": torch.cat([item["ortho_xyz"], ring["xyz"]])}
        pred = render(item, torch.cat([item["ortho_label"], ring["label"]]), true["xyz"].shape[-1])
        pred_rgb, true_rgb = eval_images(pred["image"], res), eval_images(true["rgb"], res)
        for k, s in enumerate(ORTHO_SUBSETS):
            score_subset(tally, s, pred_rgb[k:k + 1], true_rgb[k:k + 1], nets, protocol, device)
        score_subset(tally, "360", pred_rgb[len(ORTHO_SUBSETS):], true_rgb[len(ORTHO_SUBSETS):], nets, protocol, device)
        score_geometry(tally, item["id"], pred, true, ds.boxwarp, device)
    return tally


def measure(snapshot: Path, name: str, data: Path, preset: str | None, split: str, limit: int | None,
            protocol: str, res: int, nets: FeatureNets, device: torch.device, batch: int = 4,
            chunk: int | None = None, progress: bool = True, carve: bool = False) -> dict:
    """Renders (as generate does) and scores the split; returns the results dict that metrics.json holds.
    carve: density outside the condition images' silhouettes removed (InferenceSettings.carve)."""
    gen = load_generator(snapshot, device, InferenceSettings(chunk=chunk, carve=carve))
    preset = preset or gen.model.data_preset
    if preset != gen.model.data_preset:
        raise MeasureError(f"{snapshot}: the snapshot models the '{gen.model.data_preset}' preset's box, "
                           f"not '{preset}'")
    ds = open_dataset(data, preset, split, gen)
    count = len(ds) if limit is None else min(limit, len(ds))
    validate_characters(ds.rs, ds.chars[:count])
    tally = score_split(ds, count, generator_renderer(gen.G, PRESETS[preset], batch), protocol, res, nets, device, progress)
    subsets, geometry, notes = summarize(tally, nets, ds.boxwarp)
    rc = gen.G.renderer.cfg
    render_text = (f"rendered as generate renders: {rc.n_coarse} + {rc.n_fine} samples per ray, images at "
                   f"{gen.G.cfg.sr.img_resolution} px, surface points at the true xyza images' {ds.cfg.resolution} px, "
                   + ("carved by the condition images' silhouettes (--carve)" if carve else "not carved"))
    return {"protocol": protocol, "protocol_text": PROTOCOL_TEXT[protocol], "common_text": COMMON_TEXT.format(res=res),
            "render_text": render_text, "samples_per_ray": [rc.n_coarse, rc.n_fine],
            "snapshot": name, "snapshot_path": str(snapshot), "trained_images": gen.images, "carved": carve,
            "data": str(data),
            "preset": preset,
            "renderset": ds.rs.name, "split": split, "characters": count, "resolution": res,
            "subsets": subsets, "geometry": geometry, "unavailable": dict(nets.missing), "notes": notes}
