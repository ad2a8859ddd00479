"""Reconstruct your own characters: a front and a back image in, views, turntables and meshes out.

\b
    python -m _scripts.reconstruct --front F.png --back B.png [--ckpt FILE | --inferquery Q] --out DIR
        [--video] [--mesh [--faces N]] [--vrm [--vrm0] [--license L]] [--no-bg-removal] [--sheet PNG]
        [--refine-steps N] [--carve] [--device auto|cpu|cuda]
    several characters: repeat the pair (--front A_f.png --back A_b.png --front B_f.png --back B_b.png),
    or --pairs LIST with one 'FRONT BACK [NAME]' per line (whitespace-separated, so paths without
    spaces; relative to the list's folder; blank lines and lines starting with # are skipped).

\b

The images are the character's orthographic front and back views (the back as seen from behind),
on a transparent or plain background. Each is cleaned and framed like the training data
(training/data/preprocess.py: background removal, crop, the preset's framing rule, resize, on white).
One pair writes into DIR; several pairs write into DIR/<NAME>/ (NAME: the list's third column, else the
front file's name without a trailing 'front'). The files are those of _scripts.eval.generate, where
input_front.png and input_back.png show the images as framed for the model (at the output size; its
encoder sees them shrunk to its condition size, and the fit compares the renders with them).
Without --ckpt or --inferquery the released model is used (_train/released/nova3d-cpu128.pt, 128 px;
_train/released/MODEL_CARD.md says what it was trained on and how well it does).
--vrm also writes avatar.vrm (implies --mesh): the textured mesh with a humanoid skeleton placed from
its shape, skin weights and a T-pose, as VRM 1.0 (--vrm0: VRM 0.x), the licence from --license.
Before rendering, each character's planes are fitted to its two images (--refine-steps, default 100;
training/infer/refine.py): the front and back views then match the drawings closely (docs/RESULTS.md).
An unreadable, empty (all background) or tiny (< 32 px character) image stops the run with a one-line
error naming the file, before anything is rendered.
"""
from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path

import click
from tqdm import tqdm

from _scripts.errors import BadInput, OneLineErrors, writable_folder
from _scripts.options import (load_image_model, model_options, output_options, print_notes, refine_options,
                              refine_settings, with_released_model)
from dnnlib.files import errors_name
from training.data.layout import PRESETS
from training.data.preprocess import DEFAULT_TOLERANCE
from training.infer.export import summary
from training.infer.sheet import write_sheet
from training.infer.manifest import reconstruct_settings, refuse_other_settings, write_manifest
from training.infer.reconstruct import prepare_pair, reconstruct_character, user_image_preset
from training.infer.vrm import LICENSES, AvatarMeta


def read_pairs(front: tuple[Path, ...], back: tuple[Path, ...], pair_list: Path | None) -> list[tuple[Path, Path, str | None]]:
    """(front, back, name or None) for every character asked for."""
    if len(front) != len(back):
        raise BadInput(f"got {len(front)} --front and {len(back)} --back images; give them in pairs")
    pairs = [(f, b, None) for f, b in zip(front, back)]
    if pair_list is not None:
        try:
            lines = pair_list.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(f"{pair_list}: cannot read pair list ({exc})") from None
        for n, line in enumerate(lines, 1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if len(fields) not in (2, 3):
                raise BadInput(f"{pair_list}:{n}: expected 'FRONT BACK [NAME]', got {line.strip()!r}")
            base = pair_list.parent
            pairs.append((base / fields[0], base / fields[1], fields[2] if len(fields) == 3 else None))
    if not pairs:
        raise BadInput("nothing to reconstruct: give --front F.png --back B.png, or --pairs LIST")
    return pairs


def output_names(pairs: list[tuple[Path, Path, str | None]]) -> list[str]:
    """Folder names: the given name, else the front file's stem without a trailing 'front'; made unique."""
    names, seen = [], set()
    for front, _, name in pairs:
        stem = re.sub(r"[_\-. ]*front$", "", front.stem, flags=re.IGNORECASE)
        base = name or stem or front.parent.name or "character"
        unique, k = base, 2
        while unique in seen:
            unique, k = f"{base}-{k}", k + 1
        seen.add(unique)
        names.append(unique)
    return names


@click.command(cls=OneLineErrors, help=__doc__)
@click.option("--front", type=click.Path(path_type=Path), multiple=True, metavar="PNG",
              help="front view image (repeat, paired in order with --back, for several characters)")
@click.option("--back", type=click.Path(path_type=Path), multiple=True, metavar="PNG",
              help="back view image, seen from behind")
@click.option("--pairs", "pair_list", type=click.Path(path_type=Path), default=None, metavar="LIST",
              help="text file of 'FRONT BACK [NAME]' lines, instead of or besides --front/--back")
@model_options
@click.option("--out", type=click.Path(path_type=Path), required=True, help="output folder")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default=None,
              help="framing and cameras: body or head (default: the snapshot's)")
@click.option("--no-bg-removal", "bg_removal", is_flag=True, flag_value=False, default=True,
              help="use the images as they are (already framed like the training views): only pad to a "
                   "square with white and resize")
@click.option("--tolerance", type=float, default=DEFAULT_TOLERANCE,
              help=f"background keying tolerance for images without alpha, a fraction of the colour range "
                   f"(default {DEFAULT_TOLERANCE})")
@output_options
@refine_options
@click.option("--vrm", is_flag=True, help="also write avatar.vrm: the textured mesh rigged and skinned (implies --mesh)")
@click.option("--vrm0", is_flag=True, help="write avatar.vrm as VRM 0.x instead of 1.0")
@click.option("--license", "license_", type=click.Choice(sorted(LICENSES)), default="redistribution-prohibited",
              help="the licence written into avatar.vrm's meta (default redistribution-prohibited)")
@click.option("--author", default="NOVA-3D", help="author written into avatar.vrm's meta (default NOVA-3D)")
@click.option("--sheet", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="PNG",
              help="also write a contact sheet: per character, the two images as the model saw them, then its "
                   "views at azimuth 0, 30, 90, 150, 180 and -90 degrees")
def main(front: tuple[Path, ...], back: tuple[Path, ...], pair_list: Path | None, out: Path, preset: str | None,
         bg_removal: bool, tolerance: float, vrm: bool, vrm0: bool, license_: str, author: str, sheet: Path | None,
         refine_steps: int, refine_lr: float, **image_flags) -> None:
    pairs = read_pairs(front, back, pair_list)
    refine = refine_settings(refine_steps, refine_lr)
    if not 0 < tolerance < 1:
        raise BadInput(f"--tolerance must be between 0 and 1, got {tolerance}")
    if vrm0 and not vrm:
        raise BadInput("--vrm0 chooses the version of --vrm's file; give --vrm too")
    if vrm and image_flags["faces"] == 0:
        raise BadInput("--vrm needs the textured mesh: give --faces above 0")
    writable_folder(out)
    if sheet is not None:
        writable_folder(sheet.parent, flag="--sheet")
    model = load_image_model(**with_released_model({**image_flags, "mesh": image_flags["mesh"] or vrm}))
    meta = AvatarMeta(authors=(author,), license=license_, version="0" if vrm0 else "1.0") if vrm else None
    loaded, opts = model.loaded, replace(model.outputs, vrm=meta)
    preset_name = user_image_preset(loaded, preset)
    inputs = [prepare_pair(loaded, preset_name, f, b, bg_removal, tolerance) for f, b, _ in pairs]
    names = output_names(pairs)
    settings = reconstruct_settings(loaded, model.name, preset_name, opts, bg_removal, tolerance, len(pairs), refine)
    refuse_other_settings(out, settings)
    write_manifest(out, {**settings, "characters": names})
    start, count = time.time(), 0
    folders = [out if len(pairs) == 1 else out / name for name in names]
    for images, name, out_dir in tqdm(list(zip(inputs, names, folders)), desc="reconstruct", unit="char",
                                      dynamic_ncols=True):
        named = replace(opts, vrm=replace(meta, name=name)) if meta else opts
        with errors_name(out_dir):
            count += len(reconstruct_character(loaded, preset_name, images, out_dir, named, name, refine=refine))
    click.echo(summary(out, len(pairs), count, start, opts))
    if sheet is not None:
        with errors_name(sheet):
            click.echo(f"wrote the contact sheet {write_sheet(sheet, folders)}")
    print_notes(opts.notes)


if __name__ == "__main__":
    main()
