"""Generate the test split's reconstructions: ortho views, the 12-view spin, turntables and meshes.

\b
    python -m _scripts.eval.generate --inferquery NAME-RUN-KIMG [--data DIR] [--split test] [--out DIR]
        [--limit N | --ids ID ...] [--video [--frames 360]] [--mesh [--mesh-res 256]] [--res PX]
        [--device auto|cpu|cuda] [--batch B] [--chunk RAYS] [--lowmem]

\b
Per character, in <out>/<id>/:
    input_front.png, input_back.png        the condition images the model saw
    ortho_{front,back,left,right}.png      orthographic views, as the dataset's ortho/ renders
    spin_00.png ... spin_11.png            perspective, elevation 0, azimuth -180, -150, ..., 150
                                           (the evaluation grid's views 36..47, the '360' subset)
    xyza/<view>.png                        the expected surface point and alpha of each view above,
                                           in the dataset's xyza encoding
    turntable.mp4, turntable.gif           with --video: --frames views at elevation 0, from the front
    mesh.ply, mesh.glb (and .obj)          with --mesh: marching cubes of the density (training/infer/mesh.py)
and <out>/manifest.json lists the snapshot, the settings and the characters. Deterministic: the mean
latent, constant noise and fixed ray samples; two runs write identical PNGs.
"""
from __future__ import annotations

import click

from _scripts.options import OneLineErrors, generate_split, model_options, output_options, split_options


@click.command(cls=OneLineErrors, help=__doc__)
@model_options
@split_options
@output_options
def main(**flags) -> None:
    generate_split(**flags)


if __name__ == "__main__":
    main()
