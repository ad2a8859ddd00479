"""A local web page for reconstruct: drop a front and a back drawing (or pick a bundled example), see how
they are framed, press Reconstruct, get the turntable, a 3D view of the mesh and the files.

\b
    python -m _scripts.app [--port 7860] [--host 127.0.0.1] [--ckpt FILE | --inferquery Q] [--device cpu]
    make app          installs the app's extra (requirements-app.txt, setup.py's [app]) into .venv, runs this

Serves http://HOST:PORT/ (only this machine by default: --host 127.0.0.1). Jobs run one at a time, in
order (a queue: the page says how many are ahead); each image may be at most --max-upload-mb. The images
are checked and prepared exactly as `python -m _scripts.reconstruct` does (the same library path,
training/infer/reconstruct.py) and an unusable one gets the same one-line message. Without --ckpt or
--inferquery the released model is used, on the CPU. The turntable has --frames frames and the mesh a
--mesh-res grid and a --texture-size texture (smaller than reconstruct's defaults, so that a result comes
within a minute on 2 CPU cores); with --vrm (the default) each job also writes the rigged avatar.vrm
(reconstruct --vrm's file). Needs the optional extra: pip install -e .[app].
"""
from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import click

from _scripts.errors import BadInput, OneLineErrors
from _scripts.options import carve_option, load_image_model, model_options, refine_options, refine_settings, with_released_model
from torch_utils.ops.triplane_sampler import prepare as prepare_sampler
from training.infer.reconstruct import user_image_preset
from training.infer.vrm import AvatarMeta


def serve(config_args: dict, host: str, port: int, workdir: Path | None) -> None:
    """Load the model, build the app and serve it until interrupted."""
    try:
        import uvicorn

        from _scripts.app.server import AppConfig, build_app
    except ImportError as exc:
        raise BadInput(f"the web app needs its optional packages ({exc.name} is missing): "
                       f"pip install -e .[app]") from None
    max_upload, vrm, refine = config_args.pop("max_upload"), config_args.pop("vrm"), config_args.pop("refine")
    model = load_image_model(**config_args)
    sampler = prepare_sampler(config_args["device"])  # a first-use compile now, not in the first job
    preset = user_image_preset(model.loaded)
    outputs = replace(model.outputs, vrm=AvatarMeta(name="NOVA-3D web app avatar") if vrm else None)
    with tempfile.TemporaryDirectory(prefix="nova3d-app-", dir=workdir) as tmp:
        config = AppConfig(model.loaded, preset, outputs, Path(tmp), max_upload, refine)
        click.echo(f"NOVA-3D app ({model.name} on {config_args['device']}, tri-plane sampler: {sampler}): "
                   f"open http://{host}:{port}/ (Ctrl+C stops it)")
        uvicorn.run(build_app(config), host=host, port=port, log_level="warning")


@click.command(cls=OneLineErrors, help=__doc__)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="address to listen on (0.0.0.0 lets other machines in: the app has no login)")
@click.option("--port", type=click.IntRange(1, 65535), default=7860, show_default=True)
@model_options
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N")
@click.option("--frames", type=click.IntRange(min=1), default=36, show_default=True,
              help="turntable frames, one full turn")
@click.option("--fps", type=click.FloatRange(min=1), default=12.0, show_default=True, help="turntable frame rate")
@click.option("--mesh-res", "mesh_res", type=click.IntRange(min=2), default=64, show_default=True,
              help="density grid nodes per axis for the mesh")
@click.option("--faces", type=click.IntRange(min=1), default=20000, show_default=True,
              help="triangles of the simplified, textured mesh")
@click.option("--texture-size", "texture_size", type=click.IntRange(min=16), default=512, show_default=True,
              help="baked texture width and height in texels")
@click.option("--vrm/--no-vrm", default=True, show_default=True,
              help="also write the rigged avatar.vrm (VRM 1.0; its licence: redistribution prohibited)")
@click.option("--res", type=click.IntRange(min=8), default=None,
              help="output image size in pixels (default: the model's)")
@click.option("--samples", type=click.IntRange(min=1), default=None,
              help="coarse and fine samples per ray, each (default: the inference rule, twice the trained counts)")
@click.option("--max-upload-mb", "max_upload_mb", type=click.FloatRange(min=0.01), default=10.0, show_default=True,
              help="largest image accepted, per image")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="where jobs write their files (a temporary folder inside it, removed on exit; default: the "
                   "system's temporary folder)")
@carve_option
@refine_options
def main(host: str, port: int, inferquery: str | None, ckpt: Path | None, runs: Path | None, device: str, frames: int,
         fps: float, mesh_res: int, faces: int, texture_size: int, vrm: bool, res: int | None, samples: int | None,
         max_upload_mb: float, workdir: Path | None, carve: bool, refine_steps: int, refine_lr: float) -> None:
    flags = with_released_model({"inferquery": inferquery, "ckpt": ckpt, "runs": runs})
    serve({**flags, "device": device, "batch": None, "chunk": None, "lowmem": False, "carve": carve, "samples": samples,
           "res": res, "video": True, "frames": frames, "fps": fps, "mesh": True, "mesh_res": mesh_res,
           "mesh_level": None, "mesh_formats": "glb", "faces": faces, "texture_size": texture_size, "vrm": vrm,
           "max_upload": int(max_upload_mb * 2 ** 20), "refine": refine_settings(refine_steps, refine_lr)}, host, port, workdir)


if __name__ == "__main__":
    main(prog_name="python -m _scripts.app")
