"""Generate the test split's reconstructions: ortho views, the 12-view spin, turntables and meshes.

    python -m _scripts.eval.generate --inferquery NAME-RUN-KIMG [--data DIR] [--split test] [--out DIR]
        [--limit N | --ids ID ...] [--video [--frames 360]] [--mesh [--mesh-res 256]] [--res PX]
        [--device auto|cpu|cuda] [--batch B] [--chunk RAYS] [--lowmem]

Per character, in <out>/<id>/:
    input_front.png, input_back.png        the condition images the model saw
    ortho_{front,back,left,right}.png      orthographic views, as the dataset's ortho/ renders
    spin_00.png ... spin_11.png            perspective, elevation 0, azimuth -180, -150, ..., 150
                                           (the evaluation grid's views 36..47, the '360' subset)
    xyza/<view>.png                        the expected surface point and alpha of each view above,
                                           in the dataset's xyza encoding
    turntable.mp4, turntable.gif           with --video: --frames views at elevation 0, from the front
    mesh.ply, mesh.glb (and .obj)          with --mesh: marching cubes of the density (training/infer/mesh.py)
and <out>/manifest.json lists the snapshot, the settings and the characters. Deterministic: the mean
latent, constant noise and fixed ray samples; two runs write identical PNGs.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from training.data.layout import PRESETS, DataPreset, default_data_root
from training.data.dataset import DatasetConfig, NovaHumanDataset
from training.data.checks import DatasetError
from training.infer.load import LoadedGenerator, load_generator
from training.train.runs import default_runs_root, resolve_inferquery
from training.infer.mesh import MESH_FORMATS, field_mesh, write_mesh
from training.model.triplane import NovaGenerator, Planes
from training.infer.render import (make_character_planes, ortho_views, render_views, spin_views, turntable_views,
                                write_video)

DEFAULT_CHUNK = {"cuda": 8192, "cpu": 2048}  # rays per view per field call
LOWMEM_CHUNK, DEFAULT_BATCH = 1024, 4


class UsageError(ValueError):
    """A bad command line or environment; printed as one line."""


@dataclass
class OutputOptions:
    """What to write per character and how big."""

    size: int
    batch: int
    video: bool = False
    frames: int = 360
    fps: float = 30.0
    mesh: bool = False
    mesh_res: int = 256
    mesh_level: float | None = None
    mesh_formats: tuple[str, ...] = ("ply", "glb")
    notes: list[str] = field(default_factory=list)  # warnings collected while writing, printed at the end


def add_model_args(ap: argparse.ArgumentParser) -> None:
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--inferquery", help="snapshot as NAME-RUN-KIMG, i.e. <runs>/NAME/RUN/network-snapshot-KIMG.pt")
    g.add_argument("--ckpt", type=Path, help="snapshot file (network-snapshot-*.pt) instead of --inferquery")
    ap.add_argument("--runs", type=Path, default=None,
                    help="runs folder for --inferquery (default: $PROJECT_DN/_train/eg3dc/runs)")


def add_output_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--video", action="store_true", help="also write turntable.mp4 and turntable.gif")
    ap.add_argument("--frames", type=int, default=360, help="turntable frames, one full turn (default 360)")
    ap.add_argument("--fps", type=float, default=30.0, help="turntable frame rate (default 30)")
    ap.add_argument("--mesh", action="store_true", help="also write a vertex-coloured mesh (mesh.ply, mesh.glb)")
    ap.add_argument("--mesh-res", type=int, default=256,
                    help="density grid nodes per axis over the box (default 256; 64-128 is enough on a CPU)")
    ap.add_argument("--mesh-level", type=float, default=None,
                    help="marching-cubes density level (default ln2 * neural_resolution / box_warp, the density "
                         "at which a one-pixel-thick slab is half opaque)")
    ap.add_argument("--mesh-formats", default="ply,glb",
                    help=f"comma-separated mesh files to write, from {', '.join(MESH_FORMATS)} (default ply,glb)")
    ap.add_argument("--res", type=int, default=None,
                    help="output image size in pixels (default: the model's image resolution); smaller sizes "
                         "render proportionally fewer rays")
    ap.add_argument("--samples", type=int, default=None,
                    help="coarse and fine samples per ray, each (default: twice the training counts, 96 + 96 "
                         "for the body and head presets)")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                    help="where to run (default auto: cuda when available)")
    ap.add_argument("--batch", type=int, default=None,
                    help=f"cameras rendered per call (default {DEFAULT_BATCH}; 1 with --lowmem)")
    ap.add_argument("--chunk", type=int, default=None,
                    help="rays per camera per field call (default: %s on cuda, %s on cpu; %s with --lowmem); "
                         "the mesh grid is evaluated in pieces of as many samples as a render call takes"
                         % (DEFAULT_CHUNK["cuda"], DEFAULT_CHUNK["cpu"], LOWMEM_CHUNK))
    ap.add_argument("--lowmem", action="store_true",
                    help="lowest memory: one camera per call, small ray chunks (slower)")


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available to this PyTorch (use --device cpu)")
    return torch.device("cuda" if name == "cuda" or (name == "auto" and torch.cuda.is_available()) else "cpu")


def snapshot_path(args: argparse.Namespace) -> tuple[Path, str]:
    """The snapshot file and a query-like name for it (the default output folder's name)."""
    if args.ckpt is not None:
        path = Path(args.ckpt)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: snapshot file not found")
        m = re.fullmatch(r"network-snapshot-(\d+)\.pt", path.name)
        run = path.parent.name
        name = f"{path.parent.parent.name}-{run}-{m.group(1)}" if m and run.isdigit() else path.stem
        return path, name
    return resolve_inferquery(args.inferquery, args.runs or default_runs_root()), args.inferquery


def load_model(args: argparse.Namespace) -> tuple[LoadedGenerator, str]:
    """G_ema on the chosen device with the render settings of the command line applied."""
    path, name = snapshot_path(args)
    device = resolve_device(args.device)
    loaded = load_generator(path, device)
    render = loaded.G.renderer.cfg
    render.chunk = args.chunk or (LOWMEM_CHUNK if args.lowmem else DEFAULT_CHUNK[device.type])
    if render.n_fine:
        render.n_fine = args.samples or 2 * render.n_fine
    render.n_coarse = args.samples or 2 * render.n_coarse
    return loaded, name


def check_flags(args: argparse.Namespace) -> tuple[str, ...]:
    """Validate the output flags before anything is loaded; returns the mesh formats."""
    formats = tuple(f.strip().lower() for f in args.mesh_formats.split(",") if f.strip())
    bad = [f for f in formats if f not in MESH_FORMATS]
    if bad or not formats:
        raise UsageError(f"--mesh-formats: unknown format {', '.join(bad) or '(none)'}; "
                         f"choose from {', '.join(MESH_FORMATS)}")
    for flag, value, low in (("--frames", args.frames, 1), ("--mesh-res", args.mesh_res, 2), ("--res", args.res, 8),
                             ("--batch", args.batch, 1), ("--chunk", args.chunk, 1), ("--samples", args.samples, 1),
                             ("--fps", args.fps, 1), ("--limit", getattr(args, "limit", None), 1)):
        if value is not None and value < low:
            raise UsageError(f"{flag} must be at least {low}, got {value}")
    return formats


def output_options(args: argparse.Namespace, G: NovaGenerator) -> OutputOptions:
    """The output flags resolved against the model (default size: its image resolution)."""
    return OutputOptions(size=args.res or G.cfg.sr.img_resolution,
                         batch=args.batch or (1 if args.lowmem else DEFAULT_BATCH), video=args.video,
                         frames=args.frames, fps=args.fps, mesh=args.mesh, mesh_res=args.mesh_res,
                         mesh_level=args.mesh_level, mesh_formats=check_flags(args))


def _save(image, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path


def write_character(G: NovaGenerator, preset: DataPreset, planes: Planes, inputs: tuple[Image.Image, Image.Image],
                    out_dir: Path, opts: OutputOptions, label: str = "") -> list[Path]:
    """Every file of one character (module docstring) from planes made once; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [_save(np.asarray(im.convert("RGB")), out_dir / f"input_{side}.png")
               for side, im in zip(("front", "back"), inputs)]
    for views in (ortho_views(preset), spin_views(preset)):
        names = iter(views.names)
        for frames in render_views(G, planes, views.labels, opts.size, opts.batch):
            for rgb, xyza in zip(frames.rgb, frames.xyza):
                name = next(names)
                written += [_save(rgb, out_dir / f"{name}.png"), _save(xyza, out_dir / "xyza" / f"{name}.png")]
    if opts.video:
        views = turntable_views(preset, opts.frames)
        bar = tqdm(total=opts.frames, desc=f"{label} turntable", unit="frame", leave=False, dynamic_ncols=True)

        def frames():
            for batch in render_views(G, planes, views.labels, opts.size, opts.batch):
                bar.update(len(batch.rgb))
                yield from batch.rgb

        paths = [out_dir / "turntable.mp4", out_dir / "turntable.gif"]
        try:
            write_video(frames(), paths, opts.fps)
        finally:
            bar.close()
        written += paths
    if opts.mesh:
        device = planes.front.device
        samples = G.renderer.cfg.n_coarse + G.renderer.cfg.n_fine
        mesh, grid = field_mesh(G.field(planes), G.cfg.box_warp, opts.mesh_res, opts.mesh_level, G.cfg.neural_resolution,
                                chunk=G.renderer.cfg.chunk * samples * opts.batch, device=device)
        if mesh is None:
            opts.notes.append(f"{label}: no mesh: the density never reaches the level (max {grid.max():.3g}); "
                              f"try a lower --mesh-level")
        else:
            written += [write_mesh(mesh, out_dir / f"mesh.{fmt}") for fmt in opts.mesh_formats]
    return written


def dataset_for(args: argparse.Namespace, loaded: LoadedGenerator, preset: str) -> NovaHumanDataset:
    """The split's characters (only the condition images and features are used)."""
    root = Path(args.data) if args.data else default_data_root()
    if not root.is_dir():
        raise DatasetError(f"{root}: data root not found (give --data DIR holding renders/ and subsets/)")
    return NovaHumanDataset(DatasetConfig(root=str(root), preset=preset, split=args.split, resolution=8,
                                          cond_resolution=loaded.model.cond_resolution,
                                          use_features=loaded.G.cfg.use_precomputed_features))


def select(ds: NovaHumanDataset, ids: list[str] | None, limit: int | None) -> list[int]:
    index = {cid: i for i, cid in enumerate(ds.ids)}
    if ids:
        missing = [i for i in ids if i not in index]
        if missing:
            raise UsageError(f"--ids: {', '.join(missing)} not in the {ds.cfg.split} split "
                             f"({ds.root / 'subsets'}; it has {len(ds.ids)} characters)")
        picks = [index[i] for i in ids]
    else:
        picks = list(range(len(ds.ids)))
    return picks[:limit] if limit is not None else picks


def build_parser(prog: str = "python -m _scripts.eval.generate",
                 description: str | None = None) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=description or __doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__[__doc__.index("Per character"):])
    add_model_args(ap)
    ap.add_argument("--data", type=Path, default=None,
                    help="data root holding renders/ and subsets/ (default: $PROJECT_DN/_data/lustrous)")
    ap.add_argument("--preset", choices=sorted(PRESETS), default=None,
                    help="data preset: renderset, split names, cameras (default: the snapshot's)")
    ap.add_argument("--split", default="test", help="split list to generate (default test)")
    ap.add_argument("--out", type=Path, default=None,
                    help="output folder (default: $PROJECT_DN/_data/results/<inferquery>/<split>; for --ckpt "
                         "the query is NAME-RUN-KIMG read from the path, or the file's stem)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N characters of the split")
    ap.add_argument("--ids", nargs="+", default=None, metavar="ID", help="only these character ids")
    add_output_args(ap)
    return ap


def run(args: argparse.Namespace) -> int:
    """generate with parsed arguments (shared by human_generate)."""
    check_flags(args)
    loaded, name = load_model(args)
    G = loaded.G
    preset_name = args.preset or loaded.model.data_preset
    preset = PRESETS[preset_name]
    if abs(preset.boxwarp - G.cfg.box_warp) > 1e-6:
        raise UsageError(f"{loaded.path}: the snapshot was trained with box {G.cfg.box_warp} "
                         f"({loaded.model.data_preset} preset); the {preset_name} preset needs box {preset.boxwarp}")
    opts = output_options(args, G)
    ds = dataset_for(args, loaded, preset_name)
    picks = select(ds, args.ids, args.limit)
    out = args.out or Path(os.environ.get("PROJECT_DN", ".")) / "_data" / "results" / name / args.split
    start, count = time.time(), 0
    for i in tqdm(picks, desc="generate", unit="char", dynamic_ncols=True):
        item = ds[i]
        planes = make_character_planes(G, item["cond_front"], item["cond_back"], item.get("feat_front"),
                                       item.get("feat_back"))
        inputs = tuple(Image.fromarray(((item[k].permute(1, 2, 0) + 1) * 127.5).round().byte().numpy())
                       for k in ("cond_front", "cond_back"))
        count += len(write_character(G, preset, planes, inputs, out / item["id"], opts, item["id"]))
    manifest = {"snapshot": str(loaded.path), "query": name, "preset": preset_name, "data": str(ds.root),
                "split": args.split, "size": opts.size, "characters": [ds.ids[i] for i in picks],
                "views": ortho_views(preset).names + spin_views(preset).names,
                "video": opts.video, "frames": opts.frames if opts.video else 0, "mesh": opts.mesh,
                "mesh_res": opts.mesh_res if opts.mesh else 0}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print_summary(out, len(picks), count, time.time() - start, opts)
    return 0


def print_summary(out: Path, n_chars: int, n_files: int, seconds: float, opts: OutputOptions) -> None:
    extras = (["turntable.mp4/.gif (%d frames)" % opts.frames] if opts.video else []) + \
             (["mesh." + "/.".join(opts.mesh_formats) + " (%d^3 grid)" % opts.mesh_res] if opts.mesh else [])
    print(f"wrote {n_files} files for {n_chars} character(s) to {out} in {seconds:.1f} s: 4 ortho + 12 spin views "
          f"at {opts.size} px" + "".join(", " + e for e in extras))
    for note in opts.notes:
        print(f"warning: {note}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return guarded(run, args)


def guarded(fn, args: argparse.Namespace) -> int:
    """Run fn(args); expected failures become one line on stderr and exit code 2."""
    try:
        return fn(args)
    except torch.cuda.OutOfMemoryError:
        print("error: out of GPU memory; use --lowmem, or a smaller --batch or --chunk", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as exc:  # DatasetError, ImageError and UsageError are ValueErrors
        print(f"error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
