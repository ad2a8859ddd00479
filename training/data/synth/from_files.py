"""The character-file dataset run: real characters (.vrm VRM 0.x / 1.0, .glb, .gltf) rendered into the
NOVA-Human layout, headless. Takes a RenderConfig and a character file or a folder of them; gives the
renderset's PNGs, meta json and split lists, or for one shard its PNGs and a partial meta.

Cameras, seeds, views, xyza and the meta json are those of the synthetic generator (jobs, gl_render).

Ids: a file's stem when it is letters, digits, '_' and '-' only (VRoid Hub's numeric names stay as
they are); any other stem becomes the 16-digit number character_id(stem), the same on every run.
Two files with one id: the later path fails. Splits: ids ordered by a hash of (seed, id); the first
ones train, then val, then test, in the --splits proportions (val and test get at least one); or an
assignment the caller gives (the open characters' fixed split, open_set.py).

Normalisation (world units; bw = the preset's box width): body: the feet on y = -0.46 bw as
synthetic characters stand, 0.88 bw tall (less if needed to keep |x|, |z| <= 0.46 bw), centred on
the bounding box in x and z. head: the head runs from the humanoid head bone (without one, from 15%
of the model's height below its top) to the top, with a neck of a quarter of that below; the rest
of the model is clipped away and what is left is centred and scaled to span 0.85 bw, like
synthetic heads.

Shading: unlit and the same from every view: a vertex mixes its material's lit colour with its
shade colour by how far its normal faces down (an anime-like light from above: front, back and
sides stay lit, undersides take the shade). The shade is MToon's shade colour (VRM), the colour
itself for KHR_materials_unlit, 75% of it for plain glTF materials; textures multiply both.
Semi-transparent (BLEND) materials are alpha-blended, sorted back to front (gl_render).

Bad input: one line per file naming it and the reason; the batch goes on, the summary counts the
failures and the exit code is 1 when any failed.
"""
from __future__ import annotations

import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from training.data.layout import PRESETS
from training.data.synth import jobs
from training.data.synth.gl_render import Mesh, RendererUnavailable, get_renderer
from training.data.synth.gltf import GltfError, Model, load_model
from training.data.synth.layout_writer import View, write_character

SUFFIXES = (".vrm", ".glb", ".gltf")
USABLE_ID = re.compile(r"[A-Za-z0-9_-]+")
FEET_Y, BODY_HEIGHT, HALF_WIDTH = -0.46, 0.88, 0.46  # in box widths
HEAD_SPAN, NECK, HEAD_FRACTION = 0.85, 0.25, 0.15
PLAIN_SHADE = 0.75
SHADE_FULL, LIT_FULL = -0.6, -0.2  # normal y at which a surface is fully shaded / fully lit


@dataclass(frozen=True)
class RenderConfig(jobs.JobConfig):
    """A render run: the job settings and the renderset folder name it writes."""

    renderset: str

    def renderset_name(self) -> str:
        return self.renderset


def find_inputs(path: Path) -> list[Path]:
    """A file as given, or every .vrm/.glb/.gltf under a folder (recursively, sorted)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ValueError(f"{path}: no such file or folder")
    found = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
    if not found:
        raise ValueError(f"{path}: no {'/'.join(SUFFIXES)} files in it")
    return found


def character_id(stem: str) -> str:
    """The stem if it is usable as an id, else a stable 16-digit id derived from it."""
    if USABLE_ID.fullmatch(stem):
        return stem
    return jobs.numeric_id(stem)


def splits_by_hash(ids: list[str], seed: int, fractions: tuple[float, float, float]) -> dict[str, str]:
    """id -> split, listed in id order. Splits are dealt in the order of a hash of (seed, id): file
    names may come in a meaningful order (a numbered batch, a series), unlike generated ids."""
    order = sorted(ids, key=lambda i: hashlib.blake2b(f"{seed}/{i}".encode(), digest_size=8).digest())
    assigned = jobs.split_in_order(order, fractions)
    return {i: assigned[i] for i in sorted(ids)}


@dataclass(frozen=True)
class Placement:
    """World position = model position * scale + offset; clip_plane keeps the head (or None)."""

    scale: float
    offset: np.ndarray
    clip_plane: tuple[float, float, float, float] | None = None


def _above(model: Model, cut: float) -> np.ndarray:
    """The corners of the geometry clipped to y >= cut: vertices above and edge crossings."""
    points = []
    for prim in model.primitives:
        p = prim.positions
        points.append(p[p[:, 1] >= cut])
        a, b = p[prim.faces].reshape(-1, 3), p[np.roll(prim.faces, -1, axis=1)].reshape(-1, 3)  # the edges
        crossing = (a[:, 1] - cut) * (b[:, 1] - cut) < 0
        t = (cut - a[crossing, 1]) / (b[crossing, 1] - a[crossing, 1])
        points.append(a[crossing] + t[:, None] * (b[crossing] - a[crossing]))
    return np.concatenate(points)


def placement(model: Model, preset: str) -> Placement:
    """Scale and centre a model as the preset expects (module docstring)."""
    bw = PRESETS[preset].boxwarp
    points = np.concatenate([p.positions for p in model.primitives])
    lo, hi = points.min(0), points.max(0)
    if preset == "body":
        centre = (lo + hi) / 2
        extent = np.abs(points[:, [0, 2]] - centre[[0, 2]]).max()
        if hi[1] - lo[1] <= 0 or extent <= 0:
            raise GltfError(f"{model.path}: the model is flat (no height or no width)")
        scale = min(BODY_HEIGHT * bw / (hi[1] - lo[1]), HALF_WIDTH * bw / extent)
        return Placement(scale, np.array([-centre[0] * scale, FEET_Y * bw - lo[1] * scale, -centre[2] * scale]))
    head_y = model.head[1] if model.head is not None and lo[1] <= model.head[1] < hi[1] else None
    if head_y is None:
        head_y = hi[1] - HEAD_FRACTION * (hi[1] - lo[1])
    cut = head_y - NECK * (hi[1] - head_y)
    kept = _above(model, cut)
    span = (kept.max(0) - kept.min(0)).max()
    if span <= 0:
        raise GltfError(f"{model.path}: the model is flat (no height or no width)")
    scale = HEAD_SPAN * bw / span
    offset = -(kept.max(0) + kept.min(0)) / 2 * scale
    return Placement(scale, offset, (0.0, 1.0, 0.0, -float(cut * scale + offset[1])))


def build_meshes(model: Model, place: Placement) -> list[Mesh]:
    """One renderer mesh per material, placed and shaded (module docstring)."""
    meshes = []
    for index, material in enumerate(model.materials):
        prims = [p for p in model.primitives if p.material == index]
        if not prims:
            continue
        starts = np.cumsum([0] + [len(p.positions) for p in prims[:-1]])
        normals = np.concatenate([p.normals for p in prims])
        lit = material.color[:3]
        shade = PLAIN_SHADE * lit if material.shade is None else material.shade
        t = np.clip((normals[:, 1] - SHADE_FULL) / (LIT_FULL - SHADE_FULL), 0, 1)[:, None]
        colors = np.concatenate([shade + (lit - shade) * t, np.full((len(t), 1), material.color[3])], 1)
        colors *= np.concatenate([p.colors if p.colors is not None else np.ones((len(p.positions), 4)) for p in prims])
        textured = material.texture is not None and any(p.uvs is not None for p in prims)
        uvs = np.concatenate([p.uvs if p.uvs is not None else np.zeros((len(p.positions), 2)) for p in prims])
        cutoff = {"OPAQUE": 0.0, "MASK": material.alpha_cutoff, "BLEND": None}[material.alpha_mode]
        meshes.append(Mesh(
            positions=(np.concatenate([p.positions for p in prims]) * place.scale + place.offset).astype(np.float32),
            faces=np.concatenate([p.faces + s for p, s in zip(prims, starts)]).astype(np.int32),
            colors=colors.astype(np.float32), uvs=uvs.astype(np.float32) if textured else None,
            texture=material.texture if textured else None, alpha_cutoff=cutoff,
            blend=material.alpha_mode == "BLEND", double_sided=material.double_sided))
    return meshes


Task = tuple[RenderConfig, str, Path, str, str | None]  # config, id, file, split, a problem found before loading


def render_file(task: Task) -> tuple[str, dict | None, str | None, list[str]]:
    """Render and write all views of one file: (id, meta entries or None, error line or None, notes)."""
    config, char_id, path, split, problem = task
    if problem:
        return char_id, None, problem, []
    try:
        model = load_model(path)
        place = placement(model, config.preset)
        meshes = build_meshes(model, place)
        renderer = get_renderer(config.res)
        plan = config.plan(char_id, split)
        views = (View(dtype, name, params, renderer.render(meshes, params.label(), params.near, params.far,
                                                           place.clip_plane)) for dtype, name, params in plan)
        return char_id, write_character(config.rs, char_id, views), None, [f"{path}: {n}" for n in model.notes]
    except RendererUnavailable:
        raise
    except GltfError as exc:
        return char_id, None, str(exc), []
    except Exception as exc:  # anything else about one file must not stop the batch
        return char_id, None, f"{path}: {type(exc).__name__}: {' '.join(str(exc).split())}", []


def plan_tasks(config: RenderConfig, inputs: list[Path],
               assigned: dict[str, str] | None = None) -> tuple[list[Task], dict[str, str]]:
    """A task per input file (a duplicate id, or one missing from `assigned`, is a task that fails) and
    the split assignment: `assigned` (id -> split) when given, else splits_by_hash."""
    owner: dict[str, Path] = {}
    for path in inputs:
        owner.setdefault(character_id(path.stem), path)
    if assigned is None:
        splits = splits_by_hash(list(owner), config.seed, config.splits)
    else:
        splits = {i: assigned[i] for i in sorted(owner) if i in assigned}
    tasks = []
    for path in inputs:
        char_id = character_id(path.stem)
        problem = (f"{path}: its id {char_id} is taken by {owner[char_id]}; rename one" if owner[char_id] != path
                   else f"{path}: its id {char_id} has no split in the given assignment" if char_id not in splits
                   else None)
        tasks.append((config, char_id, path, splits.get(char_id, "train"), problem))
    return tasks, splits


def generate(config: RenderConfig, source: Path | list[Path], workers: int, shard: tuple[int, int] | None,
             assigned: dict[str, str] | None = None) -> int:
    """Render every input (a file, a folder's files, or the list given; or one shard of them) with the
    split assignment given or dealt by hash; write the meta json and split lists (or a partial meta)."""
    inputs = find_inputs(source) if isinstance(source, Path) else list(source)
    tasks, splits = plan_tasks(config, inputs, assigned)
    if shard is not None:
        tasks = tasks[shard[0]::shard[1]]
    meta: dict[str, dict] = {}
    skipped, failures = 0, 0
    if shard is not None:  # a rerun renders only what is missing (a task with a problem fails again)
        todo = jobs.skip_complete(config, tasks, lambda task: None if task[4] else (task[1], task[3]), meta)
        tasks, skipped = todo, len(tasks) - len(todo)
    for char_id, entries, error, notes in jobs.map_tasks(render_file, tasks, workers, f"render {config.preset}"):
        for line in notes:
            tqdm.write(f"note: {line}", file=sys.stderr)
        if error is not None:
            failures += 1
            tqdm.write(error, file=sys.stderr)
        else:
            meta.update(entries)
    jobs.write_run(config, shard, splits, meta)
    print(f"render: {len(tasks) - failures} rendered, {skipped} already complete, {failures} failed")
    return 1 if failures else 0
