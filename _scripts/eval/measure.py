"""Image and geometry metrics of a trained generator on a split, as a markdown table and JSON.

\b
    python -m _scripts.eval.measure (--inferquery NAME-RUN-KIMG | --ckpt FILE) [--data DIR]
        [--dataset human|multi | --preset body|head] [--split test] [--limit N]
        [--protocol standard|paper] [--res 512] [--out DIR] [--strict] [--device cpu|cuda]
        [--alexnet PATH] [--lpips-heads PATH] [--clip PATH] [--inception PATH]

Per test character the generator (mean latent, constant noise) renders the subsets' cameras:
front, back, left, right (the ortho views) and 360 (the elevation-0 ring of the 60-view grid,
rgb60 0036..0047, when the character has it; else its random views). Per subset: PSNR, SSIM x100,
LPIPS x100 (AlexNet v0.1), CLIP x100 (ViT-B/32 cosine), FID (pred vs true images of the subset,
with its image count). Geometry: chamfer x100, F1@0.005 and F1@0.01 x100 between 10k surface points
of the predicted xyz/alpha renders and of the true xyza images over the same views. Values are
means over characters (a character's 360 value is the mean over its ring). Predicted and true
images are compared at --res (nearest resize), composited on white, uncropped, as 8-bit images.

Protocols: 'standard' (default: PSNR range 1, Gaussian 11x11 SSIM, LPIPS on [-1, 1]) and 'paper',
which reproduces the original measure script's choices, mistakes included (LPIPS fed [0, 1] images,
PSNR range from each target, uniform 3x3 SSIM). The table's header says which.

A missing weight file makes its metric "n/a (weights missing: <file>, sha256 <...>)"; --strict
makes it a one-line error (exit status 1). Writes <out>/metrics.md and <out>/metrics.json.
"""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import click
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from training.metrics import weights
from training.data.layout import DTYPE_GROUPS, MASK_THRESHOLD, PRESETS, SPIN_INDICES, default_data_root, random_view_name
from training.data.dataset import DatasetConfig, NovaHumanDataset
from training.data.checks import DatasetError, stored_size
from training.metrics.feature_nets.clip_vit import load_clip
from training.metrics.feature_nets.inception import load_inception
from training.metrics.fid import MIN_IMAGES, fid_from_features
from training.metrics.geometry import PRED_ALPHA_THRESHOLD, THRESHOLDS, geometry_scores, sample_points, surface_points, threshold_name
from training.metrics.image import PROTOCOLS, protocol_psnr, protocol_ssim
from training.infer.load import LoadedGenerator, load_generator
from training.train.runs import resolve_inferquery
from training.metrics.perceptual import from_weights as lpips_from_weights
from training.model.triplane import Planes

SUBSETS = ("front", "back", "left", "right", "360")
ORTHO_SUBSETS = SUBSETS[:4]  # the dataset's ortho target order
IMAGE_METRICS = ("psnr", "ssim", "lpips", "clip", "fid")
GEOMETRY_METRICS = ("chamfer", *(threshold_name(t) for t in THRESHOLDS))
DATASETS = {"human": "body", "multi": "head"}  # the original's --dataset names
LABELS = {"psnr": "PSNR", "ssim": "SSIM x100", "lpips": "LPIPS x100", "clip": "CLIP x100", "fid": "FID",
          "chamfer": "chamfer x100", "f1@5": "F1@0.005 x100", "f1@10": "F1@0.01 x100"}
PROTOCOL_TEXT = {
    "standard": "standard: PSNR with data range 1; SSIM Gaussian 11x11 (sigma 1.5); LPIPS on images in "
                "[-1, 1] (its documented input)",
    "paper": "paper: reproduces the original measure script's choices, mistakes included: LPIPS AlexNet "
             "v0.1 fed [0, 1] images (its input should be [-1, 1]); PSNR with the data range taken from "
             "each target (old torchmetrics' default); SSIM uniform 3x3 window, data range 1, per channel "
             "(skimage win_size=3); averages over all characters (the original kept only the last F1 and "
             "crashed on CLIP: not copied)",
}
COMMON_TEXT = ("both protocols: images resized to {res} (nearest), composited on white, no crop, 8-bit; "
               "CLIP ViT-B/32 with CLIP's preprocessing; FID with the FID Inception (pytorch-fid's "
               "network, 2048-d pool features); geometry from 10k surface points per character")


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


def spin_views(ds: NovaHumanDataset, index: int) -> tuple[str, list[str]]:
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


@torch.no_grad()
def render_views(G: torch.nn.Module, planes: Planes, labels: torch.Tensor, batch: int) -> dict[str, torch.Tensor]:
    """Renders of one character's planes from labels (V, 25), ``batch`` views per call: images in
    [0, 1] at the generator's output size, alpha and xyz at its neural resolution (all on CPU)."""
    parts: dict[str, list[torch.Tensor]] = {"rgb": [], "alpha": [], "xyz": []}
    for chunk in labels.split(batch):
        n = len(chunk)
        rep = Planes(*(None if p is None else p.expand(n, *p.shape[1:]).contiguous()
                       for p in (planes.front, planes.back, planes.ws)))
        out = G.render(rep, chunk, noise_mode="const")
        parts["rgb"].append(((out.image.float() + 1) / 2).cpu())
        parts["alpha"].append(out.alpha.float().cpu())
        parts["xyz"].append(out.xyz.float().cpu())
    return {k: torch.cat(v) for k, v in parts.items()}


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
    gen = load_generator(snapshot, device)
    preset = preset or gen.model.data_preset
    if preset != gen.model.data_preset:
        raise MeasureError(f"{snapshot}: the snapshot models the '{gen.model.data_preset}' preset's box, "
                           f"not '{preset}'")
    if chunk:
        gen.G.renderer.cfg.chunk = chunk
    ds = open_dataset(data, preset, split, gen)
    count = len(ds) if limit is None else min(limit, len(ds))
    tally = Tally()
    for i in tqdm(range(count), desc="measure", unit="char", disable=not progress):
        item = ds[i]
        dev = {k: item[k][None].to(device) for k in ("cond_front", "cond_back", "feat_front", "feat_back") if k in item}
        planes = gen.G.make_planes(dev["cond_front"], dev["cond_back"], gen.G.mean_ws(1), dev.get("feat_front"),
                                   dev.get("feat_back"), noise_mode="const")
        spin_dtype, spin = spin_views(ds, i)
        ring = read_views(ds, i, spin_dtype, spin)
        labels = torch.cat([item["ortho_label"], ring["label"]]).to(device)
        pred = render_views(gen.G, planes, labels, batch)
        true = {"rgb": torch.cat([(item["ortho_rgb"] + 1) / 2, ring["rgb"]]),
                "alpha": torch.cat([item["ortho_alpha"], ring["alpha"]]),
                "xyz": torch.cat([item["ortho_xyz"], ring["xyz"]])}
        pred_rgb, true_rgb = eval_images(pred["rgb"], res), eval_images(true["rgb"], res)
        for k, s in enumerate(ORTHO_SUBSETS):
            score_subset(tally, s, pred_rgb[k:k + 1], true_rgb[k:k + 1], nets, protocol, device)
        score_subset(tally, "360", pred_rgb[len(ORTHO_SUBSETS):], true_rgb[len(ORTHO_SUBSETS):], nets, protocol, device)
        score_geometry(tally, item["id"], pred, true, device)
    subsets, geometry, notes = summarize(tally, nets)
    return {"protocol": protocol, "protocol_text": PROTOCOL_TEXT[protocol], "common_text": COMMON_TEXT.format(res=res),
            "snapshot": name, "snapshot_path": str(snapshot), "data": str(data), "preset": preset,
            "renderset": ds.rs.name, "split": split, "characters": count, "resolution": res,
            "subsets": subsets, "geometry": geometry, "unavailable": dict(nets.missing), "notes": notes}


def _cell(value: float | None, metric: str, row: dict, unavailable: dict[str, str]) -> str:
    if metric in unavailable:
        return "n/a"
    if value is None:
        images = row.get("images", 0)
        return f"n/a ({images} image{'s' if images != 1 else ''})" if metric == "fid" else "n/a"
    return f"{value:.3f}"


def format_markdown(results: dict) -> str:
    """The results as a markdown page: header (protocol, snapshot, data, count), two tables, notes."""
    unavailable = results["unavailable"]
    lines = [f"# NOVA-3D metrics: {results['protocol']} protocol", "",
             f"- protocol: {results['protocol_text']}", f"- {results['common_text']}",
             f"- snapshot: {results['snapshot']} ({results['snapshot_path']})",
             f"- data: {results['data']} (preset {results['preset']}, renderset {results['renderset']}, "
             f"split {results['split']}), {results['characters']} character(s)", "",
             "| subset | images | " + " | ".join(LABELS[m] for m in IMAGE_METRICS) + " |",
             "|---|---:|" + "---:|" * len(IMAGE_METRICS)]
    for s, row in results["subsets"].items():
        cells = [_cell(row[m], m, row, unavailable) for m in IMAGE_METRICS]
        lines.append(f"| {s} | {row['images']} | " + " | ".join(cells) + " |")
    geo = results["geometry"]
    lines += ["", "| geometry | characters | " + " | ".join(LABELS[m] for m in GEOMETRY_METRICS) + " |",
              "|---|---:|" + "---:|" * len(GEOMETRY_METRICS),
              f"| all | {geo['characters']} | " + " | ".join(_cell(geo[m], m, geo, {}) for m in GEOMETRY_METRICS) + " |"]
    notes = [f"{LABELS[m]}: {text}" for m, text in unavailable.items()] + results["notes"]
    if notes:
        lines += ["", *(f"- {n}" for n in notes)]
    return "\n".join(lines) + "\n"


def write_outputs(results: dict, out: Path) -> tuple[Path, Path]:
    """<out>/metrics.md and <out>/metrics.json."""
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / "metrics.md", out / "metrics.json"
    md.write_text(format_markdown(results))
    js.write_text(json.dumps(results, indent=2) + "\n")
    return md, js


def _options(dataset_default: str | None):
    """The CLI options measure and human_measure share; only --dataset's default differs."""
    opts = [
        click.option("--inferquery", default=None, help="NAME-RUN-KIMG naming a snapshot under --runs."),
        click.option("--ckpt", type=click.Path(path_type=Path), default=None, help="A snapshot file."),
        click.option("--runs", type=click.Path(path_type=Path), default=None,
                     help="Runs root for --inferquery (default: $PROJECT_DN/_train/eg3dc/runs)."),
        click.option("--data", type=click.Path(path_type=Path), default=None,
                     help="Data root with renders/ and subsets/ (default: $PROJECT_DN/_data/lustrous)."),
        click.option("--dataset", type=click.Choice(sorted(DATASETS)), default=dataset_default,
                     help="The original's dataset names: human = body preset, multi = head preset."),
        click.option("--preset", type=click.Choice(sorted(PRESETS)), default=None,
                     help="Data preset (default: the snapshot's)."),
        click.option("--split", default="test", show_default=True),
        click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N characters."),
        click.option("--protocol", type=click.Choice(PROTOCOLS), default="standard", show_default=True),
        click.option("--res", type=click.IntRange(min=32), default=512, show_default=True,
                     help="Size both images are resized to (nearest) before scoring."),
        click.option("--out", type=click.Path(path_type=Path), default=None,
                     help="Output folder (default: temp/eval/<snapshot>/<split>-<protocol>)."),
        click.option("--strict", is_flag=True, help="A missing weight file is an error, not n/a."),
        click.option("--device", default=None, help="cpu | cuda | cuda:N (default: cuda when available)."),
        click.option("--batch", type=click.IntRange(min=1), default=4, show_default=True, help="Views per render call."),
        click.option("--chunk", type=click.IntRange(min=1), default=None, help="Rays per renderer call (less memory)."),
        click.option("--alexnet", default=None, help="AlexNet weights (file or folder) for LPIPS."),
        click.option("--lpips-heads", "lpips_heads", default=None, help="LPIPS v0.1 AlexNet heads file."),
        click.option("--clip", default=None, help="OpenAI ViT-B-32.pt (file or folder)."),
        click.option("--inception", default=None, help="pt_inception-2015-12-05-6726825d.pth (file or folder)."),
    ]

    def apply(fn):
        for opt in reversed(opts):
            fn = opt(fn)
        return fn
    return apply


def run(inferquery: str | None, ckpt: Path | None, runs: Path | None, data: Path | None, dataset: str | None,
        preset: str | None, split: str, limit: int | None, protocol: str, res: int, out: Path | None, strict: bool,
        device: str | None, batch: int, chunk: int | None, alexnet: str | None, lpips_heads: str | None,
        clip: str | None, inception: str | None) -> None:
    """The command body both entry points run: resolve, load weights, measure, print and write."""
    if (inferquery is None) == (ckpt is None):
        raise click.UsageError("give exactly one of --inferquery and --ckpt")
    if dataset and preset and DATASETS[dataset] != preset:
        raise click.UsageError(f"--dataset {dataset} is the {DATASETS[dataset]} preset, not --preset {preset}")
    try:
        snapshot = resolve_inferquery(inferquery, runs) if inferquery else Path(ckpt)
        name = inferquery or Path(ckpt).stem
        dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        nets = load_feature_nets(alexnet, lpips_heads, clip, inception, strict, dev)
        results = measure(snapshot, name, Path(data) if data else default_data_root(),
                          preset or (DATASETS[dataset] if dataset else None), split, limit, protocol, res, nets,
                          dev, batch, chunk)
    except (MeasureError, DatasetError, FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    md, js = write_outputs(results, out or Path("temp") / "eval" / name / f"{split}-{protocol}")
    click.echo(format_markdown(results))
    click.echo(f"wrote {md} and {js}")


def build_command(name: str, help_text: str, dataset_default: str | None) -> click.Command:
    """A click command running ``run`` with the shared options (human_measure defaults --dataset)."""
    return click.command(name=name, help=help_text)(_options(dataset_default)(run))


main = build_command("measure", __doc__, None)

if __name__ == "__main__":
    main()
