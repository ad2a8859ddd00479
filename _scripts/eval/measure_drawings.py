"""Score a model the way a user would: held-out characters given as a front and a back drawing.

\b
    python -m _scripts.eval.measure_drawings (--ckpt FILE | --inferquery NAME-RUN-KIMG | --reference-only)
        --data ROOT [--split test] [--limit N] [--res 128] [--out DIR] [--refine-steps N] [--device auto|cpu|cuda]

Per character of the split (a data root in the NOVA-Human layout: synthetic, or rendered open
characters), its ortho front and back renders are the user's two drawings. The model takes them
exactly as `python -m _scripts.reconstruct --front F --back B` does (background removal, the
preset's framing, the fit of the planes to the two drawings: --refine-steps, 0 for the generator's
planes as they are) and renders reconstruct's views: front, back, left, right (orthographic) and the
12-view elevation-0 ring. The true views are the data's files (ortho/ and the rgb60 ring
0036..0047; a character without the ring is left out of the 360 column).

Because reconstruct reframes the drawings, ONE similarity per character is fitted on the front view
(scale from the silhouette heights, alpha > 0.5; feet and the bounding-box centre aligned) and
applied unchanged, as the same 3D move, to every other view: a side view that is too wide or too
deep stays wrong (ring views: weak-perspective approximation). Per view group (front, back, side =
left and right, 360 = the ring): silhouette IoU, and colour PSNR over the union of the two
silhouettes (on white, data range 1); means over characters, images compared at --res (nearest
resize, 8-bit).

Beside the model the table has three rows from the data alone: 'billboard' (the front drawing on a
flat card through the origin, seen from every camera: the back view sees it mirrored, the side views
see nothing), 'sprite' (the front drawing itself as every view, a billboard turned to face the
camera: issue 16's reference) and 'truth' (the true views against themselves: IoU 1, PSNR inf).
--reference-only scores just those, without a snapshot.

Writes <out>/metrics.md and <out>/metrics.json (default out: temp/eval/<snapshot>/drawings-<split>).
Errors (a missing file, a bad data root, a drawing with no character, an unwritable --out) are one line, exit status 2.
"""
from __future__ import annotations

from pathlib import Path

import click

from _scripts.errors import BadInput, OneLineErrors, writable_folder
from _scripts.options import (DEFAULT_BATCH, DEFAULT_CHUNK, device_option, model_options, query_name, refine_options,
                              refine_settings, render_batching, render_options, resolve_device, snapshot_path)
from training.data.layout import PRESETS
from training.eval.drawings import measure_drawings
from training.eval.drawings_report import format_markdown, write_outputs
from training.infer.load import load_generator
from training.infer.render import InferenceSettings


@click.command(cls=OneLineErrors, help=__doc__)
@model_options
@click.option("--reference-only", is_flag=True, help="no snapshot: only the rows from the data alone (billboard, sprite, truth)")
@click.option("--data", type=click.Path(path_type=Path), required=True,
              help="data root with renders/ and subsets/ (NOVA-Human layout)")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default=None,
              help="data preset (default: the snapshot's; body with --reference-only)")
@click.option("--split", default="test", show_default=True, help="split list to score")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="only the first N characters")
@click.option("--res", type=click.IntRange(min=16), default=128, show_default=True,
              help="size the true and rendered images are resized to (nearest) before scoring")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="output folder (default: temp/eval/<snapshot>/drawings-<split>)")
@device_option
@render_options(f"{DEFAULT_CHUNK['cuda']} on cuda, {DEFAULT_CHUNK['cpu']} on cpu, as reconstruct")
@refine_options
def main(inferquery: str | None, ckpt: Path | None, runs: Path | None, reference_only: bool, data: Path,
         preset: str | None, split: str, limit: int | None, res: int, out: Path | None, device: str,
         batch: int | None, chunk: int | None, lowmem: bool, carve: bool, refine_steps: int, refine_lr: float) -> None:
    loaded, name = None, "reference"
    if out is not None:
        writable_folder(out)
    if reference_only:
        if inferquery or ckpt:
            raise BadInput("--reference-only scores no snapshot: leave out --ckpt and --inferquery")
    else:
        path = snapshot_path(inferquery, ckpt, runs)
        dev = resolve_device(device)
        batch, chunk = render_batching(batch, chunk, lowmem, DEFAULT_CHUNK[dev.type])
        loaded, name = load_generator(path, dev, InferenceSettings(chunk=chunk, carve=carve)), query_name(path, inferquery)
        if preset is not None and preset != loaded.model.data_preset:
            raise BadInput(f"--preset {preset}: the snapshot was trained with the {loaded.model.data_preset} preset")
    results = measure_drawings(data, split, limit, res, preset or (loaded.model.data_preset if loaded else "body"),
                               loaded, None if loaded is None else name, batch or DEFAULT_BATCH,
                               refine=refine_settings(refine_steps, refine_lr))
    md, js = write_outputs(results, out or Path("temp") / "eval" / name / f"drawings-{split}")
    click.echo(format_markdown(results))
    click.echo(f"wrote {md} and {js}")


if __name__ == "__main__":
    main()
