"""Generate the test split's reconstructions: ortho views, the 12-view spin, turntables and meshes.

\b
    python -m _scripts.eval.generate --inferquery NAME-RUN-KIMG [--data DIR] [--split test] [--out DIR]
        [--limit N | --ids ID ...] [--video [--frames 360]] [--mesh [--mesh-res 256]] [--res PX]
        [--device auto|cpu|cuda] [--batch B] [--chunk RAYS] [--lowmem]

Deterministic: the mean latent, constant noise and fixed ray samples; two runs write identical PNGs.
Writes (<out>: --out):
"""
from __future__ import annotations

import click

from _scripts.errors import OneLineErrors
from _scripts.options import generate_split, model_options, output_options, split_options
from training.infer.export import FILES


@click.command(cls=OneLineErrors, help=__doc__ + "\n\b\n" + FILES)
@model_options
@split_options
@output_options
def main(**flags) -> None:
    generate_split(**flags)


if __name__ == "__main__":
    main()
