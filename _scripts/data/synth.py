"""Synthetic NOVA-Human-style dataset: procedural characters rendered into the release's layout.

    python -m _scripts.data.synth --out DIR --n 100 --res 256 --preset body --seed 0
    python -m _scripts.data.synth --out DIR ... --shard 3/8        (one job of an array job)
    python -m _scripts.data.synth merge --out DIR --preset body    (after all shards)

Everything (ids, splits, characters, cameras) follows from the seed, so two runs write identical
bytes and N shards plus a merge write the same dataset as one run.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import re
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from tqdm import tqdm

from _scripts.data.characters import build_character
from _scripts.data.gl_render import MeshRenderer, RendererUnavailable
from _scripts.data.layout_writer import View, meta_entry, write_character
from training.camera import RenderParams
from training.data_layout import (DTYPE_GROUPS, GRID_VIEWS, ORTHO_VIEWS, PRESETS, SPLITS, Renderset,
                                  random_view_name, split_path, write_split)

GRID_CHOICES = ("eval", "all", "none")
PARTIAL_META = re.compile(r"_meta\.shard-(\d+)-of-(\d+)\.json$")


@dataclass(frozen=True)
class RunConfig:
    """What one synth run writes; stored in partial metas so merge can check the shards agree."""

    out: str
    preset: str
    n: int
    res: int
    seed: int
    views: int
    grid: str
    splits: tuple[float, float, float]

    @property
    def renderset(self) -> Renderset:
        return Renderset(Path(self.out), PRESETS[self.preset].renderset)


def character_ids(seed: int, n: int) -> list[str]:
    """n distinct 16-digit ids (like VRoid Hub ids, sharded by their last digit); id k depends only
    on (seed, k), so a larger n extends a smaller run."""
    ids: list[str] = []
    k = 0
    while len(ids) < n:
        digest = hashlib.blake2b(f"nova3d-synth/{seed}/{k}".encode(), digest_size=8).digest()
        char_id = str(10**15 + int.from_bytes(digest, "little") % (9 * 10**15))
        if char_id not in ids:
            ids.append(char_id)
        k += 1
    return ids


def split_sizes(n: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """Train/val/test counts: val and test get at least one character when their fraction is > 0."""
    val, test = (max(1, int(f * n)) if f > 0 else 0 for f in fractions[1:])
    if n - val - test < (1 if fractions[0] > 0 else 0):
        raise ValueError(f"--n {n} is too small for the splits {fractions}")
    return n - val - test, val, test


def assign_splits(config: RunConfig) -> dict[str, str]:
    """id -> split, in id order: the first ids train, then val, then test."""
    ids = character_ids(config.seed, config.n)
    names = [s for s, size in zip(SPLITS, split_sizes(config.n, config.splits)) for _ in range(size)]
    return dict(zip(ids, names))


def plan_views(config: RunConfig, char_id: str, split: str) -> list[tuple[str, str, RenderParams]]:
    """(image dtype, view name, camera) of every view a character gets."""
    preset = PRESETS[config.preset]
    plan = [("ortho", v, preset.ortho_params(v)) for v in ORTHO_VIEWS]
    plan += [("rgb", random_view_name(k), preset.random_params(char_id, k)) for k in range(config.views)]
    if config.grid == "all" or (config.grid == "eval" and split in ("val", "test")):
        plan += [("rgb60", random_view_name(k), preset.grid_params(k)) for k in range(GRID_VIEWS)]
    return plan


def is_complete(config: RunConfig, char_id: str, plan: list) -> bool:
    rs = config.renderset
    return all(rs.path(d, char_id, name).is_file()
               for dtype, name, _ in plan for d in (dtype, *DTYPE_GROUPS[dtype]) if d is not None)


_renderer: MeshRenderer | None = None


def _init_worker() -> None:
    """With several worker processes, each keeps to one core (llvmpipe and torch threads)."""
    os.environ["LP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


def get_renderer(res: int) -> MeshRenderer:
    """This process's renderer, created on first use so a missing EGL surfaces as the task's error
    (a failing Pool initializer would be restarted forever); kept while the resolution is the same."""
    global _renderer
    if _renderer is not None and _renderer.resolution != res:
        _renderer.release()
        _renderer = None
    if _renderer is None:
        _renderer = MeshRenderer(res)
    return _renderer


def render_character(task: tuple[RunConfig, str, str]) -> dict[str, dict]:
    """Render and write all views of one character; returns its meta entries."""
    config, char_id, split = task
    renderer = get_renderer(config.res)
    mesh = build_character(char_id, config.preset)
    views = (View(dtype, name, params, renderer.render(mesh, params.label(), params.near, params.far))
             for dtype, name, params in plan_views(config, char_id, split))
    return write_character(config.renderset, char_id, views)


def planned_meta(config: RunConfig, char_id: str, split: str) -> dict[str, dict]:
    return dict(meta_entry(config.renderset, char_id, dtype, name, params)
                for dtype, name, params in plan_views(config, char_id, split))


def write_json(path: Path, data: dict) -> None:
    """Sorted keys and an atomic replace: identical runs give identical bytes, never a torn file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, sort_keys=True, separators=(",", ":")))
    os.replace(tmp, path)


def write_splits(config: RunConfig, splits: dict[str, str]) -> None:
    subset = PRESETS[config.preset].subset
    for name in SPLITS:
        write_split(split_path(Path(config.out), subset, name), [i for i, s in splits.items() if s == name])


def generate(config: RunConfig, workers: int, shard: tuple[int, int] | None) -> None:
    """Render the run (or one shard of it) and write the meta json and split lists (or a partial meta)."""
    splits = assign_splits(config)
    tasks = [(config, i, s) for k, (i, s) in enumerate(splits.items()) if shard is None or k % shard[1] == shard[0]]
    meta = {}
    if shard is not None:  # a rerun of an array job only renders what is missing
        done = {t[1] for t in tasks if is_complete(config, t[1], plan_views(*t))}
        for t in tasks:
            if t[1] in done:
                meta.update(planned_meta(*t))
        tasks = [t for t in tasks if t[1] not in done]
    pool = None
    if workers <= 1 or len(tasks) <= 1:
        results = map(render_character, tasks)
    else:
        pool = multiprocessing.get_context("spawn").Pool(min(workers, len(tasks)), _init_worker)
        results = pool.imap(render_character, tasks)
    try:
        with tqdm(total=len(tasks), unit="char", desc=f"synth {config.preset}", dynamic_ncols=True) as progress:
            for entries in results:
                meta.update(entries)
                progress.update()
    finally:
        if pool is not None:
            pool.terminate()
    rs = config.renderset
    if shard is None:
        write_json(rs.meta_path, meta)
        write_splits(config, splits)
    else:
        run = {k: v for k, v in asdict(config).items() if k != "out"}  # shards may mount the root elsewhere
        write_json(rs.dir / f"{rs.name}_meta.shard-{shard[0]}-of-{shard[1]}.json",
                   {"run": run, "shard": list(shard), "meta": meta})


@dataclass(frozen=True)
class Partial:
    """A shard's partial meta: the run it belongs to (without its --out), which shard, its entries."""

    config: RunConfig
    shard: int
    total: int
    meta: dict


def read_partial(path: Path) -> Partial:
    try:
        data = json.loads(path.read_text())
        run = {**data["run"], "out": "", "splits": tuple(data["run"]["splits"])}
        return Partial(RunConfig(**run), int(data["shard"][0]), int(data["shard"][1]), dict(data["meta"]))
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise ValueError(f"{path}: not a readable partial meta ({type(exc).__name__}: {exc})") from None


def merge(out: Path, preset: str) -> int:
    """Merge the partial metas of a complete set of shards into the meta json; write the split lists."""
    rs = Renderset(out, PRESETS[preset].renderset)
    paths = sorted(p for p in rs.dir.glob(f"{rs.name}_meta.shard-*-of-*.json") if PARTIAL_META.search(p.name))
    if not paths:
        raise ValueError(f"{rs.dir}: no partial metas ({rs.name}_meta.shard-K-of-N.json) to merge")
    partials = [read_partial(p) for p in paths]
    if len({(p.config, p.total) for p in partials}) > 1:
        raise ValueError(f"{rs.dir}: partial metas from different runs; remove the stale ones: "
                         + ", ".join(p.name for p in paths))
    total = partials[0].total
    missing = sorted(set(range(total)) - {p.shard for p in partials})
    if missing:
        raise ValueError(f"{rs.dir}: shards {', '.join(f'{k}/{total}' for k in missing)} have not finished")
    meta = {}
    for partial in partials:
        meta.update(partial.meta)
    write_json(rs.meta_path, meta)
    write_splits(replace(partials[0].config, out=str(out)), assign_splits(partials[0].config))
    print(f"merged {total} shards: {len(meta)} meta entries -> {rs.meta_path}")
    return 0


def _shard(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)/(\d+)", text)
    if not match or not int(match[1]) < int(match[2]):
        raise argparse.ArgumentTypeError(f"expected K/N with 0 <= K < N, got {text!r}")
    return int(match[1]), int(match[2])


def _splits(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) < 0 or abs(sum(values) - 1) > 1e-6:
        raise argparse.ArgumentTypeError(f"expected three fractions train,val,test summing to 1, got {text!r}")
    return values


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(text)


def _positive(text: str) -> int:
    if _count(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m _scripts.data.synth", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path, help="data root: writes renders/<renderset>/ and subsets/")
    parser.add_argument("--n", required=True, type=_positive, help="number of characters")
    parser.add_argument("--res", required=True, type=_positive, help="image resolution (square)")
    parser.add_argument("--preset", required=True, choices=sorted(PRESETS), help="body (full figure) or head (bust)")
    parser.add_argument("--seed", type=int, default=0, help="everything follows from it (default 0)")
    parser.add_argument("--views", type=_count, help="random views per character (default: the preset's, 16 body, 8 head)")
    parser.add_argument("--grid", choices=GRID_CHOICES, default="eval",
                        help="the 60-view rgb60/xyza60 evaluation grid: for val/test characters (eval, "
                        "default), all, none")
    parser.add_argument("--splits", type=_splits, default=(0.8, 0.1, 0.1),
                        help="train,val,test fractions (default 0.8,0.1,0.1)")
    parser.add_argument("--workers", type=_positive, default=2, help="render processes (default 2)")
    parser.add_argument("--shard", type=_shard, help="K/N: render only every N-th character from K, skip complete "
                        "ones, write a partial meta; run 'merge' after all shards")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["merge"]:
            parser = argparse.ArgumentParser(prog="python -m _scripts.data.synth merge",
                                             description="Merge the partial metas of all shards; write the split lists.")
            parser.add_argument("--out", required=True, type=Path, help="the data root the shards wrote")
            parser.add_argument("--preset", required=True, choices=sorted(PRESETS))
            args = parser.parse_args(argv[1:])
            return merge(args.out, args.preset)
        args = parse_args(argv)
        views = PRESETS[args.preset].n_views if args.views is None else args.views
        config = RunConfig(str(args.out), args.preset, args.n, args.res, args.seed, views, args.grid, args.splits)
        generate(config, args.workers, args.shard)
        return 0
    except (RendererUnavailable, ValueError, OSError) as exc:
        print(f"synth: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
