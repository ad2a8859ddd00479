"""Snapshots: state dicts only (loaded with weights_only=True), written atomically, found by kimg.

A snapshot holds G, G_ema, D, both optimizers, every RNG state and the progress counters, so a
resumed run continues exactly. It is written to a temporary file in the same folder, flushed to disk
and renamed over the final name: an interrupted write never damages the previous snapshots.
D can also start from another run's weights (init_discriminator, the trainer's --resume-d).
"""
from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from dnnlib.files import atomic_path, is_temp_file
from training.metrics.weights import load_state

# KIMG is whole kimg (six digits), or kimg with three decimals (the image count) for a snapshot that
# shares its whole kimg with an earlier one: 000000, 000000.008, 000000.012, 000001, ...
SNAPSHOT_RE = re.compile(r"network-snapshot-(\d{6})(?:\.(\d{3}))?\.pt$")


def snapshot_name(nimg: int, previous_nimg: int | None = None) -> str:
    """The file name of a snapshot at nimg images. The first snapshot within a whole kimg (after
    previous_nimg, the run's last snapshot) keeps the plain six-digit kimg name; a later one within the
    same kimg adds the images past it as three decimals, so no snapshot of a short run overwrites another."""
    kimg, rest = divmod(nimg, 1000)
    if previous_nimg is None or previous_nimg // 1000 < kimg:
        return f"network-snapshot-{kimg:06d}.pt"
    return f"network-snapshot-{kimg:06d}.{rest:03d}.pt"


def snapshot_order(path: Path) -> tuple[int, int]:
    """Sort key of a snapshot file name: whole kimg, then the images past it (-1: the plain name, first)."""
    m = SNAPSHOT_RE.search(path.name)
    return int(m.group(1)), int(m.group(2)) if m.group(2) else -1


def atomic_save(obj: dict, path: Path) -> None:
    """torch.save through a hidden temporary file, flushed to disk, renamed over path (dnnlib/files.py)."""
    with atomic_path(path, fsync=True) as tmp:
        torch.save(obj, tmp)


def remove_temp_files(run_dir: Path) -> list[Path]:
    """Remove the hidden temporary files that killed writers left in a run folder (a write that fails
    removes its own); returns them."""
    stale = [p for p in Path(run_dir).iterdir() if p.is_file() and is_temp_file(p)]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def list_snapshots(run_dir: Path) -> list[Path]:
    """Snapshots of a run folder, oldest first (by kimg, then images)."""
    found = [p for p in Path(run_dir).glob("network-snapshot-*.pt") if SNAPSHOT_RE.search(p.name)]
    return sorted(found, key=snapshot_order)


def resolve_snapshot(path: Path) -> Path:
    """A snapshot file, or the newest snapshot of a run folder; one-line errors otherwise."""
    path = Path(path)
    if path.is_dir():
        snaps = list_snapshots(path)
        if not snaps:
            raise FileNotFoundError(f"{path}: no network-snapshot-*.pt in this run folder")
        return snaps[-1]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: snapshot not found")
    return path


def run_state(run_dir: Path, kimg: float) -> Literal["new", "resume", "done"]:
    """Whether a run folder has no snapshot yet ('new'), its newest snapshot is short of kimg ('resume') or
    has reached it ('done'): what a script that continues an interrupted study does next. The images are
    read from the snapshot, since its name may give whole kimg only."""
    snaps = list_snapshots(run_dir)
    if not snaps:
        return "new"
    return "resume" if load_snapshot(snaps[-1])["progress"]["nimg"] < int(kimg * 1000) else "done"


def load_snapshot(path: Path, map_location: str | torch.device = "cpu") -> dict:
    """A snapshot's state (weights_only: a file holding code is refused, never run); one-line ValueError."""
    return load_state(path, "NOVA-3D snapshot", map_location)


def init_discriminator(D: nn.Module, path: Path) -> str:
    """Load D's weights from one of our snapshots (its "D") or a plain state dict, by name; one line saying
    what was loaded and which keys were missing (they keep their initial values) or unexpected (ignored).

    Read with weights_only=True: a file holding code is refused, never run. A key whose shape differs from
    D's, or a file sharing no key with D, is a one-line ValueError naming it.
    """
    state = load_snapshot(path)
    if isinstance(state, dict) and isinstance(state.get("D"), dict):
        state = state["D"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: neither a NOVA-3D snapshot nor a state dict of tensors")
    own = D.state_dict()
    shared = sorted(own.keys() & state.keys())
    if not shared:
        raise ValueError(f"{path}: no key of the discriminator in this file (first keys: {sorted(state)[:3]})")
    for key in shared:
        if state[key].shape != own[key].shape:
            raise ValueError(f"{path}: {key} has shape {tuple(state[key].shape)}, the discriminator's is "
                             f"{tuple(own[key].shape)}")
    D.load_state_dict({k: state[k] for k in shared}, strict=False)
    missing, unexpected = sorted(own.keys() - state.keys()), sorted(state.keys() - own.keys())
    return (f"D initialised from {path}: {len(shared)} tensors loaded; missing {len(missing)} {missing}; "
            f"unexpected {len(unexpected)} {unexpected}")


def rng_state() -> dict:
    """Every global RNG as plain tensors/ints (weights_only-loadable)."""
    np_state = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
             "numpy_pos": int(np_state[2]), "python": torch.tensor(random.getstate()[1], dtype=torch.int64)}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype(np.uint32), state["numpy_pos"], 0, 0.0))
    random.setstate((3, tuple(int(v) for v in state["python"].tolist()), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
