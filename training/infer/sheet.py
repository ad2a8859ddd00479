"""A contact sheet of reconstructed characters: one row per character, the two images as the model saw
them, then its spin views at chosen azimuths (reconstruct's --sheet; the README's first picture).

Takes the character folders written by training/infer/export.py (input_front.png, input_back.png,
spin_00.png ... spin_11.png); gives one RGB image. Nothing is rendered here: the sheet shows exactly
the files a user gets.
"""
from __future__ import annotations

from pathlib import Path

from PIL import Image

from dnnlib.files import atomic_path
from training.data.layout import GRID_AZIMS

SHEET_AZIMUTHS = (0.0, 30.0, 90.0, 150.0, 180.0, -90.0)
"""Front, three-quarter, the character's left side, three-quarter back, back, right side."""
GAP = 4  # white pixels between tiles


def spin_file(azimuth: float) -> str:
    """The spin view file at an azimuth (degrees, elevation 0): spin_k is azimuth GRID_AZIMS[k]."""
    wrapped = (azimuth + 180.0) % 360.0 - 180.0
    if wrapped not in GRID_AZIMS:
        raise ValueError(f"azimuth {azimuth}: the spin views are at {', '.join(f'{a:g}' for a in GRID_AZIMS)} degrees")
    return f"spin_{GRID_AZIMS.index(wrapped):02d}.png"


def contact_sheet(folders: list[Path], azimuths: tuple[float, ...] = SHEET_AZIMUTHS) -> Image.Image:
    """Rows of [input_front, input_back, spin views at azimuths] for each folder, tiles the spin views'
    size (inputs resized to it), on white. FileNotFoundError naming a missing file."""
    names = [spin_file(a) for a in azimuths]
    files = [[folder / f"input_{side}.png" for side in ("front", "back")] + [folder / n for n in names]
             for folder in folders]
    tile_w, tile_h = Image.open(files[0][2]).size  # the first character's first view
    columns = len(files[0])
    sheet = Image.new("RGB", (columns * tile_w + (columns - 1) * GAP, len(files) * tile_h + (len(files) - 1) * GAP),
                      (255, 255, 255))
    for r, row in enumerate(files):
        for c, path in enumerate(row):
            tile = Image.open(path).convert("RGB")
            if tile.size != (tile_w, tile_h):
                tile = tile.resize((tile_w, tile_h), Image.BICUBIC)
            sheet.paste(tile, (c * (tile_w + GAP), r * (tile_h + GAP)))
    return sheet


def write_sheet(path: Path, folders: list[Path], azimuths: tuple[float, ...] = SHEET_AZIMUTHS) -> Path:
    """contact_sheet written to path (PNG), whole or not at all."""
    image = contact_sheet(folders, azimuths)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return Path(path)
