"""Pipeline sections of ``python -m _scripts.bench``: data generation (data, synth), training and
inference speed.

A helper module of the bench command, not a command itself (no CLI; _scripts/bench.py imports it, as
scripts import _scripts/options.py). It also holds BenchContext, what every section takes (device,
size, repeats). Each section returns a dict with the sizes it used. Training and inference use freshly
initialised networks (speed does not depend on the weights). On CPU the body preset is too slow to time at its real size
(minutes per step), so the CPU sizes time the tiny preset and say so; ``--device cuda`` times body.
The train section also times one G step and one D step with the other network frozen (as training runs
them) and trainable (as before), side by side: body at its real size on CUDA, at REDUCED_BODY on CPU.
"""
from __future__ import annotations

import contextlib
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from torch_utils import custom_ops

if TYPE_CHECKING:  # the sections import training lazily, so the ops section starts fast
    from training.train.loop import Trainer
    from training.train.presets import ModelConfig

DATA_SIZES = {"full": dict(n=20, res=256), "small": dict(n=6, res=128), "tiny": dict(n=2, res=32)}
# the synth section: characters at each resolution (the split fractions of a dataset)
SYNTH_SIZES = {"full": dict(n=40, res=[64, 128]), "small": dict(n=40, res=[64, 128]), "tiny": dict(n=3, res=[32])}
SYNTH_SPLITS = (0.75, 0.083, 0.167)
# (preset, batch on this one device, timed steps); body: the paper's 16 over 8 GPUs is 2 per GPU
TRAIN_SIZES = {"full": [("tiny", 16, 5), ("body", 2, 3), ("body", 4, 3)], "small": [("tiny", 4, 2)],
               "tiny": [("tiny", 2, 1)]}
# body's widths at smaller resolutions, so a CPU times a body step in seconds (condition and final image,
# neural render, tri-plane resolution, ray samples coarse and fine)
REDUCED_BODY = dict(image=128, neural=32, planes=64, samples=12)
# (preset, turntable frames, output size, mesh resolution)
INFER_SIZES = {"full": [("tiny", 64, 64, 128), ("body", 16, 512, 256)], "small": [("tiny", 16, 64, 64)],
               "tiny": [("tiny", 2, 32, 16)]}


@dataclass(frozen=True)
class BenchContext:
    """What every section takes: where and at which size to measure, how many timed calls."""

    device: torch.device
    size: str
    repeats: int
    warmup: int
    data: Path | None = None  # a body data root (>= 512 px) for the train section instead of synthesising one

    @property
    def cuda_ops(self) -> str | None:
        """None when the CUDA ops can run here, else why not."""
        if self.device.type != "cuda":
            return "device is cpu"
        return custom_ops.missing_cuda_piece()


def _peak_memory_gb(device: torch.device) -> dict[str, float]:
    if device.type == "cuda":
        return {"peak_gpu_memory_gb": round(torch.cuda.max_memory_allocated(device) / 2 ** 30, 3)}
    return {"peak_process_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, 3)}


def _synth(out: Path, n: int, res: int, views: int, workers: int = 2, grid: str = "none",
           splits: tuple[float, float, float] = (1.0, 0.0, 0.0)) -> float:
    """Make n body characters; seconds taken."""
    from training.data.synth.procedural import RunConfig, generate

    start = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        generate(RunConfig(out=str(out), preset="body", res=res, seed=0, views=views, grid=grid,
                           splits=splits, n=n), workers=workers, shard=None)
    return time.perf_counter() - start


def bench_data(ctx: BenchContext) -> dict:
    """Synthetic characters per second with all 21 views (5 ortho + 16 random), PNGs written."""
    s = DATA_SIZES[ctx.size]
    with tempfile.TemporaryDirectory() as tmp:
        seconds = _synth(Path(tmp), s["n"], s["res"], views=16)
    return {"sizes": dict(s, views=21, workers=2), "seconds": round(seconds, 2),
            "characters_per_s": round(s["n"] / seconds, 3)}


def bench_synth(ctx: BenchContext) -> dict:
    """Characters per minute through the synth command at dataset settings, per resolution (what
    ``python -m _scripts.data.synth --n N --res R --preset body --views 8 --splits 0.75,0.083,0.167``
    runs: 5 ortho + 8 random views, the 60-view grid for val/test, 2 workers), and the milliseconds one
    character's mesh takes to build on one core (build_character alone), to tell building from
    rendering and PNG writing."""
    from training.data.synth.characters import build_character
    from training.data.synth.procedural import character_ids

    s = SYNTH_SIZES[ctx.size]
    ids = character_ids(0, s["n"])
    start = time.perf_counter()
    for char_id in ids:
        build_character(char_id, "body")
    build_ms = (time.perf_counter() - start) * 1e3 / len(ids)
    result = {"sizes": dict(s, views=8, grid="eval", splits=list(SYNTH_SPLITS), workers=2),
              "mesh_build_ms_per_character": round(build_ms, 1)}
    for res in s["res"]:
        with tempfile.TemporaryDirectory() as tmp:
            seconds = _synth(Path(tmp), s["n"], res, views=8, grid="eval", splits=SYNTH_SPLITS)
        result[f"res{res}"] = {"seconds": round(seconds, 2), "characters_per_min": round(s["n"] * 60 / seconds, 1),
                               "mesh_build_share": round(s["n"] * build_ms / 1e3 / (2 * seconds), 3)}
    return result


def _time_steps(trainer: Trainer, steps: int) -> float:
    """Seconds for `steps` training steps after one untimed warm-up step (which runs both regularisers)."""
    batches = iter(trainer.loader())
    trainer.train_step(next(batches))
    elapsed = 0.0
    for _ in range(steps):
        batch = next(batches)
        start = time.perf_counter()
        trainer.train_step(batch)
        if trainer.device.type == "cuda":
            torch.cuda.synchronize(trainer.device)
        elapsed += time.perf_counter() - start
    return elapsed


def reduced_body() -> ModelConfig:
    """The body preset at REDUCED_BODY's resolutions, its channel widths and plane structure kept."""
    from training.train.presets import model_config

    mc, r = model_config("body"), REDUCED_BODY
    g = mc.generator
    generator = replace(g, neural_resolution=r["neural"], backbone=replace(g.backbone, resolution=r["planes"]),
                        encoder=replace(g.encoder, image_resolution=r["image"]),
                        render=replace(g.render, n_coarse=r["samples"], n_fine=r["samples"]),
                        sr=replace(g.sr, input_resolution=r["neural"], img_resolution=r["image"]))
    discriminator = replace(mc.discriminator, img_resolution=r["image"], mask_resolution=r["neural"])
    return replace(mc, generator=generator, discriminator=discriminator, cond_resolution=r["image"])


def _phase_seconds(trainer: Trainer, phase: str, batch: dict, frozen: bool) -> float:
    """One forward + backward of a phase, the other network frozen (as trained) or trainable (as before)."""
    z, noise = trainer._draw()
    trainer.opt_G.zero_grad(set_to_none=True)
    trainer.opt_D.zero_grad(set_to_none=True)
    start = time.perf_counter()
    if frozen:
        loss, _ = trainer.phase_loss(phase, batch, z, noise)
    else:
        trainer.G.requires_grad_(True)
        trainer.D.requires_grad_(True)
        loss, _ = trainer.loss(phase, batch, z, noise)
    loss.backward()
    if trainer.device.type == "cuda":
        torch.cuda.synchronize(trainer.device)
    return time.perf_counter() - start


def bench_frozen_phases(ctx: BenchContext) -> dict:
    """Seconds per G step (G_main) and D step (D_main), other network frozen vs trainable, interleaved;
    and the gradient bytes each phase all-reduces under DDP (one module over G and D before, the trained
    network's own module now)."""
    from training.train.config import TrainConfig
    from training.train.loop import Trainer
    from training.train.presets import model_config

    on_cuda = ctx.device.type == "cuda"
    model, batch_size = (model_config("body"), 2) if on_cuda else (reduced_body(), 1)
    repeats = min(ctx.repeats, 3)
    with tempfile.TemporaryDirectory() as tmp:
        data = ctx.data
        if data is None:
            data = Path(tmp) / "data"
            _synth(data, 2, model.cond_resolution, views=2)
        trainer = Trainer(TrainConfig(run_dir=str(Path(tmp) / "run"), data=str(data), preset="body", batch=batch_size,
                                      workers=0, device=ctx.device.type, mirror=False), model=model)
        batch = {k: v.to(ctx.device) if torch.is_tensor(v) else v for k, v in next(iter(trainer.loader())).items()}
        result = {"sizes": {"preset": "body", "batch": batch_size, "timed_pairs": repeats,
                            **({} if on_cuda else {"reduced": REDUCED_BODY})}}
        for phase, step in (("G_main", "G_step"), ("D_main", "D_step")):
            for frozen in (False, True):  # warm-up
                _phase_seconds(trainer, phase, batch, frozen)
            times = {False: [], True: []}
            for _ in range(repeats):
                for frozen in (False, True):
                    times[frozen].append(_phase_seconds(trainer, phase, batch, frozen))
            before, after = (sorted(times[f])[len(times[f]) // 2] for f in (False, True))
            result[step] = {"other_trainable_s": round(before, 3), "other_frozen_s": round(after, 3),
                            "saved_s": round(before - after, 3), "saved_percent": round(100 * (1 - after / before), 1)}
        n_g, n_d = (sum(p.numel() * p.element_size() for p in net.parameters()) for net in (trainer.G, trainer.D))
    result["ddp_allreduce_mb_per_phase"] = {"before": round((n_g + n_d) / 2 ** 20, 1),
                                            "G_phases": round(n_g / 2 ** 20, 1), "D_phases": round(n_d / 2 ** 20, 1)}
    return result


def bench_train(ctx: BenchContext) -> dict:
    """Training images per second (all four phases, lazy regularisers at their intervals)."""
    from training.train.config import TrainConfig
    from training.train.loop import Trainer

    results = {}
    for preset, batch, steps in TRAIN_SIZES[ctx.size]:
        if ctx.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(ctx.device)
        with tempfile.TemporaryDirectory() as tmp:
            data = ctx.data
            if data is None:
                data = Path(tmp) / "data"
                _synth(data, max(batch, 2), 64 if preset == "tiny" else 512, views=2)
            trainer = Trainer(TrainConfig(run_dir=str(Path(tmp) / "run"), data=str(data), preset=preset,
                                          batch=batch, workers=0, device=ctx.device.type, mirror=False))
            entry = {"batch": batch, "timed_steps": steps,
                     "parameters": {"G": sum(p.numel() for p in trainer.G.parameters()),
                                    "D": sum(p.numel() for p in trainer.D.parameters())}}
            try:
                elapsed = _time_steps(trainer, steps)
                entry.update(images_per_s=round(batch * steps / elapsed, 3), seconds_per_step=round(elapsed / steps, 3),
                             **_peak_memory_gb(ctx.device))
            except torch.OutOfMemoryError:
                entry["status"] = f"out of memory at batch {batch} on one device"
            del trainer
            if ctx.device.type == "cuda":
                torch.cuda.empty_cache()
        results[f"{preset}_batch{batch}"] = entry
    if ctx.device.type != "cuda":
        results["body"] = {"status": "not timed on cpu (minutes per step); run with --device cuda"}
    results["frozen_other_network"] = bench_frozen_phases(ctx)
    return results


@torch.no_grad()
def bench_infer(ctx: BenchContext) -> dict:
    """Turntable frames per second (planes made once, then rendered + super-resolved) and seconds per mesh."""
    from training.data.layout import PRESETS
    from training.infer.mesh import field_mesh
    from training.train.presets import model_config
    from training.model.triplane import NovaGenerator
    from training.infer.cameras import turntable_views
    from training.infer.render import make_character_planes, render_views

    results = {}
    for preset, frames, size, mesh_res in INFER_SIZES[ctx.size]:
        if ctx.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(ctx.device)
        mc = model_config(preset)
        G = NovaGenerator(mc.generator).to(ctx.device).eval()
        cond = torch.zeros(1, 3, mc.cond_resolution, mc.cond_resolution, device=ctx.device)
        planes = make_character_planes(G, cond, cond)
        labels = turntable_views(PRESETS[mc.data_preset], frames).labels.to(ctx.device)
        start = time.perf_counter()
        count = sum(len(f.rgb) for f in render_views(G, planes, labels, size))
        turntable_s = time.perf_counter() - start
        start = time.perf_counter()
        field_mesh(G.field(planes), G.cfg.box_warp, resolution=mesh_res, neural_resolution=G.cfg.neural_resolution,
                   device=ctx.device)
        mesh_s = time.perf_counter() - start
        results[preset] = {"frames": count, "frame_size": size, "frames_per_s": round(count / turntable_s, 3),
                           "mesh_resolution": mesh_res, "seconds_per_mesh": round(mesh_s, 2),
                           **_peak_memory_gb(ctx.device)}
    return results
