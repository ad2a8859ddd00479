"""What the measurement reports and how: metric names and labels, the protocol texts, metrics.md/.json.

Takes the results dict training/eval/measure.py returns; gives the markdown page (header with the
protocol, the render settings, snapshot and data, a subset table and a geometry row, notes) and writes it with the JSON.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from dnnlib.files import write_text_atomic
from training.metrics.geometry import THRESHOLDS, threshold_name

SUBSETS = ("front", "back", "left", "right", "360")
ORTHO_SUBSETS = SUBSETS[:4]  # the dataset's ortho target order
IMAGE_METRICS = ("psnr", "ssim", "lpips", "clip", "fid")
GEOMETRY_METRICS = ("chamfer", *(threshold_name(t) for t in THRESHOLDS))
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
               "network, 2048-d pool features); geometry: distances from 10k surface points of each cloud to all "
               "points of the other, per character")


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
             f"- protocol: {results['protocol_text']}", f"- {results['common_text']}", f"- {results['render_text']}",
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


def strict_json(value):
    """results with non-finite numbers as the strings "inf", "-inf" and "nan" (PSNR of identical images
    is infinite), so metrics.json is standard JSON that any parser reads; float(s) turns them back."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value


def write_outputs(results: dict, out: Path) -> tuple[Path, Path]:
    """<out>/metrics.md and <out>/metrics.json (strict JSON, see strict_json), each written whole or not at all."""
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / "metrics.md", out / "metrics.json"
    write_text_atomic(md, format_markdown(results))
    write_text_atomic(js, json.dumps(strict_json(results), indent=2, allow_nan=False) + "\n")
    return md, js
