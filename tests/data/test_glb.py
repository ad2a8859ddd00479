"""The one binary glTF container writer (training/data/glb.py): its layout, the loader reading back
what it writes, and the mesh export (which packs through it) loading as a character."""
from __future__ import annotations

import struct

import numpy as np

from training.data.glb import GLB_BIN, GLB_JSON, write_glb
from training.data.synth.gltf import load_model
from training.infer import mesh as M

TRIANGLE = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32)


def triangle_document() -> tuple[dict, bytes]:
    """One triangle: float positions, then uint16 indices (a binary of 42 bytes, not a multiple of 4,
    so the BIN chunk needs padding)."""
    indices = np.array([0, 1, 2], "<u2").tobytes()
    binary = TRIANGLE.tobytes() + indices
    doc = {"asset": {"version": "2.0"}, "buffers": [{"byteLength": len(binary)}],
           "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": 36},
                           {"buffer": 0, "byteOffset": 36, "byteLength": len(indices)}],
           "accessors": [{"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3",
                          "min": [0, 0, 0], "max": [1, 1, 0]},
                         {"bufferView": 1, "componentType": 5123, "count": 3, "type": "SCALAR"}],
           "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1}]}],
           "nodes": [{"mesh": 0, "name": "é"}], "scenes": [{"nodes": [0]}], "scene": 0}
    return doc, binary


def chunks(data: bytes) -> list[tuple[int, bytes]]:
    offset, found = 12, []
    while offset < len(data):
        size, kind = struct.unpack_from("<II", data, offset)
        found.append((kind, data[offset + 8:offset + 8 + size]))
        offset += 8 + size
    assert offset == len(data)
    return found


def test_container_layout_and_read_back(tmp_path):
    doc, binary = triangle_document()
    path = tmp_path / "triangle.glb"
    write_glb(path, doc, binary)
    data = path.read_bytes()
    assert struct.unpack_from("<4sII", data) == (b"glTF", 2, len(data)) and len(data) % 4 == 0
    (json_kind, text), (bin_kind, blob) = chunks(data)
    assert (json_kind, bin_kind) == (GLB_JSON, GLB_BIN) and len(text) % 4 == 0 and len(blob) % 4 == 0
    assert text.rstrip(b" ").endswith(b"}") and blob == binary + b"\0" * (-len(binary) % 4) and len(binary) % 4
    model = load_model(path)
    (prim,) = model.primitives
    assert model.kind == "gltf" and np.allclose(prim.positions, TRIANGLE) and prim.faces.tolist() == [[0, 1, 2]]


def test_no_bin_chunk_without_binary(tmp_path):
    path = tmp_path / "empty.glb"
    write_glb(path, {"asset": {"version": "2.0"}})
    (kind, text), = chunks(path.read_bytes())
    assert kind == GLB_JSON and text == b'{"asset":{"version":"2.0"}}' + b" "


def test_mesh_export_loads_as_a_character(tmp_path):
    """training/infer/mesh.py's .glb (through the same container writer) loads with the character
    loader: every vertex and triangle, the vertex colours."""
    axis = M.grid_nodes(12, 2.0)
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    mesh = M.extract_mesh((0.6 - np.sqrt(x ** 2 + y ** 2 + z ** 2)).astype(np.float32), 2.0, 0.0)
    mesh.colors = np.full((len(mesh.vertices), 3), 255, np.uint8)
    model = load_model(M.write_glb(mesh, tmp_path / "sphere.glb"))
    (prim,) = model.primitives
    assert np.allclose(prim.positions, mesh.vertices) and np.array_equal(prim.faces, mesh.faces)
    assert np.allclose(prim.colors, 1.0)
