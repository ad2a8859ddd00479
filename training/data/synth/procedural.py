"""The synthetic dataset run: procedural characters (characters.py) rendered into the NOVA-Human
layout. Takes a RunConfig (data root, preset, character count, resolution, seed, views, grid, split
fractions); gives the renderset's PNGs, meta json and split lists, or for one shard of an array job
its PNGs and a partial meta (jobs.merge joins the shards).

Everything (ids, splits, characters, cameras) follows from the seed, so two runs write identical
bytes and N shards plus a merge write the same dataset as one run.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from training.data.layout import PRESETS, Renderset
from training.data.synth import jobs
from training.data.synth.characters import build_character
from training.data.synth.gl_render import get_renderer
from training.data.synth.layout_writer import View, write_character


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
        char_id = jobs.numeric_id(f"nova3d-synth/{seed}/{k}")
        if char_id not in ids:
            ids.append(char_id)
        k += 1
    return ids


def splits_in_generation_order(config: RunConfig) -> dict[str, str]:
    """id -> split, in the order the ids are generated (already random): the first ones train, then
    val, then test."""
    return jobs.split_in_order(character_ids(config.seed, config.n), config.splits)


def plan_views(config: RunConfig, char_id: str, split: str) -> jobs.Plan:
    """The views one character of this run gets (jobs.plan_views)."""
    return jobs.plan_views(PRESETS[config.preset], char_id, config.views, config.grid, split)


def render_character(task: tuple[RunConfig, str, str]) -> dict[str, dict]:
    """Render and write all views of one (config, id, split); returns its meta entries."""
    config, char_id, split = task
    renderer = get_renderer(config.res)
    mesh = build_character(char_id, config.preset)
    views = (View(dtype, name, params, renderer.render(mesh, params.label(), params.near, params.far))
             for dtype, name, params in plan_views(config, char_id, split))
    return write_character(config.renderset, char_id, views)


def generate(config: RunConfig, workers: int, shard: tuple[int, int] | None) -> None:
    """Render the run (or one shard of it) and write the meta json and split lists (or a partial meta)."""
    splits = splits_in_generation_order(config)
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
    jobs.write_run(config, rs, PRESETS[config.preset].subset, shard, splits, meta)
