"""Sample grids written at every snapshot: fixed validation characters seen from front, back and sides.

Rows are characters; columns are the two input images, then G_ema's renders from the front, back,
left and right ortho cameras. Deterministic (mean latent, constant noise, no ray jitter) and it does
not touch the global RNG, so writing samples never changes the training run.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from training.data.dataset import DatasetConfig, NovaHumanDataset
from training.data.checks import DatasetError
from training.model.triplane import NovaGenerator


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) in [-1, 1] -> (N, H, W, 3) uint8."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def sample_characters(cfg, model_cfg, n: int) -> dict | None:
    """The first n characters of the val split (train when there is no val list), as one batch."""
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
def render_grid(G: NovaGenerator, batch: dict) -> np.ndarray:
    device = next(G.parameters()).device
    batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
    G.eval()
    out = G(batch["cond_front"], batch["cond_back"], batch["ortho_label"], feat_front=batch.get("feat_front"),
            feat_back=batch.get("feat_back"), noise_mode="const")
    size = out.image.shape[-1]
    inputs = [torch.nn.functional.interpolate(batch[k], size=(size, size), mode="area") for k in ("cond_front", "cond_back")]
    renders = out.image.unflatten(0, (inputs[0].shape[0], -1))
    tiles = torch.cat([inputs[0][:, None], inputs[1][:, None], renders], 1)  # (N, 2 + views, 3, S, S)
    rows = [np.concatenate(list(to_uint8(row)), axis=1) for row in tiles]
    return np.concatenate(rows, axis=0)


def save_sample_grid(G: NovaGenerator, cfg, model_cfg, path: Path) -> Path | None:
    batch = sample_characters(cfg, model_cfg, cfg.n_sample_chars)
    if batch is None:
        return None
    Image.fromarray(render_grid(G, batch)).save(path)
    return path
