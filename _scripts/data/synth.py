"""Synthetic NOVA-Human-style dataset: procedural characters rendered into the release's layout.

    python -m _scripts.data.synth --out DIR --n 100 --res 256 --preset body --seed 0
    python -m _scripts.data.synth --out DIR ... --shard 3/8        (one job of an array job)
    python -m _scripts.data.synth merge --out DIR --preset body    (after all shards)
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from _scripts.data.options import (DATA_CONTEXT, POSITIVE, data_command_help, data_job_options, out_option,
                                   preset_option, run_data_command)
from _scripts.errors import writable_folder
from training.data.layout import PRESETS
from training.data.synth import procedural


@click.command("synth", help=data_command_help(__doc__, procedural.__doc__), context_settings=DATA_CONTEXT)
@out_option
@click.option("--n", required=True, type=POSITIVE, help="number of characters")
@click.option("--res", required=True, type=POSITIVE, help="image resolution (square)")
@preset_option("body (full figure) or head (bust)")
@click.option("--seed", type=int, default=0, help="everything follows from it (default 0)")
@data_job_options
def synth(out: Path, n: int, res: int, preset: str, seed: int, views: int | None, grid: str,
          splits: tuple[float, float, float], workers: int, shard: tuple[int, int] | None) -> None:
    writable_folder(out)
    views = PRESETS[preset].n_views if views is None else views
    config = procedural.RunConfig(out=str(out), preset=preset, res=res, seed=seed, views=views, grid=grid,
                                  splits=splits, n=n)
    procedural.generate(config, workers, shard)


def main(argv: list[str] | None = None) -> int:
    """The command on argv (default: sys.argv) or, for `merge ...`, the merge; returns the exit code."""
    return run_data_command(synth, argv, with_renderset=False)


if __name__ == "__main__":
    sys.exit(main())
