"""Known answers for measure: a "model" that renders the ground truth (or the truth shifted by a known
constant) must score what the definitions say, so a mix-up of views, labels, image ranges or surface
resolutions fails here; and the true surface, scored as a prediction, gets chamfer 0 and F1 100."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import SYNTH_RES
from training.data.dataset import DatasetConfig, NovaHumanDataset
from training.data.layout import DTYPE_GROUPS, RECON_VIEWS, SPIN_INDICES, random_view_name
from training.eval import measure as M
from training.eval.report import ORTHO_SUBSETS, SUBSETS
from training.model.triplane import Planes
from training.model.volumetric_rendering.renderer import RenderConfig

SHIFT = 51 / 255  # a whole number of 8-bit steps, so the expected PSNR needs no rounding model
RING = [random_view_name(k) for k in SPIN_INDICES]


def read_rgba(path) -> np.ndarray:
    """A PNG as float64 (H, W, 4) in [0, 1], read here without the project's readers."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"), dtype=np.float64) / 255


def true_views(root) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Per test character: view name -> (rgb on white (H, W, 3), xyza (H, W, 4)) straight from the files."""
    ds = NovaHumanDataset(DatasetConfig(root=str(root), split="test", resolution=SYNTH_RES))
    views = {}
    for char in ds.chars:
        views[char.char_id] = {}
        for dtype, names in (("ortho", RECON_VIEWS), ("rgb60", RING)):
            for name in names:
                rgba = read_rgba(ds.rs.path(dtype, char.char_id, name))
                xyza = read_rgba(ds.rs.path(DTYPE_GROUPS[dtype][1], char.char_id, name))
                views[char.char_id][f"{dtype}/{name}"] = (rgba[..., :3] * rgba[..., 3:] + 1 - rgba[..., 3:], xyza)
    return views


class TruthGenerator(torch.nn.Module):
    """Stands in for NovaGenerator behind measure's real loading and render path (make_character_planes,
    render_views): it renders, for the camera label it receives, the true view of the character whose
    condition image it was given, images shifted by ``shift`` (clipped to [0, 1]). Its images have the
    files' size; its neural render has half as many rays per side, like a real model's, and alpha/xyz at
    r rays are the truth's nearest samples (fewer rays see fewer true surface points)."""

    def __init__(self, root, shift: float):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(()))
        ds = NovaHumanDataset(DatasetConfig(root=str(root), split="test", resolution=SYNTH_RES,
                                            cond_resolution=SYNTH_RES))
        box = ds.boxwarp
        self.characters = {ds[i]["cond_front"].numpy().tobytes(): i for i in range(len(ds))}
        self.by_label: dict[tuple[int, bytes], tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        for i, char in enumerate(ds.chars):
            for dtype, names in (("ortho", RECON_VIEWS), ("rgb60", RING)):
                for name in names:
                    rgba = torch.from_numpy(read_rgba(ds.rs.path(dtype, char.char_id, name))).float().permute(2, 0, 1)
                    xyza = torch.from_numpy(read_rgba(ds.rs.path(DTYPE_GROUPS[dtype][1], char.char_id, name))).float().permute(2, 0, 1)
                    rgb = (rgba[:3] * rgba[3:] + 1 - rgba[3:] + shift).clamp(0, 1)
                    key = (i, char.views[dtype][name].label().numpy().tobytes())
                    self.by_label[key] = (rgb * 2 - 1, xyza[3:], xyza[:3] * box - box / 2)
        self.cfg = SimpleNamespace(sr=SimpleNamespace(img_resolution=SYNTH_RES, enabled=True), neural_resolution=SYNTH_RES // 2,
                                   box_warp=box, near=0.0, far=1.0, use_precomputed_features=False)
        self.renderer = TruthSurface(self, RenderConfig(box_warp=box, n_coarse=1, n_fine=0))

    def mean_ws(self, batch: int) -> None:
        return None

    def make_planes(self, front, back, ws, feat_front, feat_back, noise_mode, silhouettes=None) -> Planes:
        index = self.characters[front[0].numpy().tobytes()]
        return Planes(front=torch.full((1, 1), float(index)), back=None, ws=None)

    def field(self, planes: Planes) -> Planes:
        return planes

    def _views(self, planes: Planes, labels: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
        return [self.by_label[(int(planes.front[b, 0]), labels[b].numpy().tobytes())] for b in range(len(labels))]

    def surface(self, planes: Planes, labels: torch.Tensor, rays: int) -> SimpleNamespace:
        views = self._views(planes, labels)

        def at_rays(x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.interpolate(x, size=(rays, rays), mode="nearest")
        return SimpleNamespace(alpha=at_rays(torch.stack([v[1] for v in views])),
                               xyz=at_rays(torch.stack([v[2] for v in views])))

    def render(self, planes: Planes, labels: torch.Tensor, resolution: int, noise_mode: str) -> SimpleNamespace:
        surface = self.surface(planes, labels, resolution)
        return SimpleNamespace(image=torch.stack([v[0] for v in self._views(planes, labels)]), alpha=surface.alpha,
                               xyz=surface.xyz)


class TruthSurface:
    """TruthGenerator's renderer (G.renderer(field, labels, rays, near, far)): its surface at that many rays."""

    def __init__(self, generator: TruthGenerator, cfg: RenderConfig):
        self.generator, self.cfg = generator, cfg

    def __call__(self, planes: Planes, labels: torch.Tensor, rays: int, near, far) -> SimpleNamespace:
        return self.generator.surface(planes, labels, rays)


def psnr_of_shift(rgb: np.ndarray) -> float:
    """The standard protocol's PSNR of clip(rgb + SHIFT) against rgb, both as 8-bit images."""
    q = np.round(rgb * 255) / 255
    mse = ((np.round(np.clip(rgb + SHIFT, 0, 1) * 255) / 255 - q) ** 2).mean()
    return 10 * math.log10(1 / mse)


@pytest.mark.parametrize("shift", [0.0, SHIFT])
def test_measure_of_the_truth_gives_the_known_scores(shift, body_root, monkeypatch):
    """measure() end to end (dataset, views, labels, render_views, 8-bit scoring, geometry) with the
    ground truth as the model: PSNR inf (or the shift's PSNR computed here from the files), SSIM 100 at
    no shift, chamfer 0 and F1 100 (the shift moves colours, not the surface)."""
    fake = TruthGenerator(body_root, shift)
    loaded = SimpleNamespace(G=fake, model=SimpleNamespace(data_preset="body", cond_resolution=SYNTH_RES), images=None)
    monkeypatch.setattr(M, "load_generator", lambda *args, **kwargs: loaded)
    results = M.measure(None, "truth", body_root, None, "test", None, "standard", SYNTH_RES, M.FeatureNets(),
                        torch.device("cpu"), progress=False)

    truth = true_views(body_root)
    assert results["characters"] == len(truth) == 1
    (views,) = truth.values()
    expected = {s: [f"ortho/{v}"] for s, v in zip(ORTHO_SUBSETS, RECON_VIEWS)} | {"360": [f"rgb60/{v}" for v in RING]}
    for s in SUBSETS:
        row = results["subsets"][s]
        assert row["images"] == len(expected[s]), s
        if shift == 0:
            assert row["psnr"] == math.inf, s
            assert row["ssim"] == pytest.approx(100, abs=1e-3), s
        else:
            known = np.mean([psnr_of_shift(views[v][0]) for v in expected[s]])
            assert row["psnr"] == pytest.approx(known, rel=1e-4), s
    assert results["geometry"] == {"characters": 1, "chamfer": 0.0, "f1@5": 100.0, "f1@10": 100.0}
    assert results["notes"] == []


def flat_surface(views: int, side: int) -> dict[str, torch.Tensor]:
    """xyza of a flat body-size surface (2.1 x 2.1 at z = 0) seen head-on by views cameras at side px."""
    u = torch.linspace(-1.05, 1.05, side)
    y, x = torch.meshgrid(u, u, indexing="ij")
    xyz = torch.stack([x, y, torch.zeros_like(x)])[None].repeat(views, 1, 1, 1)
    return {"xyz": xyz, "alpha": torch.ones(views, 1, side, side)}


def test_true_surface_scored_as_the_prediction_is_exact():
    """measure's geometry scoring with the truth as the prediction: chamfer 0 and F1 100 exactly, also
    when the clouds have more points than the 10k sampled (here 2 x 96^2); the same surface seen by a
    quarter of the rays per side (the neural render's count at 512 px) is far from it."""
    true = flat_surface(2, 96)
    tally = M.Tally()
    M.score_geometry(tally, "truth", true, true, 2.1, torch.device("cpu"))
    M.score_geometry(tally, "coarse", {k: v[..., ::4, ::4] for k, v in true.items()}, true, 2.1, torch.device("cpu"))
    assert {m: v[0] for m, v in tally.geometry.items()} == {"chamfer": 0.0, "f1@5": 100.0, "f1@10": 100.0}
    assert tally.geometry["f1@5"][1] < 20 and tally.geometry["chamfer"][1] > 1


def test_metrics_json_is_strict_json_with_an_infinite_psnr(tmp_path):
    """A perfect PSNR is infinite; metrics.json stays standard JSON (no bare Infinity) and reads back."""
    import json

    from training.eval.report import write_outputs

    results = {"protocol": "standard", "protocol_text": "", "common_text": "", "render_text": "", "snapshot": "s",
               "snapshot_path": "p",
               "data": "d", "preset": "body", "renderset": "r", "split": "test", "characters": 1,
               "subsets": {"front": {"images": 1, "psnr": float("inf"), "ssim": 100.0, "lpips": None, "clip": None,
                                     "fid": None}},
               "geometry": {"characters": 1, "chamfer": 0.0, "f1@5": 100.0, "f1@10": 100.0},
               "unavailable": {}, "notes": []}
    _, js = write_outputs(results, tmp_path)

    def no_constants(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    loaded = json.loads(js.read_text(), parse_constant=no_constants)
    assert float(loaded["subsets"]["front"]["psnr"]) == float("inf")
    assert loaded["geometry"]["f1@10"] == 100.0
