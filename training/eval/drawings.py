"""Scoring a model the way a user compares: held-out characters given as a front and a back drawing.

Takes a data root in the NOVA-Human layout (a split of it), optionally a loaded snapshot, and the
comparison resolution; gives the results dict that metrics.json holds (format_markdown: metrics.md).

Per character of the split:
1. The drawings are its ortho front and back RGBA renders. The model gets them exactly as
   ``python -m _scripts.reconstruct --front F --back B`` gives them to it: reconstruct's prepare_pair
   (background removal, the preset's framing, at the drawing size), then reconstruct's image_planes
   (condition images and silhouettes: carved where the loaded generator's inference settings turn
   carving on, --carve; the planes fitted to the two drawings, training/infer/refine.py); render_views
   at the model's image size from reconstruct's cameras (training/infer/cameras.py ortho_views: front, back, left, right; spin_views: the 12-view
   elevation-0 ring), taking the 8-bit images and the xyza alpha that reconstruct writes. The alpha is
   rendered with one ray per pixel of the comparison resolution (render_views' surface_size), not at
   the neural resolution and upsampled: the small preset's 32-ray alpha blurs thin limbs away (released
   model, open-real val split: front IoU 0.72 upsampled from 32 rays, 0.82 at 128 rays).
2. The true views are the data's files: ortho front, back, left, right and the rgb60 ring 0036..0047
   (characters without the ring are scored without the 360 group). Their cameras must be reconstruct's
   (checked against the meta). Every image (true or rendered) is composited on white, made 8-bit and
   resized (nearest) to the comparison resolution, as measure compares.
3. The prediction is aligned to the truth by ONE similarity fitted on the front view's silhouettes
   (training/eval/align.py: scale from the heights, feet and bounding-box centre aligned) and moved
   by it in every view, so a side view that is too wide or too deep stays wrong. An empty predicted
   front silhouette cannot be fitted: that character is scored unaligned (a note says so).
4. Per view: silhouette IoU (alpha > 0.5) and colour PSNR (data range 1) over the union of the two
   silhouettes. Groups: front, back, side (left and right), 360 (the ring); a character's group value
   is the mean over its views, the table the mean over characters.

Beside the model, three rows from the data alone, through the same alignment and scoring: 'billboard'
(training/eval/billboard.py: the front drawing on a flat card, seen from every camera), 'sprite' (the
front drawing itself as every view: a billboard that turns to face the camera, the reference that
issue 16's 'about 0.46 side, 0.59 360' was measured with) and 'truth' (the true views scored against
themselves: IoU 1, PSNR inf, which checks the protocol).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from training.data.checks import DatasetError, CharacterIndex
from training.data.dataset import DatasetConfig, NovaHumanDataset, read_png
from training.data.layout import PRESETS, RECON_VIEWS, SPIN_INDICES, DataPreset, Renderset, random_view_name
from training.eval.align import IDENTITY, Similarity, fit_front, silhouette, warp_views
from training.eval.billboard import card_views
from training.eval.measure import eval_images
from training.infer.cameras import ortho_views, spin_views
from training.infer.load import LoadedGenerator
from training.infer.reconstruct import image_planes, prepare_pair
from training.infer.refine import RefineSettings
from training.infer.render import render_views
from training.metrics.image import psnr, silhouette_iou

GROUPS = ("front", "back", "side", "360")
ROW_TEXT = {"model": "the snapshot, from the two drawings as reconstruct takes them",
            "billboard": "no model: the front drawing on a flat card (plane z = 0) seen from every camera; the "
                         "back view sees the card's back (the drawing mirrored), the side views see nothing",
            "sprite": "no model: the front drawing itself as every view (a billboard turned to face each camera, "
                      "no perspective): the reference behind issue 16's 'about 0.46 side, 0.59 360'",
            "truth": "no model: the true views scored against themselves (IoU 1, PSNR inf)"}
CAMERA_TOLERANCE = 1e-4  # largest difference of a stored camera label from reconstruct's


class DrawingsError(ValueError):
    """A problem that ends the evaluation; the message is one line."""


@dataclass
class Character:
    """One character's drawings and true views at the comparison resolution."""

    char_id: str
    drawings: tuple[Path, Path]
    """The front and back ortho RGBA files: the user's drawings."""
    rgb: torch.Tensor
    """(V, 3, R, R) on white, 8-bit values: front, back, left, right, then the ring when present."""
    alpha: torch.Tensor
    """(V, 1, R, R)"""
    labels: torch.Tensor
    """(V, 25) reconstruct's cameras of those views."""

    @property
    def groups(self) -> dict[str, list[int]]:
        groups = {"front": [0], "back": [1], "side": [2, 3]}
        if len(self.labels) > len(RECON_VIEWS):
            groups["360"] = list(range(len(RECON_VIEWS), len(self.labels)))
        return groups


ViewSource = Callable[[Character], tuple[torch.Tensor, torch.Tensor]]
"""A row of the table: a character -> its views (V, 3, R, R) on white and alpha (V, 1, R, R), in the
order of character.labels, before the alignment."""


def read_character(rs: Renderset, char: CharacterIndex, preset: DataPreset, res: int) -> Character:
    """The drawings and true views of one character (DatasetError for a missing view, a camera other
    than reconstruct's, or a view with an empty silhouette)."""
    views = [("ortho", v) for v in RECON_VIEWS]
    labels = [ortho_views(preset).labels]
    ring = [random_view_name(k) for k in SPIN_INDICES]
    if all(v in char.views.get("rgb60", {}) for v in ring):
        views += [("rgb60", v) for v in ring]
        labels.append(spin_views(preset).labels)
    cameras = torch.cat(labels)
    rgb, alpha = [], []
    for (dtype, view), camera in zip(views, cameras):
        path = rs.path(dtype, char.char_id, view)
        if view not in char.views.get(dtype, {}):
            raise DatasetError(f"{path}: not in {rs.meta_path}")
        if (char.views[dtype][view].label() - camera).abs().max() > CAMERA_TOLERANCE:
            raise DatasetError(f"{path}: rendered from another camera than reconstruct's (its meta entry)")
        rgba = read_png(path)[None]
        rgb.append(eval_images(rgba[:, :3] * rgba[:, 3:] + 1 - rgba[:, 3:], res))
        alpha.append(eval_images(rgba[:, 3:], res))
        if not silhouette(alpha[-1]).any():
            raise DatasetError(f"{path}: empty silhouette (no pixel with alpha > 0.5)")
    drawings = (rs.path("ortho", char.char_id, "front"), rs.path("ortho", char.char_id, "back"))
    return Character(char.char_id, drawings, torch.cat(rgb), torch.cat(alpha), cameras)


def model_source(loaded: LoadedGenerator, preset: str, res: int, batch: int, chars: list[Character],
                 refine: RefineSettings) -> ViewSource:
    """The model's views from the drawings, on reconstruct's path (module docstring, step 1). Every
    drawing is prepared here, before anything is rendered, so a bad one stops the run at once (as in
    reconstruct)."""
    G = loaded.G
    if G.cfg.use_precomputed_features:
        raise DrawingsError(f"{loaded.path}: this snapshot needs precomputed ortho_katepca_chonk features, "
                            f"which drawings do not have")
    drawings = {c.char_id: prepare_pair(loaded, preset, *c.drawings) for c in chars}

    def render(char: Character) -> tuple[torch.Tensor, torch.Tensor]:
        planes = image_planes(loaded, preset, drawings[char.char_id], refine)
        rgb, alpha = [], []
        for views in render_views(G, planes, char.labels, batch=batch, surface_size=res):
            rgb.append(torch.from_numpy(views.rgb).permute(0, 3, 1, 2).float() / 255)
            alpha.append(torch.from_numpy(views.xyza[..., 3:]).permute(0, 3, 1, 2).float() / 255)
        return eval_images(torch.cat(rgb), res), eval_images(torch.cat(alpha), res)
    return render


def billboard_source(char: Character) -> tuple[torch.Tensor, torch.Tensor]:
    """The flat card of the front drawing (training/eval/billboard.py), 8-bit."""
    rgb, alpha = card_views(char.rgb[0], char.alpha[0], char.labels[0], char.labels)
    return eval_images(rgb, rgb.shape[-1]), eval_images(alpha, rgb.shape[-1])


def sprite_source(char: Character) -> tuple[torch.Tensor, torch.Tensor]:
    """The front drawing, unchanged, as every view."""
    views = len(char.labels)
    return char.rgb[:1].expand(views, -1, -1, -1), char.alpha[:1].expand(views, -1, -1, -1)


def truth_source(char: Character) -> tuple[torch.Tensor, torch.Tensor]:
    return char.rgb, char.alpha


def score_views(char: Character, rgb: torch.Tensor, alpha: torch.Tensor) -> tuple[dict[str, dict[str, float]], Similarity | None]:
    """Group scores of predicted views against the character's true views after the front-view fit,
    and the fit (None: the predicted front silhouette was empty, scored unaligned)."""
    sim = fit_front(alpha[0, 0], char.alpha[0, 0], char.labels[0])
    rgb, alpha = warp_views(rgb, alpha, char.labels, sim or IDENTITY)
    res = rgb.shape[-1]
    rgb, alpha = eval_images(rgb, res), eval_images(alpha, res)
    pred, true = silhouette(alpha), silhouette(char.alpha)
    iou = silhouette_iou(pred, true)
    colour = psnr(rgb, char.rgb, data_range=1.0, mask=pred | true)
    scores = {g: {"iou": iou[v].mean().item(), "psnr": colour[v].mean().item()} for g, v in char.groups.items()}
    return scores, sim


def score_split(chars: list[Character], sources: dict[str, ViewSource], progress: bool = True) -> tuple[list[dict], dict[str, float]]:
    """Every character through every source: per-character records and each source's seconds per character."""
    records, seconds = [], {name: 0.0 for name in sources}
    for char in tqdm(chars, desc="drawings", unit="char", disable=not progress):
        record: dict = {"id": char.char_id, "ring": "360" in char.groups, "rows": {}, "fit": {}}
        for name, source in sources.items():
            start = time.perf_counter()
            rgb, alpha = source(char)
            seconds[name] += time.perf_counter() - start
            record["rows"][name], sim = score_views(char, rgb, alpha)
            record["fit"][name] = None if sim is None else {"scale": sim.scale, "shift": list(sim.shift)}
        records.append(record)
    return records, {name: s / max(len(chars), 1) for name, s in seconds.items()}


def summarize(records: list[dict], rows: list[str]) -> dict[str, dict[str, dict]]:
    """rows -> group -> {"iou", "psnr": means over the characters that have the group, "characters"}."""
    table: dict[str, dict[str, dict]] = {}
    for row in rows:
        table[row] = {}
        for group in GROUPS:
            values = [r["rows"][row][group] for r in records if group in r["rows"][row]]
            table[row][group] = {"characters": len(values),
                                 **{m: float(np.mean([v[m] for v in values])) if values else None for m in ("iou", "psnr")}}
    return table


def open_split(data: Path, preset: str, split: str, limit: int | None) -> tuple[Renderset, list[CharacterIndex]]:
    """The renderset and the first limit characters of a split (DatasetError for a bad root)."""
    ds = NovaHumanDataset(DatasetConfig(root=str(data), preset=preset, split=split))
    return ds.rs, ds.chars[:limit]


def measure_drawings(data: Path, split: str, limit: int | None, res: int, preset: str,
                     loaded: LoadedGenerator | None = None, snapshot_name: str | None = None, batch: int = 4,
                     progress: bool = True, refine: RefineSettings = RefineSettings()) -> dict:
    """The whole protocol on a split (module docstring); without loaded, only the model-free rows."""
    if loaded is not None and loaded.model.data_preset != preset:
        raise DrawingsError(f"{loaded.path}: the snapshot models the '{loaded.model.data_preset}' preset's box, "
                            f"not '{preset}'")
    rs, index = open_split(data, preset, split, limit)
    chars = [read_character(rs, c, PRESETS[preset], res) for c in index]
    sources: dict[str, ViewSource] = {}
    if loaded is not None:
        sources["model"] = model_source(loaded, preset, res, batch, chars, refine)
    sources.update(billboard=billboard_source, sprite=sprite_source, truth=truth_source)
    records, seconds = score_split(chars, sources, progress)
    notes = [f"{r['id']}: no predicted front silhouette; scored unaligned" for r in records
             if "model" in r["fit"] and r["fit"]["model"] is None]
    if any(not r["ring"] for r in records):
        notes.append(f"{sum(not r['ring'] for r in records)} character(s) without the rgb60 ring: not in the 360 group")
    rc = loaded.G.renderer.cfg if loaded is not None else None
    return {"data": str(data), "preset": preset, "renderset": rs.name, "split": split, "characters": len(chars),
            "resolution": res, "snapshot": snapshot_name, "snapshot_path": str(loaded.path) if loaded else None,
            "image_resolution": loaded.G.cfg.sr.img_resolution if loaded else None,
            "samples_per_ray": [rc.n_coarse, rc.n_fine] if rc else None,
            "carved": loaded.G.cfg.carve if loaded else None,
            "refine": asdict(refine) if loaded else None,
            "rows": {row: ROW_TEXT[row] for row in sources}, "table": summarize(records, list(sources)),
            "seconds_per_character": seconds, "per_character": records, "notes": notes}
