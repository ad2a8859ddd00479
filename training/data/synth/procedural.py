"""The synthetic dataset run: procedural characters (characters.py) rendered into the NOVA-Human
layout. Takes a RunConfig (data root, preset, character count, resolution, seed, views, grid, split
fractions); gives the renderset's PNGs, meta json and split lists, or for one shard of an array job
its PNGs and a partial meta (jobs.merge joins the shards).

Everything (ids, splits, characters, cameras) follows from the seed, so two runs write identical
bytes and N shards plus a merge write the same dataset as one run.
"""
from __future__ import annotations

from dataclasses import dataclass

from training.data.synth import jobs
from training.data.synth.characters import build_character
from training.data.synth.gl_render import get_renderer
from training.data.synth.layout_writer import View, write_character


@dataclass(frozen=True)
class RunConfig(jobs.JobConfig):
    """A synth run: the job settings and the number of characters."""

    n: int


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


def render_character(task: tuple[RunConfig, str, str]) -> dict[str, dict]:
    """Render and write all views of one (config, id, split); returns its meta entries."""
    config, char_id, split = task
    renderer = get_renderer(config.res)
    mesh = build_character(char_id, config.preset)
    views = (View(dtype, name, params, renderer.render(mesh, params.label(), params.near, params.far))
             for dtype, name, params in config.plan(char_id, split))
    return write_character(config.rs, char_id, views)


def generate(config: RunConfig, workers: int, shard: tuple[int, int] | None) -> None:
    """Render the run (or one shard of it) and write the meta json and split lists (or a partial meta)."""
    splits = splits_in_generation_order(config)
    tasks = [(config, i, s) for k, (i, s) in enumerate(splits.items()) if shard is None or k % shard[1] == shard[0]]
    meta: dict[str, dict] = {}
    if shard is not None:  # a rerun of an array job only renders what is missing
        tasks = jobs.skip_complete(config, tasks, lambda task: task[1:], meta)
    for entries in jobs.map_tasks(render_character, tasks, workers, f"synth {config.preset}"):
        meta.update(entries)
    jobs.write_run(config, shard, splits, meta)
