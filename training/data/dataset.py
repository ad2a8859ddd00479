"""The NOVA-Human reader: one item is one character with its condition images and targets.

Item (images in [-1, 1] composited on white, masks binary (stored value > 200), alpha in [0, 1], xyz in world units, labels 25 floats):
    id                      character id (str)
    cond_front, cond_back   (3, S, S) the front and back ortho renders, the generator's inputs
    silhouette_front, silhouette_back   (1, S, S) their alpha (for carving at inference), when asked for
    ortho_rgb/_mask/_alpha/_xyz/_label   (4, ...) targets at the ortho views front, back, left, right
    views_rgb/_mask/_alpha/_xyz/_label   (K, ...) K random views (for the GAN and extra supervision)
    feat_front, feat_back   (512, 8, 8) precomputed ortho_katepca_chonk features, when asked for
    mirrored                bool
Mirror augmentation doubles the length: the second half is every character reflected in x = 0,
consistently: images flipped, xyz x negated, cameras mirrored, left/right ortho targets swapped, and
the feature maps flipped horizontally (an approximation: CNN features are not exactly flip-equivariant).
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from training.geometry.camera import mirror_label
from training.data.layout import DTYPE_GROUPS, MASK_THRESHOLD, PRESETS, RECON_VIEWS, Renderset, default_data_root
from training.data.checks import DatasetError, load_meta, read_split_ids

MIRROR_VIEWS = {"left": "right", "right": "left"}


def read_png(path: Path, mode: str = "RGBA", size: int | None = None, resample: int = Image.BOX) -> torch.Tensor:
    """A PNG as float (C, H, W) in [0, 1], converted to mode and resized to size x size when given (as
    stored when None); a missing or bad file raises DatasetError naming it, in one line."""
    try:
        with Image.open(path) as im:
            im = im.convert(mode)
            if size is not None and im.size != (size, size):
                im = im.resize((size, size), resample)
            arr = np.asarray(im, dtype=np.float32) / 255.0
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing file") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(f"{path}: unreadable or truncated PNG ({exc})") from None
    tensor = torch.from_numpy(arr.copy())
    return tensor[None] if tensor.ndim == 2 else tensor.permute(2, 0, 1)

@dataclass
class DatasetConfig:
    """Where the data is and what to serve."""

    root: str = ""  # data root holding renders/ and subsets/ (default: $PROJECT_DN/_data/lustrous)
    preset: str = "body"  # body | head: renderset, split names, box width
    split: str = "train"
    resolution: int = 128  # served size; stored images are resized (area for colour/alpha, nearest for xyz)
    cond_resolution: int = 512  # size of the condition images given to the encoder/generator
    views_per_item: int = 1
    mirror: bool = False
    use_features: bool = False  # read ortho_katepca_chonk/{front,back}.pkl
    silhouettes: bool = False  # serve the condition images' alpha (inference's carving; training never reads it)
    renderset: str = ""  # override the preset's renderset name
    subset: str = ""  # override the preset's split-list prefix
    seed: int = 0


class NovaHumanDataset(torch.utils.data.Dataset):
    """Characters of one split of a renderset, read lazily from PNGs."""

    def __init__(self, cfg: DatasetConfig):
        if cfg.preset not in PRESETS:
            raise ValueError(f"unknown preset '{cfg.preset}' (choose from {', '.join(PRESETS)})")
        self.cfg = cfg
        self.preset = PRESETS[cfg.preset]
        self.root = Path(cfg.root) if cfg.root else default_data_root()
        self.rs = Renderset(self.root, cfg.renderset or self.preset.renderset)
        self.boxwarp = self.preset.boxwarp
        meta = load_meta(self.rs)
        subset = cfg.subset or self.preset.subset
        self.ids = read_split_ids(self.root, subset, cfg.split)
        missing = [i for i in self.ids if i not in meta]
        if missing:
            raise DatasetError(f"{self.root / 'subsets' / f'{subset}_{cfg.split}.csv'}: id {missing[0]} is not in "
                               f"{self.rs.meta_path} ({len(missing)} such ids)")
        if not self.ids:
            raise DatasetError(f"{self.root / 'subsets' / f'{subset}_{cfg.split}.csv'}: split list is empty")
        self.chars = [meta[i] for i in self.ids]

    def __len__(self) -> int:
        return len(self.ids) * (2 if self.cfg.mirror else 1)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        """key: an index, or (index, epoch) from a sampler. The random views drawn depend on
        (seed, epoch, index) only, so worker processes, ranks and resumed runs all agree."""
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        char = self.chars[index % len(self.chars)]
        mirrored = index >= len(self.chars)
        gen = torch.Generator().manual_seed(hash((self.cfg.seed, epoch, index)) & 0x7FFFFFFF)
        item: dict = {"id": char.char_id, "mirrored": mirrored}
        for side in ("front", "back"):
            rgba = self._read("ortho", char.char_id, side, self.cfg.cond_resolution)
            item[f"cond_{side}"] = _flip(_on_white(rgba)) if mirrored else _on_white(rgba)
            if self.cfg.silhouettes:
                item[f"silhouette_{side}"] = _flip(rgba[3:]) if mirrored else rgba[3:]
        ortho_views = [MIRROR_VIEWS.get(v, v) if mirrored else v for v in RECON_VIEWS]
        item.update(self._targets("ortho", char, ortho_views, mirrored, prefix="ortho"))
        random_views = char.random_views()
        picks = torch.randperm(len(random_views), generator=gen)[: self.cfg.views_per_item]
        if len(picks) < self.cfg.views_per_item:  # fewer views on disk than asked: repeat some
            picks = picks[torch.arange(self.cfg.views_per_item) % len(picks)]
        item.update(self._targets("rgb", char, [random_views[i] for i in picks], mirrored, prefix="views"))
        if self.cfg.use_features:
            for side in ("front", "back"):
                feat = self._feature(char.char_id, side)
                item[f"feat_{side}"] = feat.flip(-1) if mirrored else feat
        return item

    def _targets(self, dtype: str, char, views: list[str], mirrored: bool, prefix: str) -> dict[str, torch.Tensor]:
        mask_dtype, xyza_dtype = DTYPE_GROUPS[dtype]
        res = self.cfg.resolution
        out: dict[str, list[torch.Tensor]] = {k: [] for k in ("rgb", "mask", "alpha", "xyz", "label")}
        for view in views:
            rgba = self._read(dtype, char.char_id, view, res)
            mask = (self._read(mask_dtype, char.char_id, view, res, mode="L") > MASK_THRESHOLD / 255).float()
            xyza = self._read(xyza_dtype, char.char_id, view, res, resample=Image.NEAREST)
            label = char.views[dtype][view].label()
            xyz = xyza[:3] * self.boxwarp - self.boxwarp / 2
            alpha = xyza[3:]
            rgb = _on_white(rgba)
            if mirrored:
                rgb, mask, alpha, xyz = _flip(rgb), _flip(mask), _flip(alpha), _flip(xyz)
                xyz = xyz * torch.tensor([-1.0, 1.0, 1.0])[:, None, None]
                label = mirror_label(label)
            for key, value in zip(out, (rgb, mask, alpha, xyz, label)):
                out[key].append(value)
        return {f"{prefix}_{k}": torch.stack(v) for k, v in out.items()}

    def _read(self, dtype: str, char_id: str, view: str, size: int, mode: str = "RGBA",
              resample: int = Image.BOX) -> torch.Tensor:
        """A view's PNG as float (C, size, size) in [0, 1] (read_png)."""
        return read_png(self.rs.path(dtype, char_id, view), mode, size, resample)

    def _feature(self, char_id: str, side: str) -> torch.Tensor:
        """A released ortho_katepca_chonk feature map: a pickled (1,)512x8x8 tensor or array."""
        path = self.rs.feature_path(char_id, side)
        try:
            with open(path, "rb") as f:
                value = pickle.load(f)  # the release's own format; only read files you trust
            feat = torch.as_tensor(np.asarray(value), dtype=torch.float32).reshape(-1, 8, 8)
        except FileNotFoundError:
            raise DatasetError(f"{path}: missing feature file (use_features needs ortho_katepca_chonk)") from None
        except (pickle.UnpicklingError, EOFError, ValueError, RuntimeError) as exc:
            raise DatasetError(f"{path}: unreadable feature file ({exc})") from None
        return feat


def _on_white(rgba: torch.Tensor) -> torch.Tensor:
    """RGBA in [0, 1] -> RGB composited on white, in [-1, 1]."""
    rgb = rgba[:3] * rgba[3:] + (1 - rgba[3:])
    return rgb * 2 - 1


def _flip(x: torch.Tensor) -> torch.Tensor:
    return x.flip(-1)


def make_loader(dataset: NovaHumanDataset, batch_size: int, shuffle: bool, num_workers: int = 2,
                sampler: torch.utils.data.Sampler | None = None, drop_last: bool = False) -> torch.utils.data.DataLoader:
    """A DataLoader with pinned memory on CUDA machines and persistent workers."""
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle if sampler is None else False, sampler=sampler,
        num_workers=num_workers, pin_memory=torch.cuda.is_available(), drop_last=drop_last,
        persistent_workers=num_workers > 0)
