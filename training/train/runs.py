"""Where runs live: OUTDIR/NAME/RUN folders (RUN = 00000, 00001, ...), and how a NAME-RUN-KIMG query
names a snapshot in them.

A query like ``human_mv_panic3d_mask_encoder_attention-00001-000920`` names
``<runs>/human_mv_panic3d_mask_encoder_attention/00001/network-snapshot-000920.pt`` (runs default:
``$PROJECT_DN/_train/eg3dc/runs``, the trainer's default --outdir). The run name may itself contain
dashes; RUN and KIMG are the last two fields. KIMG may carry three decimals (``000000.008``), naming a
later snapshot within the same whole kimg (training.train.snapshot.snapshot_name).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

KIMG_RE = re.compile(r"(\d+)(?:\.(\d{3}))?")


def default_runs_root() -> Path:
    """$PROJECT_DN/_train/eg3dc/runs (PROJECT_DN defaults to the working folder, as in the original)."""
    return Path(os.environ.get("PROJECT_DN", ".")) / "_train" / "eg3dc" / "runs"


def run_folder(root: Path, name: str, run: int) -> Path:
    """root/NAME/RUN with RUN as five digits, the layout the trainer writes and queries read."""
    return Path(root) / name / f"{run:05d}"


def next_run_folder(root: Path, name: str) -> Path:
    """The first unused run folder of NAME under root (one past the highest existing RUN)."""
    base = Path(root) / name
    ids = [int(p.name) for p in base.glob("[0-9]" * 5) if p.is_dir()] if base.is_dir() else []
    return run_folder(root, name, max(ids, default=-1) + 1)


def resolve_inferquery(query: str, runs_root: Path | None = None) -> Path:
    """NAME-RUN-KIMG -> the snapshot file; one-line errors naming what is missing."""
    parts = query.rsplit("-", 2)
    kimg = KIMG_RE.fullmatch(parts[-1])
    if len(parts) != 3 or not parts[1].isdigit() or kimg is None:
        raise ValueError(f"inferquery '{query}' is not NAME-RUN-KIMG (e.g. cpu_tiny-00000-000002 or "
                         f"cpu_tiny-00000-000000.008)")
    name, run = parts[:2]
    root = Path(runs_root) if runs_root is not None else default_runs_root()
    images = f".{kimg.group(2)}" if kimg.group(2) else ""
    path = run_folder(root, name, int(run)) / f"network-snapshot-{int(kimg.group(1)):06d}{images}.pt"
    if not path.is_file():
        run_dir = path.parent
        have = sorted(p.name for p in run_dir.glob("network-snapshot-*.pt")) if run_dir.is_dir() else []
        hint = f"; that run has {', '.join(have)}" if have else ""
        raise FileNotFoundError(f"{path}: snapshot for inferquery '{query}' not found{hint}")
    return path
