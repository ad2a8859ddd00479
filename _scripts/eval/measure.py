"""Image and geometry metrics of a trained generator on a split, as a markdown table and JSON.

\b
    python -m _scripts.eval.measure (--inferquery NAME-RUN-KIMG | --ckpt FILE) [--data DIR]
        [--dataset human|multi | --preset body|head] [--split test] [--limit N]
        [--protocol standard|paper] [--res 512] [--out DIR] [--strict] [--device cpu|cuda]
        [--alexnet PATH] [--lpips-heads PATH] [--clip PATH] [--inception PATH]

Per test character the generator renders the subsets' cameras exactly as generate does (mean
latent, constant noise, the same samples per ray): front, back, left, right (the ortho views) and
360 (the elevation-0 ring of the 60-view grid, rgb60 0036..0047, when the character has it; else its
random views). Per subset: PSNR, SSIM x100, LPIPS x100 (AlexNet v0.1), CLIP x100 (ViT-B/32 cosine),
FID (pred vs true images of the subset, with its image count). Geometry: chamfer x100, F1@0.005 and
F1@0.01 x100 between the surface points of the predicted xyz/alpha, rendered at the true xyza
images' resolution, and of the true xyza images over the same views (from 10k points of each to
all points of the other); a character with no predicted
surface scores F1 0 and chamfer x100 = the box diagonal and counts in the means. Values are
means over characters (a character's 360 value is the mean over its ring). Predicted and true
images are compared at --res (nearest resize), composited on white, uncropped, as 8-bit images.

Protocols: 'standard' (default: PSNR range 1, Gaussian 11x11 SSIM, LPIPS on [-1, 1]) and 'paper',
which reproduces the original measure script's choices, mistakes included (LPIPS fed [0, 1] images,
PSNR range from each target, uniform 3x3 SSIM). The table's header says which.

A missing weight file makes its metric "n/a (weights missing: <file>, sha256 <...>)"; --strict
makes it a one-line error (exit status 2, a missing input). Writes <out>/metrics.md and <out>/metrics.json,
each whole or not at all.
"""
from __future__ import annotations

import click

from _scripts.errors import OneLineErrors
from _scripts.options import measure_options, run_measure


@click.command(name="measure", cls=OneLineErrors, help=__doc__)
@measure_options(dataset_default=None)
def main(**flags) -> None:
    run_measure(**flags)


if __name__ == "__main__":
    main()
