"""The open real characters: the catalogue's openly licensed .glb files taken from local git mirrors
(size and sha256 verified), a fixed seeded split, rendered with the body preset into a data root
whose README.md and sources.tsv record each file's source, licence and split.

    python -m _scripts.data.open_characters --catalogue ../shared/open_characters.tsv \\
        --mirrors /work/.mirror --glb /work/data/open_glb --out /work/data/open_real --res 64
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from tqdm import tqdm

from _scripts.data.options import DATA_CONTEXT, POSITIVE, data_command_help, out_option, run_data_command
from training.data.layout import PRESETS, SPLITS, read_split, split_path
from training.data.synth import from_files, jobs, open_set

PRESET = "body"


@click.command("open_characters", help=data_command_help(__doc__, open_set.__doc__), context_settings=DATA_CONTEXT)
@click.option("--catalogue", required=True, type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="the catalogue TSV (shared/open_characters.tsv)")
@click.option("--mirrors", required=True, type=click.Path(path_type=Path, exists=True, file_okay=False),
              help="folder of bare git mirrors of the catalogue's repositories: <owner>+<name>/repo")
@click.option("--glb", required=True, type=click.Path(path_type=Path), help="where the extracted .glb files go")
@out_option
@click.option("--res", type=POSITIVE, default=512, help="image resolution (square, default 512)")
@click.option("--views", type=POSITIVE, default=None, help="random views per character (default: the body preset's 16)")
@click.option("--grid", type=click.Choice(jobs.GRID_CHOICES), default="eval",
              help="the 60-view evaluation grid: for val/test characters (eval, default), all, none")
@click.option("--seed", type=int, default=0, help="seeds the split (default 0)")
@click.option("--test", "n_test", type=POSITIVE, default=24, help="held-out test characters, about (default 24)")
@click.option("--val", "n_val", type=POSITIVE, default=12, help="validation characters, about (default 12)")
@click.option("--workers", type=POSITIVE, default=2, help="render processes (default 2)")
def open_characters(catalogue: Path, mirrors: Path, glb: Path, out: Path, res: int, views: int | None, grid: str,
                    seed: int, n_test: int, n_val: int, workers: int) -> int:
    ctx = click.get_current_context()  # the settings, recorded in the README as one command line
    argv = [a for q in ctx.command.params if ctx.params[q.name] is not None
            for a in (q.opts[0], str(ctx.params[q.name]))]
    entries = open_set.read_catalogue(catalogue)
    with tqdm(entries, desc="extract", unit="file") as progress:  # closed before an error line
        paths = {e.id: open_set.extract(e, mirrors, glb) for e in progress}
    left_out = {i: reason for i, p in paths.items() if (reason := open_set.unusable_reason(p))}
    for i, reason in left_out.items():
        tqdm.write(f"left out: {paths[i]}: {reason}", file=sys.stderr)
    usable = [e for e in entries if e.id not in left_out]
    splits = open_set.choose_splits(usable, seed, n_test, n_val)
    fractions = tuple(sum(s == name for s in splits.values()) / len(splits) for name in SPLITS)
    p = PRESETS[PRESET]
    config = from_files.RenderConfig(out=str(out), preset=PRESET, res=res, seed=seed,
                                     views=p.n_views if views is None else views, grid=grid, splits=fractions,
                                     renderset=p.renderset)
    start = time.perf_counter()
    rc = from_files.generate(config, [paths[e.id] for e in usable], workers, None, assigned=splits)
    minutes = (time.perf_counter() - start) / 60
    rendered = {i for name in SPLITS for i in read_split(split_path(out, p.subset, name))}
    readme = open_set.write_records(out, entries, splits, left_out, rendered, argv)
    click.echo(f"open_characters: {len(rendered)} rendered in {minutes:.1f} min "
               f"({len(rendered) / max(minutes, 1e-9):.1f} characters/min), {len(left_out)} left out; see {readme}")
    return rc


def main(argv: list[str] | None = None) -> int:
    return run_data_command(open_characters, argv, with_renderset=False, with_merge=False)


if __name__ == "__main__":
    sys.exit(main())
