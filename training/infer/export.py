"""Writing reconstructions to disk: per character the inputs, ortho and spin views, turntables and meshes.

Takes a generator, planes made once per character (training/infer/render.py) and the output options;
gives the files FILES lists (generate's --help shows the same text).
"""
from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import imageio.v2 as imageio
import numpy as np
from PIL import Image
from tqdm import tqdm

from dnnlib.files import atomic_path
from training.data.checks import DatasetError
from training.data.dataset import DatasetConfig, NovaHumanDataset
from training.data.layout import PRESETS, DataPreset
from training.infer.cameras import ortho_views, spin_views, turntable_views
from training.infer.load import LoadedGenerator
from training.infer.avatar import make_avatar, write_avatar
from training.infer.mesh import field_mesh, write_mesh
from training.infer.render import item_planes, render_views
from training.infer.texture import DEFAULT_FACES, DEFAULT_TEXTURE, textured_mesh
from training.infer.vrm import AvatarMeta
from training.model.triplane import NovaGenerator, Planes

FILES = """Per character, in <out>/<id>/:
    input_front.png, input_back.png        the drawings as framed for the model (reconstruct: at the output size)
    ortho_{front,back,left,right}.png      orthographic views, as the dataset's ortho/ renders
    spin_00.png ... spin_11.png            perspective, elevation 0, azimuth -180, -150, ..., 150
                                           (the evaluation grid's views 36..47, the '360' subset)
    xyza/<view>.png                        the expected surface point and alpha of each view above,
                                           in the dataset's xyza encoding
    turntable.mp4, turntable.gif           with --video: --frames views at elevation 0, from the front
    mesh.glb, mesh.obj (.mtl, .png), mesh.ply
                                           with --mesh: marching cubes of the density (training/infer/mesh.py),
                                           simplified to --faces with a UV atlas and a baked texture
                                           (training/infer/texture.py; the .ply has vertex colours)
    avatar.vrm                             with --vrm: the textured mesh rigged and skinned in a T-pose
                                           (training/infer/avatar.py)
and <out>/manifest.json lists the snapshot, the settings and the characters."""

Progress = Callable[[str, int, int], None]
"""Called as files are written, for a caller that shows progress (the web app): (stage, done, total), the
stage one of 'refine' (training/infer/reconstruct.py's fit), 'views', 'turntable', 'mesh'."""


@dataclass
class OutputOptions:
    """What to write per character and how big."""

    size: int
    """Output image size in pixels."""
    batch: int
    """Cameras rendered per call."""
    video: bool = False
    frames: int = 360
    """Turntable frames, one full turn."""
    fps: float = 30.0
    mesh: bool = False
    mesh_res: int = 256
    """Density grid nodes per axis over the box."""
    mesh_level: float | None = None
    """Marching-cubes density level; None: training/infer/mesh.py's field_level (the rendered silhouettes')."""
    mesh_formats: tuple[str, ...] = ("ply", "glb", "obj")
    faces: int = DEFAULT_FACES
    """Triangles of the simplified, textured mesh; 0: the marching-cubes mesh as it is, vertex-coloured."""
    texture_size: int = DEFAULT_TEXTURE
    """Baked texture width and height in texels."""
    vrm: AvatarMeta | None = None
    """Also write avatar.vrm with this meta (needs the textured mesh)."""
    notes: list[str] = field(default_factory=list)
    """Warnings collected while writing, for the caller to print at the end."""


def save_image(image: np.ndarray, path: Path) -> Path:
    """An (H, W, C) uint8 image as a PNG, making its folder; written whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")
    return path


def write_video(frames: Iterable[np.ndarray], paths: list[Path], fps: float = 30.0) -> int:
    """Stream uint8 frames (H, W, 3) into every path (.mp4 via imageio-ffmpeg / libx264, .gif looping
    forever); returns the number of frames written. Frames are consumed as they come: the mp4 encoder
    streams them to disk (only the gif writer keeps its frames until it closes). Each video goes to a
    temporary file renamed over its path once every frame is in, so a failure leaves no partial video."""
    for path in paths:
        if Path(path).suffix.lower() not in (".mp4", ".gif"):
            raise ValueError(f"{path}: unknown video format (use .mp4 or .gif)")
    with ExitStack() as renames:
        tmps = [renames.enter_context(atomic_path(path)) for path in paths]
        writers = []
        try:
            for tmp in tmps:
                if tmp.suffix.lower() == ".mp4":
                    writers.append(imageio.get_writer(tmp, fps=fps, codec="libx264", quality=8, macro_block_size=2,
                                                      ffmpeg_log_level="error"))
                else:
                    writers.append(imageio.get_writer(tmp, mode="I", duration=round(1000 / fps), loop=0))
            count = 0
            for frame in frames:
                for w in writers:
                    w.append_data(frame)
                count += 1
        finally:
            for w in writers:
                w.close()
    return count


def write_character(G: NovaGenerator, preset: DataPreset, planes: Planes, inputs: tuple[Image.Image, Image.Image],
                    out_dir: Path, opts: OutputOptions, label: str = "", progress: Progress | None = None) -> list[Path]:
    """Every file of one character (module docstring) from planes made once; returns the paths written."""
    progress = progress or (lambda stage, done, total: None)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [save_image(np.asarray(im.convert("RGB")), out_dir / f"input_{side}.png")
               for side, im in zip(("front", "back"), inputs)]
    all_views = [ortho_views(preset), spin_views(preset)]
    done, total = 0, sum(len(v.names) for v in all_views)
    for views in all_views:
        names = iter(views.names)
        for rendered in render_views(G, planes, views.labels, opts.size, opts.batch):
            for rgb, xyza in zip(rendered.rgb, rendered.xyza):
                name = next(names)
                written += [save_image(rgb, out_dir / f"{name}.png"), save_image(xyza, out_dir / "xyza" / f"{name}.png")]
            done += len(rendered.rgb)
            progress("views", done, total)
    if opts.video:
        written += _write_turntable(G, preset, planes, out_dir, opts, label, progress)
    if opts.mesh:
        progress("mesh", 0, 1)
        written += _write_meshes(G, planes, out_dir, opts, label)
        progress("mesh", 1, 1)
    return written


def _write_meshes(G: NovaGenerator, planes: Planes, out_dir: Path, opts: OutputOptions, label: str) -> list[Path]:
    """The mesh files and avatar.vrm of one character; none (and a note) where the field has no surface."""
    device, field = planes.front.device, G.field(planes)
    chunk = G.renderer.cfg.chunk * (G.renderer.cfg.n_coarse + G.renderer.cfg.n_fine) * opts.batch
    mesh, grid = field_mesh(field, G.cfg.box_warp, opts.mesh_res, opts.mesh_level, G.cfg.neural_resolution,
                            chunk=chunk, device=device)
    if mesh is None:
        why = ("no ortho view renders a pixel half opaque" if opts.mesh_level is None
               else "the density never reaches the level")
        opts.notes.append(f"{label}: no mesh: {why} (density max {grid.max():.3g}); try a --mesh-level below that")
        return []
    if not opts.faces:
        return [write_mesh(mesh, out_dir / f"mesh.{fmt}") for fmt in opts.mesh_formats]
    simple, textured, source = textured_mesh(field, mesh, opts.faces, opts.texture_size, chunk, device)
    written = [write_mesh(simple if fmt == "ply" else textured, out_dir / f"mesh.{fmt}") for fmt in opts.mesh_formats]
    if opts.vrm is not None:
        written.append(write_avatar(make_avatar(simple, textured, source), out_dir / "avatar.vrm", opts.vrm))
    return written


def _write_turntable(G: NovaGenerator, preset: DataPreset, planes: Planes, out_dir: Path, opts: OutputOptions,
                     label: str, progress: Progress) -> list[Path]:
    views = turntable_views(preset, opts.frames)
    bar = tqdm(total=opts.frames, desc=f"{label} turntable", unit="frame", leave=False, dynamic_ncols=True)

    def frames():
        for rendered in render_views(G, planes, views.labels, opts.size, opts.batch):
            bar.update(len(rendered.rgb))
            progress("turntable", bar.n, opts.frames)
            yield from rendered.rgb

    paths = [out_dir / "turntable.mp4", out_dir / "turntable.gif"]
    try:
        write_video(frames(), paths, opts.fps)
    finally:
        bar.close()
    return paths


def condition_image(cond) -> Image.Image:
    """A condition image (3, S, S) in [-1, 1] as the 8-bit picture the model saw."""
    return Image.fromarray(((cond.permute(1, 2, 0) + 1) * 127.5).round().byte().numpy())


def open_split(data: Path, loaded: LoadedGenerator, preset_name: str, split: str) -> NovaHumanDataset:
    """A split's characters as the snapshot's model reads them (only the condition images and features
    are used); ValueError when the preset's box is not the snapshot's, DatasetError for a bad data root."""
    G = loaded.G
    if abs(PRESETS[preset_name].boxwarp - G.cfg.box_warp) > 1e-6:
        raise ValueError(f"{loaded.path}: the snapshot was trained with box {G.cfg.box_warp} "
                         f"({loaded.model.data_preset} preset); the {preset_name} preset needs box "
                         f"{PRESETS[preset_name].boxwarp}")
    if not data.is_dir():
        raise DatasetError(f"{data}: data root not found (give --data DIR holding renders/ and subsets/)")
    return NovaHumanDataset(DatasetConfig(root=str(data), preset=preset_name, split=split, resolution=8,
                                          cond_resolution=loaded.model.cond_resolution,
                                          use_features=G.cfg.use_precomputed_features, silhouettes=True))


def pick_characters(ds: NovaHumanDataset, ids: list[str] | None, limit: int | None) -> list[int]:
    """Indices of the characters ids (all when empty) in split order, the first limit of them."""
    index = {cid: i for i, cid in enumerate(ds.ids)}
    if ids:
        missing = [i for i in ids if i not in index]
        if missing:
            raise ValueError(f"--ids: {', '.join(missing)} not in the {ds.cfg.split} split "
                             f"({ds.root / 'subsets'}; it has {len(ds.ids)} characters)")
        picks = [index[i] for i in ids]
    else:
        picks = list(range(len(ds.ids)))
    return picks[:limit] if limit is not None else picks


def write_split(loaded: LoadedGenerator, query: str, ds: NovaHumanDataset, picks: list[int], out: Path,
                opts: OutputOptions) -> int:
    """Every file of the picked characters (indices into ds) in <out>/<id>/ (the caller writes
    <out>/manifest.json: training/infer/manifest.py); returns the number of character files written."""
    G, preset = loaded.G, PRESETS[ds.cfg.preset]
    count = 0
    for i in tqdm(picks, desc="generate", unit="char", dynamic_ncols=True):
        item = ds[i]
        planes = item_planes(G, item, preset)
        inputs = (condition_image(item["cond_front"]), condition_image(item["cond_back"]))
        count += len(write_character(G, preset, planes, inputs, out / item["id"], opts, item["id"]))
    return count


def summary(out: Path, n_chars: int, n_files: int, started: float, opts: OutputOptions) -> str:
    """The one-line account of a run that started at time.time() == started."""
    extras = (["turntable.mp4/.gif (%d frames)" % opts.frames] if opts.video else []) + \
             (["mesh." + "/.".join(opts.mesh_formats) + " (%d^3 grid%s)" % (
                 opts.mesh_res, f", {opts.faces} faces, {opts.texture_size}^2 texture" if opts.faces else "")]
              if opts.mesh else []) + (["avatar.vrm (VRM %s)" % opts.vrm.version] if opts.vrm else [])
    return (f"wrote {n_files} files for {n_chars} character(s) to {out} in {time.time() - started:.1f} s: "
            f"4 ortho + 12 spin views at {opts.size} px" + "".join(", " + e for e in extras))
