"""The released model: one small file holding what inference needs, and where reconstruct finds it.

A training snapshot carries G, G_ema, D, both optimisers and RNG states (about 5x G_ema). A release keeps
G_ema's weights in float16 (the inference generator casts them back to float32 on load; renders differ
from the snapshot's by less than 1/255) with the stored model and training configs, plus a provenance
record (source snapshot, its sha256, images seen). load_generator reads it like a snapshot.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from training.train.snapshot import atomic_save, load_snapshot

RELEASED_MODEL = Path(__file__).resolve().parents[2] / "_train" / "released" / "nova3d-cpu128.pt"
"""The model `python -m _scripts.reconstruct` uses when no --ckpt/--inferquery is given (MODEL_CARD.md beside it)."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def release_state(snapshot: Path) -> dict:
    """The release of a training snapshot: G_ema in float16, the configs, and where it came from."""
    state = load_snapshot(snapshot)
    missing = {"G_ema", "train_config", "model_config"} - set(state)
    if missing:
        raise ValueError(f"{snapshot}: not a NOVA-3D training snapshot (missing {', '.join(sorted(missing))})")
    weights = {k: v.half() if v.is_floating_point() else v for k, v in state["G_ema"].items()}
    provenance = {"snapshot": Path(snapshot).name, "snapshot_sha256": sha256_of(snapshot),
                  "nimg": int(state.get("progress", {}).get("nimg", 0))}
    return {"G_ema": weights, "train_config": state["train_config"], "model_config": state["model_config"],
            "release": provenance}


def write_release(snapshot: Path, out: Path) -> dict:
    """Write the release of snapshot to out (atomically); returns its provenance record."""
    state = release_state(snapshot)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    atomic_save(state, Path(out))
    return state["release"]
