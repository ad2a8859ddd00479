"""Loading a trained generator for inference from a snapshot file (queries: training/train/runs.py).

Takes a snapshot path and the inference settings (training/infer/render.py's InferenceSettings:
samples per ray, rays per field call); gives G_ema in eval mode, built with those settings, and the
stored configs. The model config stored in the snapshot rebuilds the networks (so later changes to the
presets never break old snapshots); the settings only change how the field is sampled, never the
weights, so they are applied to a copy of the stored generator config before the generator is built
(the stored config is returned untouched).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from dnnlib import dataclass_from_dict
from training.infer.render import InferenceSettings, inference_generator
from training.model.triplane import NovaGenerator
from training.train.presets import ModelConfig
from training.train.snapshot import load_snapshot


@dataclass
class LoadedGenerator:
    """A snapshot's generator and what it was trained with."""

    G: NovaGenerator
    """G_ema, eval mode, no gradients; its renderer uses the requested inference settings."""
    model: ModelConfig
    """The model config as stored in the snapshot (the trained render settings)."""
    train_config: dict
    path: Path
    images: int | None = None
    """Images it was trained on (a snapshot's progress, a release's record); None where the file has neither."""


def load_generator(path: Path, device: torch.device | str = "cpu",
                   settings: InferenceSettings = InferenceSettings()) -> LoadedGenerator:
    """G_ema of a snapshot, in eval mode, on device, rendering with the inference settings (the default:
    the rule every command shares)."""
    state = load_snapshot(path)
    if not {"G_ema", "train_config", "model_config"} <= set(state):
        raise ValueError(f"{path}: not a NOVA-3D training snapshot (needs G_ema, train_config, model_config)")
    mc = dataclass_from_dict(ModelConfig, json.loads(state["model_config"]))
    try:
        G = inference_generator(mc.generator, state["G_ema"], settings, device)
    except RuntimeError as exc:
        raise ValueError(f"{path}: G_ema does not match its stored model config ({str(exc).splitlines()[1].strip()})") from None
    cfg = json.loads(state["train_config"])
    images = (state.get("progress") or state.get("release") or {}).get("nimg")
    return LoadedGenerator(G=G, model=mc, train_config=cfg, path=Path(path), images=images)
