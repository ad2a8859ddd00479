"""Click options that several commands take, defined once (scripts import this module, never each other).

Model selection, device, render batching, fit and output options, with the command bodies the original's
compatible entry points share (generate / human_generate, measure / human_measure). The data commands'
options are in _scripts/data/options.py.
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import click
import torch

from _scripts.errors import BadInput, writable_folder
from dnnlib.files import errors_name
from training.data.layout import PRESETS, default_data_root
from training.data.validate import validate_characters
from training.eval.measure import load_feature_nets, measure
from training.eval.report import format_markdown, write_outputs
from training.infer.export import OutputOptions, open_split, pick_characters, summary, write_split
from training.infer.load import LoadedGenerator, load_generator
from training.infer.manifest import generate_settings, refuse_other_settings, write_manifest
from training.infer.refine import RefineSettings
from training.infer.release import RELEASED_MODEL
from training.infer.render import InferenceSettings
from training.infer.mesh import MESH_FORMATS
from training.infer.texture import DEFAULT_FACES, DEFAULT_TEXTURE
from training.metrics.image import PROTOCOLS
from training.train.runs import default_runs_root, resolve_inferquery

DATASETS = {"human": "body", "multi": "head"}  # the original's --dataset names -> data presets
DEFAULT_CHUNK = {"cuda": 8192, "cpu": 2048}  # rays per view per field call for images people look at
LOWMEM_CHUNK, DEFAULT_BATCH = 1024, 4


class _ManyValues(click.Option):
    """An option taking every value up to the next option (--ids A B C), as argparse's nargs='+'."""

    def add_to_parser(self, parser, ctx) -> None:
        super().add_to_parser(parser, ctx)
        option = parser._long_opt[self.opts[0]]
        take = option.process

        def take_all(value, state) -> None:
            take(value, state)
            while state.rargs and not state.rargs[0].startswith("-"):
                take(state.rargs.pop(0), state)

        option.process = take_all


def _apply(options: list) -> Callable:
    def decorate(fn: Callable) -> Callable:
        for option in reversed(options):
            fn = option(fn)
        return fn
    return decorate


model_options = _apply([
    click.option("--inferquery", default=None,
                 help="snapshot as NAME-RUN-KIMG, i.e. <runs>/NAME/RUN/network-snapshot-KIMG.pt"),
    click.option("--ckpt", type=click.Path(path_type=Path), default=None,
                 help="snapshot file (network-snapshot-*.pt) instead of --inferquery"),
    click.option("--runs", type=click.Path(path_type=Path), default=None,
                 help="runs folder for --inferquery (default: $PROJECT_DN/_train/eg3dc/runs)"),
])


def snapshot_path(inferquery: str | None, ckpt: Path | None, runs: Path | None) -> Path:
    """The snapshot file that --inferquery or --ckpt (exactly one) names."""
    if (inferquery is None) == (ckpt is None):
        raise click.UsageError("give exactly one of --inferquery and --ckpt")
    if ckpt is None:
        return resolve_inferquery(inferquery, runs or default_runs_root())
    if not Path(ckpt).is_file():
        raise FileNotFoundError(f"{ckpt}: snapshot file not found")
    return Path(ckpt)


def with_released_model(image_flags: dict) -> dict:
    """The model flags, naming the released model when neither --ckpt nor --inferquery is given (reconstruct
    and the web app); BadInput when that file is missing."""
    if image_flags["inferquery"] is not None or image_flags["ckpt"] is not None:
        return image_flags
    if not RELEASED_MODEL.is_file():
        raise BadInput(f"{RELEASED_MODEL}: the released model is missing (a partial checkout?); "
                       f"give --ckpt FILE or --inferquery Q")
    return {**image_flags, "ckpt": RELEASED_MODEL}


def query_name(path: Path, inferquery: str | None) -> str:
    """A query-like name for a snapshot (default output folders): the query, else NAME-RUN-KIMG read from a
    runs-layout path, else the file's stem."""
    if inferquery is not None:
        return inferquery
    m = re.fullmatch(r"network-snapshot-(\d+(?:\.\d{3})?)\.pt", path.name)
    run = path.parent.name
    return f"{path.parent.parent.name}-{run}-{m.group(1)}" if m and run.isdigit() else path.stem


device_option = click.option(
    "--device", default="auto",
    help="where to run: auto (cuda when available), cpu, cuda or cuda:N (default auto)")


def resolve_device(name: str) -> torch.device:
    """--device as a torch device; BadInput for cuda without a CUDA device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise BadInput(f"--device {name}: not a device (use auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BadInput(f"--device {name}: no CUDA device is available to this PyTorch (use --device cpu)")
    return device


carve_option = click.option(
    "--carve/--no-carve", default=False, show_default=True,
    help="remove density where the front or back drawing shows background, so front and back silhouettes are "
         "the drawings' (training/model/carving.py); sharper outlines for a blurry model, at some colour cost "
         "(docs/RESULTS.md)")


refine_options = _apply([
    click.option("--refine-steps", "refine_steps", type=click.IntRange(min=0), default=RefineSettings.steps,
                 show_default=True,
                 help="fit each character's planes to its two drawings for this many steps before rendering "
                      "(training/infer/refine.py): front and back views then match the drawings; 0 turns it off "
                      "(the released model: about 45 s per character on 2 CPU cores)"),
    click.option("--refine-lr", "refine_lr", type=click.FloatRange(min=0, min_open=True), default=RefineSettings.lr,
                 show_default=True, help="learning rate of that fit"),
])


def refine_settings(refine_steps: int, refine_lr: float) -> RefineSettings:
    """The fit of refine_options' flags."""
    return RefineSettings(steps=refine_steps, lr=refine_lr)


def render_options(chunk_default: str) -> Callable:
    """--batch, --chunk, --lowmem and --carve; chunk_default says what no --chunk means for the command."""
    return _apply([
        click.option("--batch", type=click.IntRange(min=1), default=None,
                     help=f"cameras rendered per call (default {DEFAULT_BATCH}; 1 with --lowmem)"),
        click.option("--chunk", type=click.IntRange(min=1), default=None,
                     help=f"rays per camera per field call (default: {chunk_default}; {LOWMEM_CHUNK} with --lowmem)"),
        click.option("--lowmem", is_flag=True, help="lowest memory: one camera per call, small ray chunks (slower)"),
        carve_option,
    ])


def render_batching(batch: int | None, chunk: int | None, lowmem: bool, default_chunk: int | None) -> tuple[int, int | None]:
    """(cameras per call, rays per field call) from --batch, --chunk and --lowmem."""
    return batch or (1 if lowmem else DEFAULT_BATCH), chunk or (LOWMEM_CHUNK if lowmem else default_chunk)


output_options = _apply([
    click.option("--video", is_flag=True, help="also write turntable.mp4 and turntable.gif"),
    click.option("--frames", type=click.IntRange(min=1), default=360,
                 help="turntable frames, one full turn (default 360)"),
    click.option("--fps", type=click.FloatRange(min=1), default=30.0, help="turntable frame rate (default 30)"),
    click.option("--mesh", is_flag=True, help="also write a textured mesh (mesh.glb, mesh.obj + .mtl + .png; "
                                               "mesh.ply with vertex colours)"),
    click.option("--mesh-res", "mesh_res", type=click.IntRange(min=2), default=256,
                 help="density grid nodes per axis over the box (default 256; 64-128 is enough on a CPU)"),
    click.option("--mesh-level", "mesh_level", type=float, default=None,
                 help="marching-cubes density level (default: from the field, the level whose silhouettes in the "
                      "four ortho views cover as many pixels as the rendered alpha > 0.5; no mesh if none is)"),
    click.option("--mesh-formats", "mesh_formats", default="ply,glb,obj",
                 help=f"comma-separated mesh files to write, from {', '.join(MESH_FORMATS)} (default ply,glb,obj)"),
    click.option("--faces", type=click.IntRange(min=0), default=DEFAULT_FACES,
                 help=f"simplify the mesh to about this many triangles and bake a UV texture (default "
                      f"{DEFAULT_FACES}); 0 keeps the marching-cubes mesh with vertex colours only"),
    click.option("--texture-size", "texture_size", type=click.IntRange(min=16), default=DEFAULT_TEXTURE,
                 help=f"baked texture width and height in texels (default {DEFAULT_TEXTURE})"),
    click.option("--res", type=click.IntRange(min=8), default=None,
                 help="output image size in pixels (default: the model's image resolution); smaller sizes "
                      "render proportionally fewer rays, and a model without super-resolution (the released "
                      "one) renders one ray per output pixel, so its cost grows with the square of --res"),
    click.option("--samples", type=click.IntRange(min=1), default=None,
                 help="coarse and fine samples per ray, each (default: twice the training counts, 96 + 96 "
                      "for the body and head presets)"),
    device_option,
    render_options(f"{DEFAULT_CHUNK['cuda']} on cuda, {DEFAULT_CHUNK['cpu']} on cpu; the mesh grid is evaluated "
                   f"in pieces of as many samples as a render call takes"),
])


def parse_mesh_formats(value: str) -> tuple[str, ...]:
    """--mesh-formats as a tuple; BadInput naming an unknown format."""
    formats = tuple(f.strip().lower() for f in value.split(",") if f.strip())
    bad = [f for f in formats if f not in MESH_FORMATS]
    if bad or not formats:
        raise BadInput(f"--mesh-formats: unknown format {', '.join(bad) or '(none)'}; "
                       f"choose from {', '.join(MESH_FORMATS)}")
    return formats


@dataclass
class ImageModel:
    """A generator loaded for writing images, with what the output flags resolve to."""

    loaded: LoadedGenerator
    name: str
    """Query-like name of the snapshot (query_name)."""
    outputs: OutputOptions


def load_image_model(inferquery: str | None, ckpt: Path | None, runs: Path | None, device: str, batch: int | None,
                     chunk: int | None, lowmem: bool, carve: bool, samples: int | None, res: int | None, video: bool, frames: int,
                     fps: float, mesh: bool, mesh_res: int, mesh_level: float | None,
                     mesh_formats: str, faces: int = DEFAULT_FACES, texture_size: int = DEFAULT_TEXTURE) -> ImageModel:
    """The generator of model_options and output_options (the inference settings; --samples overrides
    their sample counts), and the output options; every flag is checked before the snapshot is read."""
    formats = parse_mesh_formats(mesh_formats)
    path = snapshot_path(inferquery, ckpt, runs)
    dev = resolve_device(device)
    batch, chunk = render_batching(batch, chunk, lowmem, DEFAULT_CHUNK[dev.type])
    loaded = load_generator(path, dev, InferenceSettings(samples=samples, chunk=chunk, carve=carve))
    outputs = OutputOptions(size=res or loaded.G.cfg.sr.img_resolution, batch=batch, video=video, frames=frames,
                            fps=fps, mesh=mesh, mesh_res=mesh_res, mesh_level=mesh_level, mesh_formats=formats,
                            faces=faces, texture_size=texture_size)
    return ImageModel(loaded, query_name(path, inferquery), outputs)


def print_notes(notes: list[str]) -> None:
    """Warnings collected while writing, after the summary."""
    for note in notes:
        click.echo(f"warning: {note}", err=True)


split_options = _apply([
    click.option("--data", type=click.Path(path_type=Path), default=None,
                 help="data root holding renders/ and subsets/ (default: $PROJECT_DN/_data/lustrous)"),
    click.option("--preset", type=click.Choice(sorted(PRESETS)), default=None,
                 help="data preset: renderset, split names, cameras (default: the snapshot's)"),
    click.option("--split", default="test", help="split list to generate (default test)"),
    click.option("--out", type=click.Path(path_type=Path), default=None,
                 help="output folder (default: $PROJECT_DN/_data/results/<inferquery>/<split>; for --ckpt "
                      "the query is NAME-RUN-KIMG read from the path, or the file's stem)"),
    click.option("--limit", type=click.IntRange(min=1), default=None, help="only the first N characters of the split"),
    click.option("--ids", cls=_ManyValues, multiple=True, metavar="ID", help="only these character ids"),
])


def generate_split(preset: str | None, data: Path | None, split: str, out: Path | None, limit: int | None,
                   ids: tuple[str, ...], **image_flags) -> None:
    """generate's and human_generate's body: load, check the output folder and the picked characters' files,
    write every picked character, print the summary."""
    if out is not None:
        writable_folder(out)  # before the snapshot is read
    model = load_image_model(**image_flags)
    loaded, opts = model.loaded, model.outputs
    out = out or writable_folder(Path(os.environ.get("PROJECT_DN", ".")) / "_data" / "results" / model.name / split)
    ds = open_split(data or default_data_root(), loaded, preset or loaded.model.data_preset, split)
    picks = pick_characters(ds, list(ids), limit)
    validate_characters(ds.rs, [ds.chars[i] for i in picks])
    settings = generate_settings(loaded, model.name, ds, opts)
    refuse_other_settings(out, settings)
    write_manifest(out, {**settings, "characters": [ds.ids[i] for i in picks]})
    start = time.time()
    with errors_name(out):
        count = write_split(loaded, model.name, ds, picks, out, opts)
    click.echo(summary(out, len(picks), count, start, opts))
    print_notes(opts.notes)


def measure_options(dataset_default: str | None) -> Callable:
    """The options of measure and human_measure; only --dataset's default differs."""
    return _apply([
        model_options,
        click.option("--data", type=click.Path(path_type=Path), default=None,
                     help="Data root with renders/ and subsets/ (default: $PROJECT_DN/_data/lustrous)."),
        click.option("--dataset", type=click.Choice(sorted(DATASETS)), default=dataset_default,
                     help="The original's dataset names: human = body preset, multi = head preset."),
        click.option("--preset", type=click.Choice(sorted(PRESETS)), default=None,
                     help="Data preset (default: the snapshot's)."),
        click.option("--split", default="test", show_default=True, help="Split list to measure."),
        click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N characters."),
        click.option("--protocol", type=click.Choice(PROTOCOLS), default="standard", show_default=True,
                     help="Metric conventions: standard, or the original paper script's (see above)."),
        click.option("--res", type=click.IntRange(min=32), default=512, show_default=True,
                     help="Size both images are resized to (nearest) before scoring."),
        click.option("--out", type=click.Path(path_type=Path), default=None,
                     help="Output folder (default: temp/eval/<snapshot>/<split>-<protocol>)."),
        click.option("--strict", is_flag=True, help="A missing weight file is an error, not n/a."),
        device_option,
        render_options(f"{DEFAULT_CHUNK['cuda']} on cuda, {DEFAULT_CHUNK['cpu']} on cpu, as generate"),
        click.option("--alexnet", default=None, help="AlexNet weights (file or folder) for LPIPS."),
        click.option("--lpips-heads", "lpips_heads", default=None, help="LPIPS v0.1 AlexNet heads file."),
        click.option("--clip", default=None, help="OpenAI ViT-B-32.pt (file or folder)."),
        click.option("--inception", default=None, help="pt_inception-2015-12-05-6726825d.pth (file or folder)."),
    ])


def run_measure(inferquery: str | None, ckpt: Path | None, runs: Path | None, data: Path | None, dataset: str | None,
                preset: str | None, split: str, limit: int | None, protocol: str, res: int, out: Path | None,
                strict: bool, device: str, batch: int | None, chunk: int | None, lowmem: bool, carve: bool, alexnet: str | None,
                lpips_heads: str | None, clip: str | None, inception: str | None) -> None:
    """measure's and human_measure's body: resolve, check the output folder, load weights, measure, print
    and write (failures end the command as _scripts/errors.py says)."""
    if dataset and preset and DATASETS[dataset] != preset:
        raise click.UsageError(f"--dataset {dataset} is the {DATASETS[dataset]} preset, not --preset {preset}")
    snapshot = snapshot_path(inferquery, ckpt, runs)
    name = inferquery or snapshot.stem
    out = writable_folder(out or Path("temp") / "eval" / name / f"{split}-{protocol}")
    dev = resolve_device(device)
    batch, chunk = render_batching(batch, chunk, lowmem, DEFAULT_CHUNK[dev.type])
    nets = load_feature_nets(alexnet, lpips_heads, clip, inception, strict, dev)
    results = measure(snapshot, name, Path(data) if data else default_data_root(),
                      preset or (DATASETS[dataset] if dataset else None), split, limit, protocol, res, nets,
                      dev, batch, chunk, carve=carve)
    md, js = write_outputs(results, out)
    click.echo(format_markdown(results))
    click.echo(f"wrote {md} and {js}")
