"""Loading a trained generator for inference: snapshot files and NAME-RUN-KIMG queries.

A query like ``human_mv_panic3d_mask_encoder_attention-00001-000920`` names
``<runs>/human_mv_panic3d_mask_encoder_attention/00001/network-snapshot-000920.pt`` (runs default:
``$PROJECT_DN/_train/eg3dc/runs``). The run name may itself contain dashes; RUN and KIMG are the last
two fields. The model config stored in the snapshot rebuilds the networks (so later changes to the
presets never break old snapshots); G_ema's weights are loaded.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from dnnlib import dataclass_from_dict
from training.train.presets import ModelConfig
from training.train.snapshot import load_snapshot, snapshot_name
from training.model.triplane import NovaGenerator


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
