"""Real characters (.vrm VRM 0.x / 1.0, .glb, .gltf) rendered into the NOVA-Human layout, headless.

    python -m _scripts.data.render --in CHARS --out _data/lustrous --preset body [--res 512]
    python -m _scripts.data.render --in CHARS --out ROOT --preset body --shard 3/8    (one array job)
    python -m _scripts.data.render merge --out ROOT --preset body                     (after all shards)
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from _scripts.data.options import (DATA_CONTEXT, POSITIVE, data_command_help, data_job_options, out_option,
                                   preset_option, renderset_option, run_data_command)
from _scripts.errors import writable_folder
from training.data.layout import PRESETS
from training.data.synth import from_files


@click.command("render", help=data_command_help(__doc__, from_files.__doc__), context_settings=DATA_CONTEXT)
@click.option("--in", "source", required=True, type=click.Path(path_type=Path),
              help="a .vrm/.glb/.gltf file or a folder of them (searched recursively)")
@out_option
@preset_option("body (full figure) or head")
@click.option("--res", type=POSITIVE, default=512, help="image resolution (square, default 512)")
@renderset_option
@click.option("--seed", type=int, default=0, help="seeds the split assignment (default 0)")
@data_job_options
def render(source: Path, out: Path, preset: str, res: int, renderset: str, seed: int, views: int | None, grid: str,
           splits: tuple[float, float, float], workers: int, shard: tuple[int, int] | None) -> int:
    writable_folder(out)
    p = PRESETS[preset]
    config = from_files.RenderConfig(out=str(out), preset=preset, res=res, seed=seed,
                                     views=p.n_views if views is None else views, grid=grid, splits=splits,
                                     renderset=renderset or p.renderset)
    return from_files.generate(config, source, workers, shard)


def main(argv: list[str] | None = None) -> int:
    """The command on argv (default: sys.argv) or, for `merge ...`, the merge; returns the exit code."""
    return run_data_command(render, argv, with_renderset=True)


if __name__ == "__main__":
    sys.exit(main())
