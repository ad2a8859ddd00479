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
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from training.data.synth import jobs
from training.data.synth.characters import build_character
from training.data.synth.gl_render import MeshRenderer, RendererUnavailable
from training.data.synth.layout_writer import View, write_character
from training.data.layout import PRESETS, SPLITS, Renderset


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


def assign_splits(config: RunConfig) -> dict[str, str]:
    """id -> split, in id order: the first ids train, then val, then test."""
    ids = character_ids(config.seed, config.n)
    names = [s for s, size in zip(SPLITS, jobs.split_sizes(config.n, config.splits)) for _ in range(size)]
    return dict(zip(ids, names))


def plan_views(config: RunConfig, char_id: str, split: str) -> jobs.Plan:
    return jobs.plan_views(PRESETS[config.preset], char_id, config.views, config.grid, split)


_renderer: MeshRenderer | None = None


def get_renderer(res: int) -> MeshRenderer:
    """This process's renderer (synth and render share it), created on first use so a missing EGL
    surfaces as the task's error (a failing Pool initializer would be restarted forever); kept while
    the resolution is the same."""
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


def generate(config: RunConfig, workers: int, shard: tuple[int, int] | None) -> None:
    """Render the run (or one shard of it) and write the meta json and split lists (or a partial meta)."""
    splits = assign_splits(config)
    tasks = [(config, i, s) for k, (i, s) in enumerate(splits.items()) if shard is None or k % shard[1] == shard[0]]
    meta, rs = {}, config.renderset
    if shard is not None:  # a rerun of an array job only renders what is missing
        done = {t[1] for t in tasks if jobs.is_complete(rs, t[1], plan_views(*t))}
        for t in tasks:
            if t[1] in done:
                meta.update(jobs.planned_meta(rs, t[1], plan_views(*t)))
        tasks = [t for t in tasks if t[1] not in done]
    for entries in jobs.map_tasks(render_character, tasks, workers, f"synth {config.preset}"):
        meta.update(entries)
    subset = PRESETS[config.preset].subset
    if shard is None:
        jobs.write_dataset(Path(config.out), rs, subset, meta, splits)
    else:
        run = {k: v for k, v in asdict(config).items() if k != "out"}  # shards may mount the root elsewhere
        jobs.write_partial(rs, shard, run, splits, meta)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m _scripts.data.synth", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path, help="data root: writes renders/<renderset>/ and subsets/")
    parser.add_argument("--n", required=True, type=jobs.positive_arg, help="number of characters")
    parser.add_argument("--res", required=True, type=jobs.positive_arg, help="image resolution (square)")
    parser.add_argument("--preset", required=True, choices=sorted(PRESETS), help="body (full figure) or head (bust)")
    parser.add_argument("--seed", type=int, default=0, help="everything follows from it (default 0)")
    jobs.add_common_args(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["merge"]:
            return jobs.merge_main("python -m _scripts.data.synth", argv[1:], renderset_option=False)
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
