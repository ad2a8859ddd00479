"""Loading a trained generator for inference from a snapshot file (queries: training/train/runs.py).

The model config stored in the snapshot rebuilds the networks (so later changes to the
presets never break old snapshots); G_ema's weights are loaded.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from dnnlib import dataclass_from_dict
from training.train.presets import ModelConfig
from training.train.snapshot import load_snapshot
from training.model.triplane import NovaGenerator


@dataclass
class LoadedGenerator:
    G: NovaGenerator
    model: ModelConfig
    train_config: dict
    path: Path


def load_generator(path: Path, device: torch.device | str = "cpu") -> LoadedGenerator:
    """G_ema of a snapshot, in eval mode, on device."""
    state = load_snapshot(path)
    if not {"G_ema", "train_config", "model_config"} <= set(state):
        raise ValueError(f"{path}: not a NOVA-3D training snapshot (needs G_ema, train_config, model_config)")
    mc = dataclass_from_dict(ModelConfig, json.loads(state["model_config"]))
    G = NovaGenerator(mc.generator)
    try:
        G.load_state_dict(state["G_ema"])
    except RuntimeError as exc:
        raise ValueError(f"{path}: G_ema does not match its stored model config ({str(exc).splitlines()[1].strip()})") from None
    cfg = json.loads(state["train_config"])
    return LoadedGenerator(G=G.to(device).eval().requires_grad_(False), model=mc, train_config=cfg, path=Path(path))
