"""Sample grids written at every snapshot: fixed validation characters seen from front, back and sides.

Takes G_ema and the run's configs; gives a PNG whose rows are characters and whose columns are the two
input images, then G_ema's renders from the front, back, left and right ortho cameras, rendered by
training/infer/render.py's render_views with the inference settings, like every image generate,
reconstruct and measure make (G_ema is trained with fewer samples per ray; the grid renders through a
generator built from its weights with the inference settings, so it shows what users will see). Deterministic
(mean latent, constant noise, no ray jitter) and it does not touch the global RNG, so writing samples
never changes the training run.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from dnnlib.files import atomic_path
from training.data.checks import DatasetError
from training.data.dataset import DatasetConfig, NovaHumanDataset
from training.infer.render import InferenceSettings, inference_generator, make_character_planes, render_views, to_uint8
from training.model.triplane import NovaGenerator
from training.train.presets import ModelConfig


def sample_characters(cfg, model_cfg: ModelConfig, n: int) -> dict | None:
    """The first n characters of the val split (train when there is no val list), as one batch;
    cfg: the TrainConfig (data root, data preset, features)."""
    for split in ("val", "train"):
        try:
            ds = NovaHumanDataset(DatasetConfig(root=cfg.data, preset=cfg.data_preset or model_cfg.data_preset,
                                                split=split, resolution=model_cfg.generator.sr.img_resolution,
                                                cond_resolution=model_cfg.cond_resolution,
                                                use_features=cfg.use_features))
        except DatasetError:
            continue
        items = [ds[i] for i in range(min(n, len(ds)))]
        return torch.utils.data.default_collate(items)
    return None


@torch.no_grad()
def render_grid(G_ema: NovaGenerator, model_cfg: ModelConfig, batch: dict,
                settings: InferenceSettings = InferenceSettings()) -> np.ndarray:
    """(N * S, (2 + views) * S, 3) uint8: per character its inputs and its ortho renders at the image size,
    by G_ema's weights (its trained config: model_cfg) rendering with settings. The planes of all N
    characters are made in one call (batch size changes the backbone's float rounding)."""
    device = next(G_ema.parameters()).device
    G = inference_generator(model_cfg.generator, G_ema.state_dict(), settings, device)
    size = G.cfg.sr.img_resolution
    planes = make_character_planes(G, batch["cond_front"], batch["cond_back"], batch.get("feat_front"),
                                   batch.get("feat_back"))  # one backbone call, as in training
    rows = []
    for i, labels in enumerate(batch["ortho_label"]):
        character = planes.map(lambda p: p[i:i + 1])
        inputs = torch.cat([F.interpolate(batch[k][i:i + 1].to(device), size=(size, size), mode="area")
                            for k in ("cond_front", "cond_back")])
        tiles = list(to_uint8((inputs + 1) / 2))
        tiles += [rgb for rendered in render_views(G, character, labels, size, batch=len(labels)) for rgb in rendered.rgb]
        rows.append(np.concatenate(tiles, axis=1))
    return np.concatenate(rows, axis=0)


def save_sample_grid(G_ema: NovaGenerator, cfg, model_cfg: ModelConfig, path: Path) -> Path | None:
    """render_grid of the run's first cfg.n_sample_chars characters, saved whole at path (None: no characters)."""
    batch = sample_characters(cfg, model_cfg, cfg.n_sample_chars)
    if batch is None:
        return None
    with atomic_path(path) as tmp:
        Image.fromarray(render_grid(G_ema, model_cfg, batch)).save(tmp)
    return path
