"""Reconstructing a character from a user's front and back images: the one path behind
`python -m _scripts.reconstruct` and the web app (`python -m _scripts.app`).

Takes a loaded snapshot (training/infer/load.py), the image files and the output options; checks that the
snapshot can take users' images, prepares both images like the training views
(training/data/preprocess.py: background removal, framing, resize, on white) and writes the character's
files (training/infer/export.py's write_character). Image problems are ImageErrors (ValueErrors) with a
one-line message naming the file, raised before anything is rendered.
"""
from __future__ import annotations

from pathlib import Path

from PIL import Image

from training.data.layout import PRESETS
from training.data.preprocess import DEFAULT_TOLERANCE, prepare_image, to_condition, to_silhouette
from training.infer.cameras import drawing_silhouettes
from training.infer.export import OutputOptions, Progress, write_character
from training.infer.load import LoadedGenerator
from training.infer.render import make_character_planes
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


def prepare_pair(loaded: LoadedGenerator, preset: str, front: Path, back: Path, bg_removal: bool = True,
                 tolerance: float = DEFAULT_TOLERANCE) -> tuple[Image.Image, Image.Image]:
    """Both images as the model will see them (ImageError naming the file when one is unusable)."""
    size = loaded.model.cond_resolution
    return (prepare_image(front, preset, size, bg_removal, tolerance),
            prepare_image(back, preset, size, bg_removal, tolerance))


def image_planes(loaded: LoadedGenerator, preset: str, images: tuple[Image.Image, Image.Image]) -> Planes:
    """One character's planes from its prepared front and back images, with their silhouettes (carved
    when the generator's inference settings say so)."""
    front, back = images
    silhouettes = drawing_silhouettes(PRESETS[preset], to_silhouette(front), to_silhouette(back))
    return make_character_planes(loaded.G, to_condition(front), to_condition(back), silhouettes=silhouettes)


def reconstruct_character(loaded: LoadedGenerator, preset: str, images: tuple[Image.Image, Image.Image],
                          out_dir: Path, opts: OutputOptions, name: str = "",
                          progress: Progress | None = None) -> list[Path]:
    """Every file of one character (training/infer/export.py's FILES) from its prepared images; returns
    the paths written."""
    planes = image_planes(loaded, preset, images)
    return write_character(loaded.G, PRESETS[preset], planes, images, out_dir, opts, name, progress)
