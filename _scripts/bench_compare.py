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
test), so its peak resident memory (ru_maxrss) is that side's alone.

``python -m _scripts.bench compare --original PATH [--python PY]`` times the same two steps of the ORIGINAL
NOVA-3D code (a checkout of its release at PATH; _scripts/bench_original_step.py builds its networks from
its paper body run config) against this checkout's at ``paper``, alternating original and ours run by
run; both sides run under PY (an interpreter whose environment has the original's requirements and
ours; default: this one). Setup and results: docs/PERFORMANCE.md.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
STEP_SCRIPT = Path(__file__).resolve().with_name("bench_step.py")  # one step in a fresh process, run by path
ORIGINAL_STEP_SCRIPT = STEP_SCRIPT.with_name("bench_original_step.py")  # the same for the original's code
ORIGINAL_MISSING_MODULE = 3  # its ``check`` exit status when the original's modules do not import
# the original's body run (_configs/nova_human/human_multi_view_panic3d_mask_encoder_attention_train_4gpu.sh)
PAPER = dict(neural=96, sr_hidden=16)
CONFIGS = {"paper": PAPER, "preset": {}}
STEPS = ("G", "D")


class OriginalUnavailable(Exception):
    """PATH is not a checkout of the original, or its modules do not import under the interpreter given."""


def _run(cmd: list[str], cwd: Path, env: dict[str, str], what: str) -> dict:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"{cwd}: the {what} failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _ours_step(checkout: Path, python: str, preset: str, config: dict) -> Callable[[str, int], dict]:
    """A runner of bench_step.py for the checkout at `checkout` (this one or --against's)."""
    def run(step: str, timed: int) -> dict:
        cmd = [python, str(STEP_SCRIPT), preset, step, str(config.get("neural", 0)), str(config.get("sr_hidden", 0)),
               str(timed), str(config.get("render_chunk", -1))]
        return _run(cmd, checkout, dict(os.environ, PYTHONPATH=str(checkout)), f"{step} step")
    return run


def _original_env() -> dict[str, str]:
    """This process's environment without PYTHONPATH: the original's processes import none of ours."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def _original_step(original: Path, python: str) -> Callable[[str, int], dict]:
    """A runner of bench_original_step.py for the original's checkout (its own paths, none of ours)."""
    def run(step: str, timed: int) -> dict:
        return _run([python, str(ORIGINAL_STEP_SCRIPT), str(original), step, str(timed)], original, _original_env(),
                    f"original's {step} step")
    return run


def check_original(original: Path, python: str) -> dict:
    """The original's run config and trainer paths (its step script's ``check``); raises OriginalUnavailable
    (one line) unless `original` is a checkout of the original whose modules import under `python`."""
    try:
        done = subprocess.run([python, str(ORIGINAL_STEP_SCRIPT), str(original), "check"], cwd=ROOT,
                              env=_original_env(),
                              capture_output=True, text=True, check=False)
    except OSError as exc:
        raise OriginalUnavailable(f"--python {python}: {exc.strerror}") from exc
    if done.returncode == 0:
        return json.loads(done.stdout.strip().splitlines()[-1])
    lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
    if done.returncode != ORIGINAL_MISSING_MODULE:
        raise OriginalUnavailable(next((x for x in lines if "is not a checkout" in x), lines[-1]))
    line = next((x for x in lines if x.startswith(("missing module", "import failed"))), lines[-1])
    raise OriginalUnavailable(f"the original's modules do not import under {python}: {line} "
                              "(install the original's requirements for that interpreter)")


def _git_head(checkout: Path) -> str:
    done = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=False)
    return done.stdout.strip() or "unknown"


def _entry(runs: dict[str, list[dict]], base: str) -> dict:
    """Each side's medians, range, peak memory and configuration, and the ratios against side `base`."""
    entry: dict = {}
    for side, side_runs in runs.items():
        seconds = [s for r in side_runs for s in r["seconds"]]
        entry[side] = {"median_s": round(statistics.median(seconds), 2), "min_s": round(min(seconds), 2),
                       "max_s": round(max(seconds), 2), "peak_rss_gb": max(r["peak_rss_gb"] for r in side_runs),
                       **{k: side_runs[0][k] for k in ("neural_resolution", "sr_hidden_channels", "parameters",
                                                       "threads")}}
    entry["speedup"] = round(entry[base]["median_s"] / entry["ours"]["median_s"], 2)
    entry["memory_ratio"] = round(entry["ours"]["peak_rss_gb"] / entry[base]["peak_rss_gb"], 2)
    return entry


def _alternate(sides: dict[str, Callable[[str, int], dict]], step: str, rounds: int, timed: int) -> dict:
    runs: dict[str, list[dict]] = {k: [] for k in sides}
    for _ in range(rounds):
        for side, run in sides.items():
            runs[side].append(run(step, timed))
    return runs


def bench_compare(against: Path, rounds: int, timed: int, configs: tuple[str, ...] = ("paper", "preset"),
                  preset: str = "body", python: str = sys.executable, render_chunk: int = -1) -> dict:
    """Both checkouts' G and D steps, alternating sides (against first, then this one) every round; ``paper``
    applies to the body preset (tests time the tiny preset's ``preset`` config)."""
    paths = {"against": against.resolve(), "ours": ROOT}
    result: dict = {"sides": {k: {"path": str(p), "commit": _git_head(p)} for k, p in paths.items()},
                    "preset": preset, "rounds": rounds, "timed_steps_per_run": timed, "batch": 1, "python": python,
                    "unit": "seconds per step, median over rounds x timed steps; ratio = against / ours"}
    for config in configs:
        sides = {k: _ours_step(p, python, preset, dict(CONFIGS[config], render_chunk=render_chunk))
                 for k, p in paths.items()}
        for step in STEPS:
            result[f"{config}_{step}_step"] = _entry(_alternate(sides, step, rounds, timed), "against")
    return result


def bench_compare_original(original: Path, rounds: int, timed: int, python: str = sys.executable,
                           render_chunk: int = -1) -> dict:
    """The original's and this checkout's G and D steps at ``paper``, alternating sides (original first) every
    round. Raises OriginalUnavailable before timing anything when the original cannot run."""
    original = original.resolve()
    files = check_original(original, python)
    sides = {"original": _original_step(original, python), "ours": _ours_step(ROOT, python, "body", dict(PAPER, render_chunk=render_chunk))}
    result: dict = {"sides": {"original": {"path": str(original), **files},
                              "ours": {"path": str(ROOT), "commit": _git_head(ROOT)}},
                    "preset": "body", "rounds": rounds, "timed_steps_per_run": timed, "batch": 1, "python": python,
                    "load_avg_1min": {"start": round(os.getloadavg()[0], 2)},
                    "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
                    "unit": "seconds per step, median over rounds x timed steps; speedup = original / ours, "
                            "memory_ratio = ours / original"}
    for step in STEPS:
        result[f"paper_{step}_step"] = _entry(_alternate(sides, step, rounds, timed), "original")
    result["load_avg_1min"]["end"] = round(os.getloadavg()[0], 2)
    return result
