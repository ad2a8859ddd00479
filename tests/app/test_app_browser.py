"""The web app in a real browser (headless Chromium): two example drawings in, the turntable video, the
3D view and valid .glb and .vrm downloads out; a non-image and an oversized image get their one-line errors."""
from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from tests.app.conftest import MAX_UPLOAD_MB

EXAMPLES = Path(__file__).resolve().parents[2] / "_data" / "examples"
RESULT_SECONDS = 240


def check_glb(path: Path) -> dict:
    """The glTF JSON of a .glb file after checking its header and chunks (glTF 2.0 binary)."""
    data = path.read_bytes()
    magic, version, length = struct.unpack_from("<4sII", data)
    assert (magic, version, length) == (b"glTF", 2, len(data))
    json_length, json_type = struct.unpack_from("<II", data, 12)
    assert json_type == 0x4E4F534A
    gltf = json.loads(data[20:20 + json_length])
    bin_length, bin_type = struct.unpack_from("<II", data, 20 + json_length)
    assert bin_type == 0x004E4942 and bin_length >= gltf["buffers"][0]["byteLength"]
    return gltf


def test_two_drawings_give_a_turntable_a_3d_view_a_glb_and_a_vrm(page, tmp_path):
    page.set_input_files("#front-file", str(EXAMPLES / "modular_women_Adventurer_front.png"))
    page.set_input_files("#back-file", str(EXAMPLES / "modular_women_Adventurer_back.png"))
    page.wait_for_selector("#front-preview:not(.hidden)")
    page.wait_for_selector("#back-preview:not(.hidden)")
    page.click("#run")
    page.wait_for_selector("#download-mesh-glb", timeout=RESULT_SECONDS * 1000)
    assert page.inner_text("#error") == ""
    page.wait_for_function("() => { const v = document.querySelector('#turntable');"
                           " return v.readyState >= 2 && v.videoWidth > 0; }", timeout=30_000)
    page.wait_for_function("() => Number(document.querySelector('#viewer').dataset.triangles) > 0", timeout=30_000)
    view = np.asarray(Image.open(io.BytesIO(page.locator("#viewer").screenshot())).convert("RGB"))
    assert (view.min(-1) < 200).mean() > 0.01  # the mesh covers part of the white canvas
    for name in ("download-turntable-mp4", "download-views-zip"):
        assert page.locator(f"#{name}").is_visible()
    with page.expect_download() as download:
        page.click("#download-mesh-glb")
    path = tmp_path / "mesh.glb"
    download.value.save_as(path)
    gltf = check_glb(path)
    assert gltf["accessors"][0]["count"] > 100 and gltf["meshes"][0]["primitives"][0]["mode"] == 4
    with page.expect_download() as download:
        page.click("#download-avatar-vrm")
    path = tmp_path / "avatar.vrm"
    download.value.save_as(path)
    avatar = check_glb(path)  # a VRM 1.0 file is a .glb with the VRMC_vrm extension and a skin
    assert "VRMC_vrm" in avatar["extensionsUsed"] and avatar["skins"][0]["joints"]


def test_a_non_image_and_an_oversized_image_get_one_line_each(page, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image\n")
    page.set_input_files("#front-file", str(text))
    page.wait_for_function("() => document.querySelector('#error').textContent !== ''")
    assert page.inner_text("#error") == "notes.png: unreadable image (cannot identify image file 'notes.png')"
    assert page.is_disabled("#run")
    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (160, 160, 3), dtype=np.uint8)).save(big)
    assert big.stat().st_size > MAX_UPLOAD_MB * 2 ** 20
    page.set_input_files("#back-file", str(big))
    page.wait_for_function("() => document.querySelector('#error').textContent.startsWith('big.png')")
    assert page.inner_text("#error") == f"big.png: larger than the {MAX_UPLOAD_MB:g} MB upload limit"
    assert page.is_disabled("#run")
