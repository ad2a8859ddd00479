"""Loading a trained generator for inference from a snapshot file (queries: training/train/runs.py).

Takes a snapshot path and the render settings of the run (samples per ray, rays per field call);
gives G_ema in eval mode, built with those settings, and the stored configs. The model config stored
in the snapshot rebuilds the networks (so later changes to the presets never break old snapshots);
the render settings only change how the field is sampled, never the weights, so they are applied to a
copy of the stored generator config before the generator is built (the stored config is returned
untouched).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from dnnlib import dataclass_from_dict
from training.model.triplane import GeneratorConfig, NovaGenerator
from training.model.volumetric_rendering.renderer import RenderConfig
from training.train.presets import ModelConfig
from training.train.snapshot import load_snapshot


@dataclass
class LoadedGenerator:
    """A snapshot's generator and what it was trained with."""

    G: NovaGenerator
    """G_ema, eval mode, no gradients; its renderer uses the requested render settings."""
    model: ModelConfig
    """The model config as stored in the snapshot (the trained render settings)."""
    train_config: dict
    path: Path


def with_render_settings(cfg: GeneratorConfig, samples: int | None = None, chunk: int | None = None,
                         sample_scale: int = 1) -> GeneratorConfig:
    """A copy of cfg whose renderer takes ``samples`` coarse and ``samples`` fine samples per ray (None:
    ``sample_scale`` times the trained counts; no fine samples stay none) and ``chunk`` rays per batch
    element per field call (None: the trained setting)."""
    trained = cfg.render or RenderConfig(box_warp=cfg.box_warp)
    n_coarse = samples or sample_scale * trained.n_coarse
    n_fine = (samples or sample_scale * trained.n_fine) if trained.n_fine else 0
    render = replace(trained, n_coarse=n_coarse, n_fine=n_fine, chunk=trained.chunk if chunk is None else chunk)
    return replace(cfg, render=render)


def load_generator(path: Path, device: torch.device | str = "cpu", samples: int | None = None,
                   chunk: int | None = None, sample_scale: int = 1) -> LoadedGenerator:
    """G_ema of a snapshot, in eval mode, on device, rendering with the given settings (with_render_settings;
    the defaults keep the trained ones)."""
    state = load_snapshot(path)
    if not {"G_ema", "train_config", "model_config"} <= set(state):
        raise ValueError(f"{path}: not a NOVA-3D training snapshot (needs G_ema, train_config, model_config)")
    mc = dataclass_from_dict(ModelConfig, json.loads(state["model_config"]))
    G = NovaGenerator(with_render_settings(mc.generator, samples, chunk, sample_scale))
    try:
        G.load_state_dict(state["G_ema"])
    except RuntimeError as exc:
        raise ValueError(f"{path}: G_ema does not match its stored model config ({str(exc).splitlines()[1].strip()})") from None
    cfg = json.loads(state["train_config"])
    return LoadedGenerator(G=G.to(device).eval().requires_grad_(False), model=mc, train_config=cfg, path=Path(path))
