"""A glb with EXT_meshopt_compression geometry and an EXT_texture_webp texture loads and renders exactly
as the same model stored plainly. Both files are assembled here with our glb writer from the figure
buffers of tests/data/fixtures/meshopt (compressed by meshoptimizer's npm package)."""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from _scripts.data import render
from training.data.glb import write_glb
from training.data.layout import PRESETS, Renderset
from training.data.synth import gltf_document
from training.data.synth.gltf import GltfError, load_model

FIXTURES = Path(__file__).parent / "fixtures" / "meshopt"
CASES = {c["name"]: c for c in json.loads((FIXTURES / "cases.json").read_text())["cases"]}
MESHOPT, WEBP = "EXT_meshopt_compression", "EXT_texture_webp"
# accessor of each figure buffer: (name, componentType, type); all normalized but the indices
ACCESSORS = [("figure_positions", 5122, "VEC3"), ("figure_normals", 5120, "VEC3"),
             ("figure_uvs", 5123, "VEC2"), ("figure_indices", 5123, "SCALAR")]
TEXELS = np.array([[[230, 30, 30, 255], [30, 200, 30, 255]], [[30, 30, 230, 255], [240, 240, 240, 255]]],
                  np.uint8).repeat(8, 0).repeat(8, 1)


def _image(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.fromarray(TEXELS).save(out, format=fmt, **({"lossless": True, "exact": True} if fmt == "WEBP" else {}))
    return out.getvalue()


def figure(path: Path, compressed: bool, positions: bytes | None = None) -> Path:
    """The fixture figure as a glb: plain views and a PNG, or compressed views (data in buffer 0, the
    fallback placeholder buffer 1 without data) and a WebP texture. positions replaces the
    compressed position stream."""
    blob, views, accessors, plain_size = bytearray(), [], [], 0
    for name, component, kind in ACCESSORS:
        case = CASES[name]
        plain = (FIXTURES / f"{name}.dec").read_bytes()
        data = (positions if positions is not None and name == "figure_positions"
                else (FIXTURES / f"{name}.enc").read_bytes()) if compressed else plain
        blob += b"\0" * (-len(blob) % 4)
        view = {"buffer": 0, "byteOffset": len(blob), "byteLength": len(data)}
        if case["mode"] == "ATTRIBUTES":
            view["byteStride"] = case["byteStride"]
        if compressed:
            ext = {"buffer": 0, "byteOffset": len(blob), "byteLength": len(data), "byteStride": case["byteStride"],
                   "mode": case["mode"], "count": case["count"], "filter": case["filter"]}
            view.update(buffer=1, byteOffset=plain_size, byteLength=len(plain), extensions={MESHOPT: ext})
            plain_size += len(plain) + (-len(plain) % 4)
        blob += data
        views.append(view)
        count = case["count"] if case["mode"] != "ATTRIBUTES" else len(plain) // case["byteStride"]
        accessors.append({"bufferView": len(views) - 1, "componentType": component, "type": kind, "count": count,
                          **({"normalized": True} if kind != "SCALAR" else {})})
    accessors[0].update(min=[-1, -1, -1], max=[1, 1, 1])
    image = _image("WEBP" if compressed else "PNG")
    blob += b"\0" * (-len(blob) % 4)
    views.append({"buffer": 0, "byteOffset": len(blob), "byteLength": len(image)})
    blob += image
    texture = {"extensions": {WEBP: {"source": 0}}} if compressed else {"source": 0}
    doc = {"asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0}],
           "meshes": [{"primitives": [{"attributes": {"POSITION": 0, "NORMAL": 1, "TEXCOORD_0": 2},
                                       "indices": 3, "material": 0}]}],
           "materials": [{"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}}],
           "textures": [texture], "images": [{"bufferView": len(views) - 1,
                                              "mimeType": "image/webp" if compressed else "image/png"}],
           "accessors": accessors, "bufferViews": views, "buffers": [{"byteLength": len(blob)}]}
    used = ["KHR_mesh_quantization"]
    if compressed:
        doc["buffers"].append({"byteLength": plain_size, "extensions": {MESHOPT: {"fallback": True}}})
        used += [MESHOPT, WEBP]
    doc["extensionsUsed"] = doc["extensionsRequired"] = used
    write_glb(path, doc, bytes(blob))
    return path


def test_compressed_loads_as_the_plain_file(tmp_path):
    plain, packed = (load_model(figure(tmp_path / f"{n}.glb", n == "packed")) for n in ("plain", "packed"))
    (a,), (b,) = plain.primitives, packed.primitives
    for field in ("positions", "normals", "faces", "uvs"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert np.array_equal(packed.materials[0].texture, TEXELS)
    assert np.array_equal(plain.materials[0].texture, TEXELS)
    assert np.ptp(a.positions[:, 1]) > 1.9 and len(a.faces) == CASES["figure_indices"]["count"] // 3


def test_compressed_renders_as_the_plain_file(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    figure(src / "plain.glb", False)
    figure(src / "packed.glb", True)
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        rc = render.main(["--in", str(src), "--out", str(out), "--preset", "body", "--res", "32", "--views", "1",
                          "--grid", "none", "--splits", "1,0,0", "--workers", "1"])
    assert rc == 0
    rs = Renderset(out, PRESETS["body"].renderset)
    for dtype in ("ortho", "ortho_mask", "ortho_xyza"):  # random views depend on the id: ortho only
        assert len(list(rs.char_dir(dtype, "plain").iterdir())) == 5
        for path in rs.char_dir(dtype, "plain").iterdir():
            other = rs.char_dir(dtype, "packed") / path.name
            assert np.array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(other))), (dtype, path.name)
    front = np.asarray(Image.open(rs.path("ortho_mask", "packed", "front")))
    assert (front > 200).mean() > 0.05  # the figure is there


def test_unsupported_codec_version_is_one_line_naming_file_and_extension(tmp_path):
    stream = (FIXTURES / "figure_positions.enc").read_bytes()
    path = figure(tmp_path / "v1.glb", True, positions=b"\xa1" + stream[1:])
    with pytest.raises(GltfError) as info:
        load_model(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {MESHOPT}: bufferView 0:") and "version 1" in message and "\n" not in message


def test_without_webp_support_the_required_extension_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(gltf_document, "SUPPORTED_REQUIRED", gltf_document.SUPPORTED_REQUIRED - {WEBP})
    path = figure(tmp_path / "webp.glb", True)
    with pytest.raises(GltfError, match=f"^{path}: requires unsupported glTF extension.*{WEBP}"):
        load_model(path)


def test_the_fallback_placeholder_is_never_read_as_data(tmp_path):
    path = figure(tmp_path / "fallback.glb", True)
    doc = gltf_document.Document(path)
    doc.doc["bufferViews"][0].pop("extensions")  # a plain view into the placeholder buffer
    with pytest.raises(gltf_document.Unusable, match="fallback without data"):
        doc.view_bytes(0)
