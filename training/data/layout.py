"""The NOVA-Human dataset layout, presets and the views every character is rendered from.

A data root (default ``$PROJECT_DN/_data/lustrous``) holds, as the release does::

    renders/<renderset>/<dtype>/<id[-1]>/<id>/<view>.png     dtype in DTYPES, view in views_of(dtype)
    renders/<renderset>/ortho_katepca_chonk/<id[-1]>/<id>/{front,back}.pkl   optional features
    renders/<renderset>/<renderset>_meta.json                 '<renderset>/<dtype>/<shard>/<id>/<view>'
                                                              -> {'render_params': RenderParams}
    subsets/<subset>_{train,val,test}.csv                     one character id per line

Only the image dtypes (rgb, ortho, rgb60) have meta entries; their mask and xyza companions share
them. Synthetic data, rendered VRM characters and the reader all go through this module.
"""
from __future__ import annotations

import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch

from training.geometry.camera import RenderParams, sample_views

ORTHO_VIEWS = ("front", "back", "left", "right", "top")
RECON_VIEWS = ("front", "back", "left", "right")  # the ortho targets of the reconstruction loss
ORTHO_ANGLES = {"front": (0.0, 0.0), "back": (0.0, 180.0), "left": (0.0, 90.0), "right": (0.0, -90.0), "top": (90.0, 0.0)}
GRID_ELEVS = (60.0, 40.0, 20.0, 0.0, -20.0)
GRID_AZIMS = tuple(float(a) for a in range(-180, 180, 30))
GRID_VIEWS = len(GRID_ELEVS) * len(GRID_AZIMS)  # 60, index = row * 12 + column
SPIN_INDICES = tuple(range(36, 48))  # the elevation-0 row: the "360" metric subset
SPLITS = ("train", "val", "test")

# image dtype -> (mask dtype, xyza dtype); the image dtype owns the meta entry
DTYPE_GROUPS = {"rgb": ("rgb_mask", "xyza"), "ortho": ("ortho_mask", "ortho_xyza"), "rgb60": (None, "xyza60")}
DTYPES = ("rgb", "rgb_mask", "xyza", "ortho", "ortho_mask", "ortho_xyza", "rgb60", "xyza60")
MASK_THRESHOLD = 200  # mask PNG value (of 255) above which a pixel is foreground


@dataclass(frozen=True)
class DataPreset:
    """What a character set looks like: renderset and split names, cameras and the box."""

    name: str
    renderset: str
    subset: str
    dist: float
    fov: float
    boxwarp: float
    n_views: int

    @property
    def near(self) -> float:
        return self.dist - self.boxwarp * math.sqrt(3) / 2

    @property
    def far(self) -> float:
        return self.dist + self.boxwarp * math.sqrt(3) / 2

    def params(self, elev: float, azim: float, ortho: bool = False) -> RenderParams:
        return RenderParams(elev=float(elev), azim=float(azim), dist=self.dist, fov=-1.0 if ortho else self.fov,
                            near=self.near, far=self.far, boxwarp=self.boxwarp)

    def ortho_params(self, view: str) -> RenderParams:
        return self.params(*ORTHO_ANGLES[view], ortho=True)

    def grid_params(self, k: int) -> RenderParams:
        row, col = divmod(k, len(GRID_AZIMS))
        return self.params(GRID_ELEVS[row], GRID_AZIMS[col])

    def random_params(self, char_id: str, k: int) -> RenderParams:
        """Random view k of a character, seeded by (id, k) so every renderer draws the same camera."""
        gen = torch.Generator().manual_seed(zlib.crc32(f"{char_id}/{k}".encode()))
        elev, azim = sample_views(1, gen)
        return self.params(round(float(elev[0]), 4), round(float(azim[0]), 4))


PRESETS = {
    "body": DataPreset("body", renderset="human_rutileE", subset="human_rutileEB", dist=3.5, fov=30.0, boxwarp=2.1, n_views=16),
    "head": DataPreset("head", renderset="rutileE", subset="rutileEA", dist=1.0, fov=30.0, boxwarp=0.7, n_views=8),
}


def default_data_root() -> Path:
    """``$PROJECT_DN/_data/lustrous`` as in the original, else ``./_data/lustrous``."""
    return Path(os.environ.get("PROJECT_DN", ".")) / "_data" / "lustrous"


def random_view_name(k: int) -> str:
    return f"{k:04d}"


def views_of(dtype: str, n_views: int) -> tuple[str, ...]:
    """The view file stems a complete character has for one dtype."""
    if dtype.startswith("ortho"):
        return ORTHO_VIEWS
    if dtype in ("rgb60", "xyza60"):
        return tuple(random_view_name(k) for k in range(GRID_VIEWS))
    return tuple(random_view_name(k) for k in range(n_views))


def shard_of(char_id: str) -> str:
    return char_id[-1]


@dataclass(frozen=True)
class Renderset:
    """Paths inside one data root for one renderset."""

    root: Path
    name: str

    @property
    def dir(self) -> Path:
        return Path(self.root) / "renders" / self.name

    @property
    def meta_path(self) -> Path:
        return self.dir / f"{self.name}_meta.json"

    def char_dir(self, dtype: str, char_id: str) -> Path:
        return self.dir / dtype / shard_of(char_id) / char_id

    def path(self, dtype: str, char_id: str, view: str, ext: str = "png") -> Path:
        return self.char_dir(dtype, char_id) / f"{view}.{ext}"

    def meta_key(self, dtype: str, char_id: str, view: str) -> str:
        return f"{self.name}/{dtype}/{shard_of(char_id)}/{char_id}/{view}"

    def feature_path(self, char_id: str, view: str) -> Path:
        return self.path("ortho_katepca_chonk", char_id, view, ext="pkl")


def split_path(root: Path, subset: str, split: str) -> Path:
    return Path(root) / "subsets" / f"{subset}_{split}.csv"


def read_split(path: Path) -> list[str]:
    """Ids of a split list, one per line (blank lines skipped), as the release writes them."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise FileNotFoundError(f"{path}: cannot read split list ({exc.strerror})") from None
    return [line.strip().split(",")[0] for line in text.splitlines() if line.strip()]


def write_split(path: Path, ids: list[str]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{i}\n" for i in ids))
