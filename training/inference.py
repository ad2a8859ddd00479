"""Loading a trained generator for inference: snapshot files and NAME-RUN-KIMG queries.

A query like ``human_mv_panic3d_mask_encoder_attention-00001-000920`` names
``<runs>/human_mv_panic3d_mask_encoder_attention/00001/network-snapshot-000920.pt`` (runs default:
``$PROJECT_DN/_train/eg3dc/runs``). The run name may itself contain dashes; RUN and KIMG are the last
two fields. The snapshot's training config rebuilds the networks; G_ema's weights are loaded.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from training.presets import ModelConfig, model_config
from training.snapshot import load_snapshot, snapshot_name
from training.triplane import NovaGenerator


def default_runs_root() -> Path:
    return Path(os.environ.get("PROJECT_DN", ".")) / "_train" / "eg3dc" / "runs"


def resolve_inferquery(query: str, runs_root: Path | None = None) -> Path:
    """NAME-RUN-KIMG -> the snapshot file; one-line errors naming what is missing."""
    parts = query.rsplit("-", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        raise ValueError(f"inferquery '{query}' is not NAME-RUN-KIMG (e.g. cpu_tiny-00000-000002)")
    name, run, kimg = parts
    root = Path(runs_root) if runs_root is not None else default_runs_root()
    path = root / name / f"{int(run):05d}" / snapshot_name(int(kimg))
    if not path.is_file():
        run_dir = path.parent
        have = sorted(p.name for p in run_dir.glob("network-snapshot-*.pt")) if run_dir.is_dir() else []
        hint = f"; that run has {', '.join(have)}" if have else ""
        raise FileNotFoundError(f"{path}: snapshot for inferquery '{query}' not found{hint}")
    return path


@dataclass
class LoadedGenerator:
    G: NovaGenerator
    model: ModelConfig
    train_config: dict
    path: Path


def load_generator(path: Path, device: torch.device | str = "cpu") -> LoadedGenerator:
    """G_ema of a snapshot, in eval mode, on device."""
    state = load_snapshot(path)
    if "G_ema" not in state or "train_config" not in state:
        raise ValueError(f"{path}: not a NOVA-3D training snapshot (no G_ema / train_config)")
    cfg = json.loads(state["train_config"])
    mc = model_config(cfg["preset"], cfg["fusion"], cfg["encoder"], cfg["mask_d"], cfg["superresolution"])
    mc.generator.use_precomputed_features = cfg.get("use_features", False)
    G = NovaGenerator(mc.generator)
    G.load_state_dict(state["G_ema"])
    return LoadedGenerator(G=G.to(device).eval().requires_grad_(False), model=mc, train_config=cfg, path=Path(path))
