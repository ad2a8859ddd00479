"""The binary glTF (.glb/.vrm) container: a 12-byte header, a JSON chunk and an optional BIN chunk,
and a builder that packs arrays and images into buffer 0 with their bufferViews and accessors.

Takes a glTF JSON document and the bytes of its buffer 0 and gives the file (both chunks padded to
4 bytes, JSON with spaces and BIN with zeros, as the glTF 2.0 spec requires). Used by the synthetic
data tools (training/data/synth/gltf.py reads what this writes) and by the mesh and avatar exports
(training/infer/mesh.py, training/infer/vrm.py); it depends on nothing else in the project.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

GLB_MAGIC, GLB_VERSION = b"glTF", 2
GLB_JSON, GLB_BIN = 0x4E4F534A, 0x004E4942  # chunk types: b"JSON" and b"BIN\0" read as little-endian uint32
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
COMPONENT_TYPES = {np.dtype("int8"): 5120, np.dtype("uint8"): 5121, np.dtype("int16"): 5122,
                   np.dtype("uint16"): 5123, np.dtype("uint32"): 5125, np.dtype("float32"): 5126}
ACCESSOR_TYPES = {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4", 16: "MAT4"}


def write_glb(path: str | Path, document: dict, binary: bytes = b"") -> None:
    """Write document (compact JSON) and binary (omitted when empty) as a .glb/.vrm file at path."""
    text = json.dumps(document, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    binary += b"\0" * (-len(binary) % 4)
    chunks = struct.pack("<II", len(text), GLB_JSON) + text
    if binary:
        chunks += struct.pack("<II", len(binary), GLB_BIN) + binary
    Path(path).write_bytes(struct.pack("<4sII", GLB_MAGIC, GLB_VERSION, 12 + len(chunks)) + chunks)


class GltfBuffer:
    """Buffer 0 of a document being built: each add appends 4-byte aligned bytes as a bufferView (and an
    accessor for arrays) to document's lists; write() saves the file with its buffer entry."""

    def __init__(self, document: dict):
        self.document = document
        self.blobs: list[bytes] = []
        self.length = 0

    def view(self, data: bytes, target: int | None = None) -> int:
        """A bufferView over data; returns its index."""
        views = self.document.setdefault("bufferViews", [])
        entry = {"buffer": 0, "byteOffset": self.length, "byteLength": len(data)}
        if target is not None:
            entry["target"] = target
        views.append(entry)
        self.blobs.append(data + b"\0" * (-len(data) % 4))
        self.length += len(self.blobs[-1])
        return len(views) - 1

    def accessor(self, array: np.ndarray, target: int | None = ARRAY_BUFFER, normalized: bool = False,
                 bounds: bool = False) -> int:
        """An accessor over array (N,) or (N, width) of a glTF component type, with min/max when bounds
        (POSITION needs them); mat4 arrays (N, 4, 4) are stored column-major. Returns its index."""
        array = np.asarray(array)
        if array.ndim == 3:
            array = array.transpose(0, 2, 1).reshape(len(array), -1)
        rows = array.reshape(len(array), -1)
        dtype = array.dtype.newbyteorder("<")
        entry = {"bufferView": self.view(np.ascontiguousarray(rows, dtype).tobytes(), target),
                 "componentType": COMPONENT_TYPES[np.dtype(array.dtype.name)], "count": len(rows),
                 "type": ACCESSOR_TYPES[rows.shape[1]]}
        if normalized:
            entry["normalized"] = True
        if bounds:
            entry["min"], entry["max"] = rows.min(0).tolist(), rows.max(0).tolist()
        accessors = self.document.setdefault("accessors", [])
        accessors.append(entry)
        return len(accessors) - 1

    def image(self, data: bytes, mime: str = "image/png") -> int:
        """An embedded image, a texture of it (linear filtering, mipmaps) and its sampler; returns the
        texture's index."""
        images = self.document.setdefault("images", [])
        images.append({"bufferView": self.view(data), "mimeType": mime})
        samplers = self.document.setdefault("samplers", [])
        samplers.append({"magFilter": 9729, "minFilter": 9987, "wrapS": 33071, "wrapT": 33071})
        textures = self.document.setdefault("textures", [])
        textures.append({"source": len(images) - 1, "sampler": len(samplers) - 1})
        return len(textures) - 1

    def write(self, path: str | Path) -> None:
        """The document with buffer 0 as a .glb/.vrm file."""
        if self.length:
            self.document["buffers"] = [{"byteLength": self.length}]
        write_glb(path, self.document, b"".join(self.blobs))
