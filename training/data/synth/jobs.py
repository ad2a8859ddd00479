"""Array-job plumbing shared by the data generators (procedural.py, from_files.py): the views a
character gets, split assignment, skipping complete characters, worker processes, the meta json and
split lists, partial metas per shard and their merge. Takes a renderset, ids and rendered meta
entries; gives the files of the layout (no command-line parsing here: that is _scripts/data/options.py).

A shard writes ``<renderset>_meta.shard-K-of-N.json`` = {"run": the run's settings without paths,
"shard": [K, N], "splits": [[id, split], ...] of the whole run, "meta": its entries}. The merge
checks that all N shards of one run are there, joins the entries and writes the split lists of the
characters that have entries (a character that failed to render is left out).
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

import torch
from tqdm import tqdm

from training.data.synth.layout_writer import meta_entry
from training.geometry.camera import RenderParams
from training.data.layout import (DTYPE_GROUPS, GRID_VIEWS, ORTHO_VIEWS, PRESETS, SPLITS, DataPreset, Renderset,
                                  random_view_name, split_path, write_split)

GRID_CHOICES = ("eval", "all", "none")
PARTIAL_META = re.compile(r"_meta\.shard-(\d+)-of-(\d+)\.json$")
Plan = list[tuple[str, str, RenderParams]]
T = TypeVar("T")


@dataclass(frozen=True)
class JobConfig:
    """What every data run has (procedural.RunConfig and from_files.RenderConfig add their own); all
    but the data root `out` go into the partial metas, so merge can check that the shards agree."""

    out: str
    preset: str
    res: int
    seed: int
    views: int
    grid: str
    splits: tuple[float, float, float]

    def renderset_name(self) -> str:
        """The renderset folder this run writes: the preset's (a RenderConfig may name another)."""
        return PRESETS[self.preset].renderset

    @property
    def rs(self) -> Renderset:
        return Renderset(Path(self.out), self.renderset_name())

    def plan(self, char_id: str, split: str) -> Plan:
        """The views one character of this run gets (plan_views)."""
        return plan_views(PRESETS[self.preset], char_id, self.views, self.grid, split)


def plan_views(preset: DataPreset, char_id: str, n_views: int, grid: str, split: str) -> Plan:
    """(image dtype, view name, camera) of every view a character gets: the ortho views, n_views
    random views, and the evaluation grid (for val/test characters with grid 'eval', all with 'all')."""
    plan = [("ortho", v, preset.ortho_params(v)) for v in ORTHO_VIEWS]
    plan += [("rgb", random_view_name(k), preset.random_params(char_id, k)) for k in range(n_views)]
    if grid == "all" or (grid == "eval" and split in ("val", "test")):
        plan += [("rgb60", random_view_name(k), preset.grid_params(k)) for k in range(GRID_VIEWS)]
    return plan


def is_complete(rs: Renderset, char_id: str, plan: Plan) -> bool:
    return all(rs.path(d, char_id, name).is_file()
               for dtype, name, _ in plan for d in (dtype, *DTYPE_GROUPS[dtype]) if d is not None)


def planned_meta(rs: Renderset, char_id: str, plan: Plan) -> dict[str, dict]:
    return dict(meta_entry(rs, char_id, dtype, name, params) for dtype, name, params in plan)


def skip_complete(config: JobConfig, tasks: list[T], character: Callable[[T], tuple[str, str] | None],
                  meta: dict) -> list[T]:
    """The tasks still to render when an array job is rerun: those whose character (id, split), as
    character(task) gives it (None: always render), is not complete on disk; the meta entries of the
    complete ones go into meta."""
    todo = []
    for task in tasks:
        char = character(task)
        plan = None if char is None else config.plan(*char)
        if plan is not None and is_complete(config.rs, char[0], plan):
            meta.update(planned_meta(config.rs, char[0], plan))
        else:
            todo.append(task)
    return todo


def numeric_id(key: str) -> str:
    """A 16-digit id (like VRoid Hub's) from a hash of key, the same on every run."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return str(10**15 + int.from_bytes(digest, "little") % (9 * 10**15))


def split_sizes(n: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """Train/val/test counts: val and test get at least one character when their fraction is > 0."""
    val, test = (max(1, int(f * n)) if f > 0 else 0 for f in fractions[1:])
    if n - val - test < (1 if fractions[0] > 0 else 0):
        raise ValueError(f"{n} character(s) are too few for the splits {fractions} (pass --splits 1,0,0)")
    return n - val - test, val, test


def split_in_order(ids: list[str], fractions: tuple[float, float, float]) -> dict[str, str]:
    """id -> split, in the order given: the first ids train, then val, then test (split_sizes)."""
    names = [s for s, size in zip(SPLITS, split_sizes(len(ids), fractions)) for _ in range(size)]
    return dict(zip(ids, names))


def init_worker() -> None:
    """With several worker processes, each keeps to one core (llvmpipe and torch threads)."""
    os.environ["LP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


def map_tasks(fn: Callable, tasks: list, workers: int, desc: str) -> Iterator:
    """fn over tasks in order with a progress bar; with several workers in spawned processes, each
    of which creates its own GL context on first use."""
    pool = None
    if workers <= 1 or len(tasks) <= 1:
        results: Iterable = map(fn, tasks)
    else:
        pool = multiprocessing.get_context("spawn").Pool(min(workers, len(tasks)), init_worker)
        results = pool.imap(fn, tasks)
    try:
        with tqdm(total=len(tasks), unit="char", desc=desc, dynamic_ncols=True) as progress:
            for result in results:
                yield result
                progress.update()
    finally:
        if pool is not None:
            pool.terminate()


def write_json(path: Path, data: dict) -> None:
    """Sorted keys and an atomic replace: identical runs give identical bytes, never a torn file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, sort_keys=True, separators=(",", ":")))
    os.replace(tmp, path)


def write_dataset(root: Path, rs: Renderset, subset: str, meta: dict, splits: dict[str, str]) -> None:
    """The meta json and the split lists (in the order of splits: id -> split) of the characters
    that have meta entries."""
    write_json(rs.meta_path, meta)
    present = {key.split("/")[3] for key in meta}
    for name in SPLITS:
        write_split(split_path(root, subset, name), [i for i, s in splits.items() if s == name and i in present])


def partial_path(rs: Renderset, shard: tuple[int, int]) -> Path:
    return rs.dir / f"{rs.name}_meta.shard-{shard[0]}-of-{shard[1]}.json"


def write_partial(rs: Renderset, shard: tuple[int, int], run: dict, splits: dict[str, str], meta: dict) -> None:
    write_json(partial_path(rs, shard), {"run": run, "shard": list(shard), "splits": [list(p) for p in splits.items()],
                                         "meta": meta})


def write_run(config: JobConfig, shard: tuple[int, int] | None, splits: dict[str, str], meta: dict) -> None:
    """What a run ends with: the meta json and split lists, or for one shard its partial meta with the
    run's settings (all but the data root: shards may mount it elsewhere)."""
    if shard is None:
        write_dataset(Path(config.out), config.rs, PRESETS[config.preset].subset, meta, splits)
    else:
        write_partial(config.rs, shard, {k: v for k, v in asdict(config).items() if k != "out"}, splits, meta)


@dataclass(frozen=True)
class Partial:
    """A shard's partial meta: its run settings (JSON), which shard of how many, the run's split
    assignment and the shard's entries."""

    run: str
    shard: int
    total: int
    splits: tuple[tuple[str, str], ...]
    meta: dict


def read_partial(path: Path) -> Partial:
    try:
        data = json.loads(path.read_text())
        splits = tuple((str(i), str(s)) for i, s in data["splits"])
        return Partial(json.dumps(data["run"], sort_keys=True), int(data["shard"][0]), int(data["shard"][1]),
                       splits, dict(data["meta"]))
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise ValueError(f"{path}: not a readable partial meta ({type(exc).__name__}: {exc})") from None


def merge(root: Path, rs: Renderset, subset: str) -> str:
    """Merge the partial metas of a complete set of shards into the meta json, write the split
    lists; returns a summary line (ValueError naming the folder when shards are missing or mixed)."""
    paths = sorted(p for p in rs.dir.glob(f"{rs.name}_meta.shard-*-of-*.json") if PARTIAL_META.search(p.name))
    if not paths:
        raise ValueError(f"{rs.dir}: no partial metas ({rs.name}_meta.shard-K-of-N.json) to merge")
    partials = [read_partial(p) for p in paths]
    if len({(p.run, p.total, p.splits) for p in partials}) > 1:
        raise ValueError(f"{rs.dir}: partial metas from different runs; remove the stale ones: "
                         + ", ".join(p.name for p in paths))
    total = partials[0].total
    missing = sorted(set(range(total)) - {p.shard for p in partials})
    if missing:
        raise ValueError(f"{rs.dir}: shards {', '.join(f'{k}/{total}' for k in missing)} have not finished")
    meta = {}
    for partial in partials:
        meta.update(partial.meta)
    write_dataset(root, rs, subset, meta, dict(partials[0].splits))
    return f"merged {total} shards: {len(meta)} meta entries -> {rs.meta_path}"
