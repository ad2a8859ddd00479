"""The contact sheet (training/infer/sheet.py): tiles are the files, in order."""
import numpy as np
import pytest
from PIL import Image

from training.infer.sheet import GAP, contact_sheet, spin_file, write_sheet


def test_spin_files_follow_the_ring():
    assert spin_file(0) == "spin_06.png" and spin_file(180) == "spin_00.png" and spin_file(-180) == "spin_00.png"
    assert spin_file(-90) == "spin_03.png" and spin_file(150) == "spin_11.png" and spin_file(390) == "spin_07.png"
    with pytest.raises(ValueError, match="azimuth 45"):
        spin_file(45)


def _folder(path, shade: int):
    """input images at 8 px (as a 64 px model sees them, smaller than the views), views at 16 px; each file
    a flat colour that says which file it is."""
    path.mkdir()
    Image.new("RGBA", (8, 8), (shade, 1, 0, 255)).save(path / "input_front.png")
    Image.new("RGBA", (8, 8), (shade, 2, 0, 255)).save(path / "input_back.png")
    for k in range(12):
        Image.new("RGB", (16, 16), (shade, 10 + k, 0)).save(path / f"spin_{k:02d}.png")
    return path


def test_rows_are_characters_and_columns_the_inputs_then_the_views(tmp_path):
    folders = [_folder(tmp_path / "a", 100), _folder(tmp_path / "b", 200)]
    sheet = np.asarray(contact_sheet(folders, (0.0, 180.0)))
    step = 16 + GAP
    assert sheet.shape == (2 * 16 + GAP, 4 * 16 + 3 * GAP, 3)
    want_green = [1, 2, 10 + 6, 10 + 0]  # front input, back input, spin_06 (azimuth 0), spin_00 (180)
    for r, shade in enumerate((100, 200)):
        for c, green in enumerate(want_green):
            tile = sheet[r * step:r * step + 16, c * step:c * step + 16]
            assert (tile == (shade, green, 0)).all(), (r, c)
    assert (sheet[16:16 + GAP] == 255).all()  # the gap between rows is white


def test_write_sheet_names_a_missing_view(tmp_path):
    folder = _folder(tmp_path / "a", 50)
    (folder / "spin_03.png").unlink()
    with pytest.raises(FileNotFoundError, match="spin_03.png"):
        write_sheet(tmp_path / "out" / "sheet.png", [folder])
    assert not (tmp_path / "out" / "sheet.png").exists()
    assert write_sheet(tmp_path / "out" / "sheet.png", [folder], (0.0,)).is_file()
