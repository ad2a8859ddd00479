"""Benchmarks: ``python -m _scripts.bench [all|ops|data|synth|train|render|infer] [--out FILE] [--device cpu|cuda]
[--repeats N] [--size auto|full|small|tiny]`` prints one JSON object (and writes it to --out).
``python -m _scripts.bench compare --against PATH [--repeats ROUNDS] [--config paper|preset]`` times this
checkout's body G and D training steps against another checkout's, side by side (_scripts/bench_compare.py);
``compare --original PATH [--python PY]`` against the original NOVA-3D code's at the paper's config.

Each section is a function ``bench_<name>(ctx: BenchContext) -> dict`` listed in SECTIONS (data,
train and infer, and BenchContext, live in the helper module _scripts/bench_pipeline.py). Timings are ms per call, the median of ``repeats``
calls after warm-up. Ops run their reference and (where CUDA is usable) CUDA paths side by side in
the same process at the same sizes, so ``ref_over_cuda`` is a fair speed-up. ``--size auto`` takes the
realistic training sizes on CUDA and smaller ones on CPU; the sizes used are part of the output.
"""
from __future__ import annotations

import importlib
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import click
import torch

from _scripts.bench_compare import CONFIGS as COMPARE_CONFIGS, OriginalUnavailable, bench_compare, bench_compare_original
from _scripts.bench_pipeline import BenchContext, bench_data, bench_infer, bench_synth, bench_train
from torch_utils import custom_ops

SIZES = ("full", "small", "tiny")
# Tri-plane sampler: a batch of front + back tri-plane sets (3 planes x D slices x C channels at res^2)
# sampled at rays x samples points. "full" is a training step: 16 x 96^2 rays x 96 samples.
SAMPLER_SIZES = {
    "full": dict(batch=16, depth=3, channels=16, res=256, rays=96 * 96, samples=96),
    "small": dict(batch=1, depth=3, channels=16, res=256, rays=32 * 32, samples=48),
    "tiny": dict(batch=1, depth=3, channels=16, res=32, rays=8 * 8, samples=8),
}
# StyleGAN2 layer activations (N, C, H, W): a 128-channel feature map at 128^2 for a batch of 16.
FEATURE_SIZES = {"full": (16, 128, 128, 128), "small": (1, 64, 64, 64), "tiny": (1, 8, 16, 16)}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_ms(fn: Callable[[], object], ctx: BenchContext) -> float:
    """Median wall time of one call in ms, after ctx.warmup untimed calls."""
    for _ in range(ctx.warmup):
        fn()
    _sync(ctx.device)
    times = []
    for _ in range(ctx.repeats):
        start = time.perf_counter()
        fn()
        _sync(ctx.device)
        times.append((time.perf_counter() - start) * 1e3)
    return round(statistics.median(times), 4)


def compare_impls(make_call: Callable[[str], Callable[[], object]], ctx: BenchContext) -> dict:
    """ms per call of impl='ref' and impl='cuda' (when usable), and their ratio."""
    result: dict = {"ref_ms": time_ms(make_call("ref"), ctx), "cuda_ms": None, "ref_over_cuda": None}
    reason = ctx.cuda_ops
    if reason is None:
        try:
            result["cuda_ms"] = time_ms(make_call("cuda"), ctx)
            result["ref_over_cuda"] = round(result["ref_ms"] / result["cuda_ms"], 3)
        except custom_ops.CudaOpUnavailable as exc:
            reason = str(exc)
    if reason is not None:
        result["cuda"] = f"not run: {reason}"
    return result


def _ray_points(batch: int, rays: int, samples: int, box: float, device: torch.device) -> torch.Tensor:
    """Points along perspective rays through the box from random directions, as a renderer samples them:
    (batch, rays * samples, 3), the samples of one ray contiguous."""
    gen = torch.Generator().manual_seed(0)
    side = int(math.isqrt(rays))
    eye = torch.nn.functional.normalize(torch.randn(batch, 3, generator=gen), dim=-1) * 2 * box
    forward = -torch.nn.functional.normalize(eye, dim=-1)
    right = torch.nn.functional.normalize(torch.linalg.cross(forward, torch.tensor([0.0, 1.0, 0.0]).expand(batch, 3)),
                                          dim=-1)
    up = torch.linalg.cross(right, forward)
    pix = (torch.arange(side) + 0.5) / side * 2 - 1
    py, px = torch.meshgrid(pix, pix, indexing="ij")
    dirs = forward[:, None] + 0.3 * (px.reshape(1, -1, 1) * right[:, None] + py.reshape(1, -1, 1) * up[:, None])
    dirs = torch.nn.functional.normalize(dirs, dim=-1)
    t = 2 * box + box * (torch.linspace(-0.9, 0.9, samples) + torch.rand(batch, side * side, samples, generator=gen) / samples)
    points = eye[:, None, None] + t[..., None] * dirs[:, :, None]
    return points.reshape(batch, -1, 3).to(device)


def bench_triplane_sampler(ctx: BenchContext) -> dict:
    """Front planes (back_frame off) and back planes (back_frame on), mean over planes: one call
    samples both sets, as the generator does per rendering step."""
    from torch_utils.ops.triplane_sampler import triplane_sample

    s = SAMPLER_SIZES[ctx.size]
    box = 2.1
    shape = (s["batch"], 3, s["depth"], s["channels"], s["res"], s["res"])
    planes = [torch.randn(shape, device=ctx.device) for _ in range(2)]
    points = _ray_points(s["batch"], s["rays"], s["samples"], box, ctx.device)
    grads = torch.randn(s["batch"], points.shape[1], s["channels"], device=ctx.device)

    def forward(impl: str) -> Callable[[], object]:
        return lambda: [triplane_sample(p, points, box, back, "mean", impl) for p, back in zip(planes, (False, True))]

    def forward_backward(impl: str) -> Callable[[], object]:
        leaves = [p.detach().requires_grad_() for p in planes] + [points.detach().requires_grad_()]

        def call():
            outs = [triplane_sample(p, leaves[2], box, back, "mean", impl) for p, back in zip(leaves[:2], (False, True))]
            return torch.autograd.grad(outs, leaves, [grads, grads])
        return call

    sizes = dict(s, planes=list(shape), plane_sets=2, points_per_set=points.shape[1], reduce="mean", dtype="float32")
    with torch.no_grad():
        fwd = compare_impls(forward, ctx)
    return {"sizes": sizes, "forward": fwd, "forward_backward": compare_impls(forward_backward, ctx)}


def bench_bias_act(ctx: BenchContext) -> dict:
    from torch_utils.ops.bias_act import bias_act

    shape = FEATURE_SIZES[ctx.size]
    x = torch.randn(shape, device=ctx.device)
    b = torch.randn(shape[1], device=ctx.device)
    grad = torch.randn_like(x)

    def forward(impl: str) -> Callable[[], object]:
        return lambda: bias_act(x, b, act="lrelu", impl=impl)

    def forward_backward(impl: str) -> Callable[[], object]:
        leaves = [x.detach().requires_grad_(), b.detach().requires_grad_()]
        return lambda: torch.autograd.grad(bias_act(*leaves, act="lrelu", impl=impl), leaves, grad)

    with torch.no_grad():
        fwd = compare_impls(forward, ctx)
    return {"sizes": {"x": list(shape), "act": "lrelu"}, "forward": fwd,
            "forward_backward": compare_impls(forward_backward, ctx)}


def _bench_resample(ctx: BenchContext, name: str) -> dict:
    upfirdn2d = importlib.import_module("torch_utils.ops.upfirdn2d")
    op = getattr(upfirdn2d, name)
    shape = FEATURE_SIZES[ctx.size]
    x = torch.randn(shape, device=ctx.device)
    f = upfirdn2d.setup_filter([1, 3, 3, 1], device=ctx.device)
    grad = torch.randn_like(op(x, f, impl="ref"))

    def forward(impl: str) -> Callable[[], object]:
        return lambda: op(x, f, impl=impl)

    def forward_backward(impl: str) -> Callable[[], object]:
        leaf = x.detach().requires_grad_()
        return lambda: torch.autograd.grad(op(leaf, f, impl=impl), leaf, grad)

    with torch.no_grad():
        fwd = compare_impls(forward, ctx)
    return {"sizes": {"x": list(shape), "filter": [1, 3, 3, 1]}, "forward": fwd,
            "forward_backward": compare_impls(forward_backward, ctx)}


OPS: dict[str, Callable[[BenchContext], dict]] = {
    "triplane_sampler": bench_triplane_sampler,
    "bias_act": bench_bias_act,
    "upsample2d": lambda ctx: _bench_resample(ctx, "upsample2d"),
    "downsample2d": lambda ctx: _bench_resample(ctx, "downsample2d"),
}


def bench_ops(ctx: BenchContext) -> dict:
    """Every custom op; one whose module does not import (yet) is reported as not available."""
    results = {}
    for name, bench in OPS.items():
        try:
            results[name] = bench(ctx)
        except ImportError as exc:
            results[name] = {"status": "not available", "reason": f"{type(exc).__name__}: {exc}"}
    return results


# Real-character rendering: copies of one 30k-triangle textured .glb through the character-file renderer (training/data/synth/from_files.py), 21 views
# each (5 ortho + 16 random, no evaluation grid), with the workers of a 2-core machine.
RENDER_SIZES = {"full": dict(characters=8, res=512, workers=2), "small": dict(characters=4, res=512, workers=2),
                "tiny": dict(characters=1, res=64, workers=1)}
RENDER_TRIANGLES, RENDER_TEXTURE = 30_000, 1024


def write_bench_character(path: Path, triangles: int = RENDER_TRIANGLES, texture: int = RENDER_TEXTURE) -> int:
    """A textured .glb standing in for a character: a wavy body of revolution (feet at y = 0, 1.8
    tall) with about `triangles` triangles and a striped gradient texture. Returns its triangle count."""
    import io

    import numpy as np
    from PIL import Image

    from training.data.glb import write_glb

    cols = 150
    rows = max(1, round(triangles / (2 * cols)))
    theta, phi = np.meshgrid(np.linspace(0, np.pi, rows + 1), np.linspace(0, 2 * np.pi, cols + 1), indexing="ij")
    radius = 0.3 * np.sin(theta) * (1 + 0.25 * np.cos(5 * theta))
    positions = np.stack([radius * np.sin(phi), 0.9 + 0.9 * np.cos(theta), radius * np.cos(phi)], -1).reshape(-1, 3)
    uvs = np.stack([phi / (2 * np.pi), theta / np.pi], -1).reshape(-1, 2)
    a = (np.arange(rows)[:, None] * (cols + 1) + np.arange(cols)[None]).ravel()
    faces = np.concatenate([np.stack([a, a + cols + 1, a + 1], 1), np.stack([a + 1, a + cols + 1, a + cols + 2], 1)])
    v, u = np.mgrid[0:texture, 0:texture] / texture
    texels = np.stack([u, v, 0.5 + 0.5 * np.sin(40 * v), np.ones_like(u)], -1)
    png = io.BytesIO()
    Image.fromarray((texels * 255).astype(np.uint8)).save(png, format="PNG")
    chunks = [positions.astype(np.float32).tobytes(), uvs.astype(np.float32).tobytes(),
              faces.astype(np.uint32).tobytes(), png.getvalue()]
    views, blob = [], b""
    for chunk in chunks:
        blob += b"\0" * (-len(blob) % 4)
        views.append({"buffer": 0, "byteOffset": len(blob), "byteLength": len(chunk)})
        blob += chunk
    accessors = [{"bufferView": 0, "componentType": 5126, "count": len(positions), "type": "VEC3",
                  "min": positions.min(0).tolist(), "max": positions.max(0).tolist()},
                 {"bufferView": 1, "componentType": 5126, "count": len(uvs), "type": "VEC2"},
                 {"bufferView": 2, "componentType": 5125, "count": faces.size, "type": "SCALAR"}]
    write_glb(path, {
        "asset": {"version": "2.0"}, "buffers": [{"byteLength": len(blob)}], "bufferViews": views,
        "accessors": accessors, "images": [{"bufferView": 3, "mimeType": "image/png"}], "textures": [{"source": 0}],
        "materials": [{"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0, "TEXCOORD_0": 1}, "indices": 2, "material": 0}]}],
        "nodes": [{"mesh": 0}], "scenes": [{"nodes": [0]}], "scene": 0}, blob)
    return len(faces)


def bench_render(ctx: BenchContext) -> dict:
    """Characters per minute through what ``python -m _scripts.data.render`` runs (load, place, render, write
    PNGs), timed once over the whole batch: worker start-up included, repeats not used."""
    import contextlib
    import shutil
    import sys
    import tempfile

    from training.data.synth.from_files import RenderConfig, generate

    s = RENDER_SIZES[ctx.size]
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in", Path(tmp) / "out"
        src.mkdir()
        triangles = write_bench_character(src / "bench0.glb")
        for k in range(1, s["characters"]):
            shutil.copy(src / "bench0.glb", src / f"bench{k}.glb")
        config = RenderConfig(out=str(out), preset="body", res=s["res"], seed=0, views=16, grid="none",
                              splits=(1.0, 0.0, 0.0), renderset="human_rutileE")
        start = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries the JSON
            generate(config, src, s["workers"], None)
        seconds = time.perf_counter() - start
        meta = json.loads((out / "renders" / "human_rutileE" / "human_rutileE_meta.json").read_text())
    rendered = len({key.split("/")[3] for key in meta})
    return {"sizes": dict(s, triangles=triangles, texture=RENDER_TEXTURE, views=21), "seconds": round(seconds, 2),
            "failed": s["characters"] - rendered, "characters_per_min": round(rendered * 60 / seconds, 2),
            "target_per_min": 6, "unit": "characters per minute, one timed batch"}


SECTIONS: dict[str, Callable[[BenchContext], dict]] = {
    "ops": bench_ops,
    "data": bench_data,
    "synth": bench_synth,
    "train": bench_train,
    "render": bench_render,
    "infer": bench_infer,
}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(ctx: BenchContext) -> dict:
    """What the numbers were measured on."""
    if ctx.device.type == "cuda":
        device_name = torch.cuda.get_device_name(ctx.device)
    else:
        device_name = _cpu_model()
    return {"torch": torch.__version__, "torch_cuda": torch.version.cuda, "python": platform.python_version(),
            "device": str(ctx.device), "device_name": device_name, "cpu_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "load_avg_1min": round(os.getloadavg()[0], 2), "size": ctx.size, "repeats": ctx.repeats, "warmup": ctx.warmup,
            "unit": "ms per call, median of repeats after warm-up"}


def run(sections: list[str], ctx: BenchContext) -> dict:
    """The JSON object for the given sections."""
    return {"env": environment(ctx), **{name: SECTIONS[name](ctx) for name in sections}}


@click.command()
@click.argument("section", type=click.Choice(["all", *SECTIONS, "compare"]), default="all")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the JSON here.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None, help="Default: cuda when available.")
@click.option("--repeats", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--size", type=click.Choice(["auto", *SIZES]), default="auto", show_default=True,
              help="auto: full on cuda, small on cpu.")
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="train section: an existing body data root (>= 512 px) instead of synthetic characters "
                   "(for machines without the headless renderer).")
@click.option("--against", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="compare: the other checkout (e.g. a worktree of main); --repeats is the number of rounds.")
@click.option("--original", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="compare: a checkout of the original NOVA-3D code, timed at the paper config (instead of --against).")
@click.option("--python", "python", default=sys.executable, show_default="this interpreter",
              help="compare: the interpreter both sides run under (with --original: one whose environment has "
                   "the original's requirements and ours).")
@click.option("--render-chunk", type=int, default=-1, show_default=True,
              help="compare: our side's G renders in recomputed chunks of N rays (-1: the trainer's default, "
                   "0: none): the lower-memory mode.")
@click.option("--config", "configs", type=click.Choice(list(COMPARE_CONFIGS)), multiple=True,
              help="compare: paper (the paper's body run, set on both sides) and/or preset (each side's body "
                   "preset). Default: both.")
def main(section: str, out: Path | None, device: str | None, repeats: int, size: str, data: Path | None,
         against: Path | None, original: Path | None, python: str, render_chunk: int,
         configs: tuple[str, ...]) -> None:
    """Benchmark NOVA-3D's parts and print one JSON object."""
    if section == "compare":
        _emit(_compare(against, original, python, repeats, configs, render_chunk), out)
        return
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise click.UsageError("--device cuda: no CUDA device is visible to this torch")
    if size == "auto":
        size = "full" if device == "cuda" else "small"
    ctx = BenchContext(torch.device(device), size, repeats, warmup=2 if device == "cuda" else 1, data=data)
    _emit(run(list(SECTIONS) if section == "all" else [section], ctx), out)


def _compare(against: Path | None, original: Path | None, python: str, repeats: int, configs: tuple[str, ...],
             render_chunk: int = -1) -> dict:
    """The compare section's JSON; a bad --original is one ``Error:`` line and exit status 2."""
    if (against is None) == (original is None):
        raise click.UsageError("compare needs either --against PATH (a checkout of NOVA-3D) or --original PATH "
                               "(a checkout of the original NOVA-3D code) to time this one against")
    if against is not None:
        return bench_compare(against, repeats, timed=1, configs=configs or tuple(COMPARE_CONFIGS), python=python,
                             render_chunk=render_chunk)
    if set(configs) - {"paper"}:
        raise click.UsageError("--original times the paper config only (the original has no presets)")
    try:
        return bench_compare_original(original, repeats, timed=1, python=python, render_chunk=render_chunk)
    except OriginalUnavailable as exc:
        error = click.ClickException(str(exc))
        error.exit_code = 2
        raise error from exc


def _emit(result: dict, out: Path | None) -> None:
    text = json.dumps(result, indent=2)
    click.echo(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")


if __name__ == "__main__":
    main()
