"""The ``compare`` section of ``python -m _scripts.bench``: this checkout against another one, side by side.

``python -m _scripts.bench compare --against PATH`` times one G training step and one D step with R1 of
the body networks in this checkout and in the checkout at PATH (e.g. ``git worktree add /tmp/nova-main
main``), alternating the two sides run by run in one session so that both see the same machine load, and
reports each side's medians, their ratios and the peak memory of each side's process.

- G step: front ortho render at batch 1 (planes of both passes, volume rendering, super-resolution), L1
  on the SR image and on the raw image, backward, Adam step.
- D step: D on a real image, raw image and mask with R1 (the penalty of the loss's ``r1_penalty``: image
  and raw at gamma 5, mask at gamma 1, double backward), backward, Adam step.
- Each side renders as its trainer does (its TrainConfig's ``render_chunk`` where it has one).
- Configs: ``paper`` is the NOVA-Human main run's (the original's body run config: backbone 256, 3 x 3 x
  16 planes, neural resolution 96 super-resolved from 128 as the original's SR does, SR hidden channels
  16, 48 + 48 samples, SR and D at 512), set explicitly on both sides; ``preset`` is each side's own
  body preset as it stands.

Each run is a fresh process (``python _scripts/bench_step.py ...`` with PYTHONPATH at the checkout under
test), so its peak resident memory (ru_maxrss) is that side's alone. The original NOVA-3D code does not
run here (docs/PERFORMANCE.md says why), so PATH is a checkout of this project, e.g. main before a change.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEP_SCRIPT = Path(__file__).resolve().with_name("bench_step.py")  # one step in a fresh process, run by path
# the original's body run (_configs/nova_human/human_multi_view_panic3d_mask_encoder_attention_train_4gpu.sh)
PAPER = dict(neural=96, sr_hidden=16)
CONFIGS = {"paper": PAPER, "preset": {}}
STEPS = ("G", "D")


def _run_side(checkout: Path, preset: str, step: str, config: dict, timed: int) -> dict:
    cmd = [sys.executable, str(STEP_SCRIPT), preset, step, str(config.get("neural", 0)),
           str(config.get("sr_hidden", 0)), str(timed)]
    env = dict(os.environ, PYTHONPATH=str(checkout))
    done = subprocess.run(cmd, cwd=checkout, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"{checkout}: the {step} step failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _git_head(checkout: Path) -> str:
    done = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=False)
    return done.stdout.strip() or "unknown"


def bench_compare(against: Path, rounds: int, timed: int, configs: tuple[str, ...] = ("paper", "preset"),
                  preset: str = "body") -> dict:
    """Both checkouts' G and D steps, alternating sides (against first, then this one) every round; ``paper``
    applies to the body preset (tests time the tiny preset's ``preset`` config)."""
    sides = {"against": against.resolve(), "ours": ROOT}
    result: dict = {"sides": {k: {"path": str(p), "commit": _git_head(p)} for k, p in sides.items()},
                    "preset": preset, "rounds": rounds, "timed_steps_per_run": timed, "batch": 1,
                    "unit": "seconds per step, median over rounds x timed steps; ratio = against / ours"}
    for config in configs:
        for step in STEPS:
            runs: dict[str, list[dict]] = {k: [] for k in sides}
            for _ in range(rounds):
                for side, path in sides.items():
                    runs[side].append(_run_side(path, preset, step, CONFIGS[config], timed))
            entry = {}
            for side, side_runs in runs.items():
                seconds = [s for r in side_runs for s in r["seconds"]]
                entry[side] = {"median_s": round(statistics.median(seconds), 2), "min_s": round(min(seconds), 2),
                               "max_s": round(max(seconds), 2),
                               "peak_rss_gb": max(r["peak_rss_gb"] for r in side_runs),
                               **{k: side_runs[0][k] for k in ("neural_resolution", "sr_hidden_channels",
                                                               "parameters", "threads")}}
            entry["speedup"] = round(entry["against"]["median_s"] / entry["ours"]["median_s"], 2)
            entry["memory_ratio"] = round(entry["ours"]["peak_rss_gb"] / entry["against"]["peak_rss_gb"], 2)
            result[f"{config}_{step}_step"] = entry
    return result

