"""The binary glTF (.glb/.vrm) container: a 12-byte header, a JSON chunk and an optional BIN chunk.

Takes a glTF JSON document and the bytes of its buffer 0 and gives the file (both chunks padded to
4 bytes, JSON with spaces and BIN with zeros, as the glTF 2.0 spec requires). Used by the synthetic
data tools (training/data/synth/gltf.py reads what this writes) and by the mesh export
(training/infer/mesh.py); it depends on nothing else in the project.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

GLB_MAGIC, GLB_VERSION = b"glTF", 2
GLB_JSON, GLB_BIN = 0x4E4F534A, 0x004E4942  # chunk types: b"JSON" and b"BIN\0" read as little-endian uint32


def write_glb(path: str | Path, document: dict, binary: bytes = b"") -> None:
    """Write document (compact JSON) and binary (omitted when empty) as a .glb/.vrm file at path."""
    text = json.dumps(document, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    binary += b"\0" * (-len(binary) % 4)
    chunks = struct.pack("<II", len(text), GLB_JSON) + text
    if binary:
        chunks += struct.pack("<II", len(binary), GLB_BIN) + binary
    Path(path).write_bytes(struct.pack("<4sII", GLB_MAGIC, GLB_VERSION, 12 + len(chunks)) + chunks)
