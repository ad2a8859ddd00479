"""Reconstructing a character from a user's front and back images: the one path behind
`python -m _scripts.reconstruct` and the web app (`python -m _scripts.app`).

Takes a loaded snapshot (training/infer/load.py), the image files and the output options; checks that the
snapshot can take users' images, prepares both images like the training views
(training/data/preprocess.py: background removal, framing, resize, on white) at the drawing size (the
larger of the model's condition and output sizes), makes the planes from them shrunk to the condition
size, fits the planes to the full-size drawings (training/infer/refine.py, unless its steps are 0) and
writes the character's files (training/infer/export.py's write_character). Image problems are ImageErrors (ValueErrors) with a
one-line message naming the file, raised before anything is rendered.
"""
from __future__ import annotations

from pathlib import Path

from PIL import Image

from training.data.layout import PRESETS
from training.data.preprocess import DEFAULT_TOLERANCE, prepare_image, resize_framed, to_condition, to_silhouette
from training.infer.export import OutputOptions, Progress, write_character
from training.infer.load import LoadedGenerator
from training.infer.refine import RefineSettings, drawing_targets, refine_planes
from training.infer.render import item_planes
from training.model.triplane import Planes


def user_image_preset(loaded: LoadedGenerator, preset: str | None = None) -> str:
    """The preset users' images are framed and rendered with (default: the snapshot's); ValueError for a
    snapshot that needs precomputed features, or a preset whose box is not the snapshot's."""
    G = loaded.G
    if G.cfg.use_precomputed_features:
        raise ValueError(f"{loaded.path}: this snapshot needs precomputed ortho_katepca_chonk features, "
                         f"which your own images do not have")
    name = preset or loaded.model.data_preset
    if abs(PRESETS[name].boxwarp - G.cfg.box_warp) > 1e-6:
        raise ValueError(f"--preset {name}: the snapshot was trained with the {loaded.model.data_preset} preset")
    return name


def drawing_size(loaded: LoadedGenerator) -> int:
    """Pixels per side the drawings are prepared at: the larger of the condition and output sizes (the
    refinement compares the renders with them at the output size)."""
    return max(loaded.model.cond_resolution, loaded.G.cfg.sr.img_resolution)


def prepare_pair(loaded: LoadedGenerator, preset: str, front: Path, back: Path, bg_removal: bool = True,
                 tolerance: float = DEFAULT_TOLERANCE) -> tuple[Image.Image, Image.Image]:
    """Both images framed as the model will see them, at drawing_size (ImageError naming the file when
    one is unusable)."""
    size = drawing_size(loaded)
    return (prepare_image(front, preset, size, bg_removal, tolerance),
            prepare_image(back, preset, size, bg_removal, tolerance))


def image_planes(loaded: LoadedGenerator, preset: str, images: tuple[Image.Image, Image.Image],
                 refine: RefineSettings = RefineSettings(), progress: Progress | None = None) -> Planes:
    """One character's planes from its prepared front and back images: made from the images shrunk to
    the condition size, with their silhouettes (carved when the generator's inference settings say so),
    then fitted to the images (refine, unless its steps are 0; progress gets ('refine', step, steps))."""
    cond = [resize_framed(im, loaded.model.cond_resolution) for im in images]
    item = {"cond_front": to_condition(cond[0]), "cond_back": to_condition(cond[1]),
            "silhouette_front": to_silhouette(cond[0]), "silhouette_back": to_silhouette(cond[1])}
    planes = item_planes(loaded.G, item, PRESETS[preset])
    if refine.steps == 0:
        return planes
    report = None if progress is None else (lambda step, loss: progress("refine", step, refine.steps))
    return refine_planes(loaded.G, planes, drawing_targets(PRESETS[preset], *images), refine, report)


def reconstruct_character(loaded: LoadedGenerator, preset: str, images: tuple[Image.Image, Image.Image],
                          out_dir: Path, opts: OutputOptions, name: str = "", progress: Progress | None = None,
                          refine: RefineSettings = RefineSettings()) -> list[Path]:
    """Every file of one character (training/infer/export.py's FILES) from its prepared images; returns
    the paths written."""
    planes = image_planes(loaded, preset, images, refine, progress)
    return write_character(loaded.G, PRESETS[preset], planes, images, out_dir, opts, name, progress)
