"""The measure protocol: a trained generator's image and geometry metrics on a dataset split.

Takes a snapshot, a data root, preset and split, the protocol, the comparison resolution and the
feature networks that could be loaded; gives the results dict that metrics.json holds
(training/eval/report.py formats it). Per test character the generator (mean latent, constant noise,
the TRAINED samples per ray, training/infer/render.py's render_views at the trained image size)
renders the subsets' cameras: front, back, left, right (the ortho views) and 360 (the elevation-0 ring
of the 60-view grid, rgb60 0036..0047, when the character has it; else its random views). Per subset:
PSNR, SSIM x100, LPIPS x100 (AlexNet v0.1), CLIP x100 (ViT-B/32 cosine), FID (pred vs true images of
the subset, with its image count). Geometry: chamfer x100, F1@0.005 and F1@0.01 x100 between 10k
surface points of the predicted xyz/alpha renders and of the true xyza images over the same views.
Values are means over characters (a character's 360 value is the mean over its ring). Predicted and
true images are compared at the given resolution (nearest resize), composited on white, uncropped, as
8-bit images.

Protocols: 'standard' (PSNR range 1, Gaussian 11x11 SSIM, LPIPS on [-1, 1]) and 'paper', which
reproduces the original measure script's choices, mistakes included (LPIPS fed [0, 1] images, PSNR
range from each target, uniform 3x3 SSIM).
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from training.data.checks import DatasetError, stored_size
from training.data.dataset import DatasetConfig, NovaHumanDataset
from training.data.layout import DTYPE_GROUPS, MASK_THRESHOLD, SPIN_INDICES, random_view_name
from training.eval.report import COMMON_TEXT, GEOMETRY_METRICS, IMAGE_METRICS, ORTHO_SUBSETS, PROTOCOL_TEXT, SUBSETS
from training.infer.load import LoadedGenerator, load_generator
from training.infer.render import make_character_planes, render_views
from training.metrics import weights
from training.metrics.feature_nets.clip_vit import load_clip
from training.metrics.feature_nets.inception import load_inception
from training.metrics.fid import MIN_IMAGES, fid_from_features
from training.metrics.geometry import PRED_ALPHA_THRESHOLD, geometry_scores, sample_points, surface_points
from training.metrics.image import protocol_psnr, protocol_ssim
from training.metrics.perceptual import from_weights as lpips_from_weights


class MeasureError(Exception):
    """A problem that ends the measurement; the message is one line."""


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


def _read_png(path: Path) -> torch.Tensor:
    """An RGBA PNG as float (4, H, W) in [0, 1]; one-line DatasetError naming a bad file."""
    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing file") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(f"{path}: unreadable or truncated PNG ({exc})") from None
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)


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
        rgba = _read_png(ds.rs.path(dtype, char.char_id, view))
        xyza = _read_png(ds.rs.path(xyza_dtype, char.char_id, view))
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
                   device: torch.device) -> None:
    """Adds one character's chamfer and F-scores (surface points over all its measured views)."""
    p = surface_points(pred["xyz"], pred["alpha"], PRED_ALPHA_THRESHOLD)
    t = surface_points(true["xyz"], true["alpha"], MASK_THRESHOLD / 255)
    if len(t) == 0:
        raise DatasetError(f"character {char_id}: its xyza images have no foreground pixel")
    if len(p) == 0:  # nothing predicted: recall 0, so F1 0; the chamfer distance is undefined
        tally.empty_surfaces.append(char_id)
        for name in GEOMETRY_METRICS[1:]:
            tally.geometry[name].append(0.0)
        return
    scores = geometry_scores(sample_points(p, seed=_seed(char_id, "pred")).to(device),
                             sample_points(t, seed=_seed(char_id, "true")).to(device))
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
                                          use_features=generator.G.cfg.use_precomputed_features))


def summarize(tally: Tally, nets: FeatureNets) -> tuple[dict, dict, list[str]]:
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
    geometry = {"characters": len(tally.geometry[GEOMETRY_METRICS[1]])}
    geometry.update({m: float(np.mean(v)) if v else None for m, v in tally.geometry.items()})
    if tally.empty_surfaces:
        notes.append(f"geometry: no predicted surface (alpha > {PRED_ALPHA_THRESHOLD}) for "
                     f"{len(tally.empty_surfaces)} character(s) ({', '.join(tally.empty_surfaces[:5])}): F1 0, "
                     f"left out of the chamfer mean")
    return subsets, geometry, notes


def measure(snapshot: Path, name: str, data: Path, preset: str | None, split: str, limit: int | None,
            protocol: str, res: int, nets: FeatureNets, device: torch.device, batch: int = 4,
            chunk: int | None = None, progress: bool = True) -> dict:
    """Renders and scores the split; returns the results dict that metrics.json holds."""
    gen = load_generator(snapshot, device, chunk=chunk)  # the trained sample counts
    preset = preset or gen.model.data_preset
    if preset != gen.model.data_preset:
        raise MeasureError(f"{snapshot}: the snapshot models the '{gen.model.data_preset}' preset's box, "
                           f"not '{preset}'")
    ds = open_dataset(data, preset, split, gen)
    count = len(ds) if limit is None else min(limit, len(ds))
    tally = Tally()
    for i in tqdm(range(count), desc="measure", unit="char", disable=not progress):
        item = ds[i]
        planes = make_character_planes(gen.G, item["cond_front"], item["cond_back"], item.get("feat_front"),
                                       item.get("feat_back"))
        ring_dtype, ring_names = ring_views(ds, i)
        ring = read_views(ds, i, ring_dtype, ring_names)
        labels = torch.cat([item["ortho_label"], ring["label"]]).to(device)
        rendered = list(render_views(gen.G, planes, labels, batch=batch))  # at the trained image size
        pred = {k: torch.cat([getattr(r, k).cpu() for r in rendered]) for k in ("image", "alpha", "xyz")}
        true = {"rgb": torch.cat([(item["ortho_rgb"] + 1) / 2, ring["rgb"]]),
                "alpha": torch.cat([item["ortho_alpha"], ring["alpha"]]),
                "xyz": torch.cat([item["ortho_xyz"], ring["xyz"]])}
        pred_rgb, true_rgb = eval_images(pred["image"], res), eval_images(true["rgb"], res)
        for k, s in enumerate(ORTHO_SUBSETS):
            score_subset(tally, s, pred_rgb[k:k + 1], true_rgb[k:k + 1], nets, protocol, device)
        score_subset(tally, "360", pred_rgb[len(ORTHO_SUBSETS):], true_rgb[len(ORTHO_SUBSETS):], nets, protocol, device)
        score_geometry(tally, item["id"], pred, true, device)
    subsets, geometry, notes = summarize(tally, nets)
    return {"protocol": protocol, "protocol_text": PROTOCOL_TEXT[protocol], "common_text": COMMON_TEXT.format(res=res),
            "snapshot": name, "snapshot_path": str(snapshot), "data": str(data), "preset": preset,
            "renderset": ds.rs.name, "split": split, "characters": count, "resolution": res,
            "subsets": subsets, "geometry": geometry, "unavailable": dict(nets.missing), "notes": notes}
