"""One glTF 2.0 file's container and binary data: the JSON, buffers, bufferViews, accessors, images.

Reads .glb/.vrm (binary) and .gltf (text, buffers and images as data URIs or files next to it) with
json + struct + numpy + Pillow. What the scene means (nodes, materials, VRM) is gltf.py's; this
module gives it typed arrays and texels.

- Extensions read here: EXT_meshopt_compression (a bufferView decoded on first use, meshopt.py; the
  placeholder fallback buffer is never read), EXT_texture_webp (the texture's WebP source, preferred
  over a plain fallback source), KHR_texture_transform (the uv transform of a textureInfo).
- A file that requires an extension outside SUPPORTED_REQUIRED is refused when opened, naming it.
- Problems raise Unusable with a one-line reason; load_model adds the file name.
"""
from __future__ import annotations

import base64
import json
import struct
import urllib.parse
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image, features

from training.data.glb import GLB_BIN, GLB_JSON, GLB_MAGIC, GLB_VERSION
from training.data.synth import meshopt

DTYPES = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
WIDTHS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
MESHOPT, WEBP = "EXT_meshopt_compression", "EXT_texture_webp"
SUPPORTED_REQUIRED = {"KHR_texture_transform", "KHR_materials_unlit", "KHR_mesh_quantization",
                      "KHR_materials_emissive_strength", MESHOPT} | ({WEBP} if features.check("webp") else set())
MAX_TEXTURE = 2048  # larger textures are box-reduced: the renderer samples at most 1536^2 per view


class Unusable(Exception):
    """A reason the file cannot be used (one line); load_model names the file in front of it."""


class Document:
    """One parsed file: the JSON, its buffers, and readers for accessors, images and materials."""

    def __init__(self, path: Path):
        self.path = path
        data = path.read_bytes()
        self.bin: bytes | None = None
        if data[:4] == GLB_MAGIC:
            self.doc = self._parse_glb(data)
        else:
            try:
                self.doc = json.loads(data.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise Unusable("neither a binary glTF (no 'glTF' magic) nor glTF JSON") from None
        if not isinstance(self.doc, dict) or not str(self.doc.get("asset", {}).get("version", "")).startswith("2"):
            raise Unusable("not glTF 2.0 (asset.version missing or not 2.x)")
        unknown = sorted(set(self.doc.get("extensionsRequired", [])) - SUPPORTED_REQUIRED)
        if unknown:
            raise Unusable(f"requires unsupported glTF extension(s) {', '.join(unknown)}")
        self._buffers: dict[int, memoryview] = {}
        self._decoded: dict[int, memoryview] = {}
        self._images: dict[int, np.ndarray] = {}

    def _parse_glb(self, data: bytes) -> dict:
        if len(data) < 20:
            raise Unusable("truncated binary glTF header")
        _, version, length = struct.unpack_from("<4sII", data)
        if version != GLB_VERSION:
            raise Unusable(f"binary glTF version {version}, expected {GLB_VERSION}")
        if length > len(data):
            raise Unusable(f"truncated binary glTF: header says {length} bytes, file has {len(data)}")
        chunks, offset = [], 12
        while offset + 8 <= length:
            size, kind = struct.unpack_from("<II", data, offset)
            if offset + 8 + size > length:
                raise Unusable("truncated binary glTF chunk")
            chunks.append((kind, data[offset + 8:offset + 8 + size]))
            offset += 8 + size + (-size % 4)
        if not chunks or chunks[0][0] != GLB_JSON:
            raise Unusable("binary glTF without a JSON chunk first")
        self.bin = next((c for k, c in chunks[1:] if k == GLB_BIN), None)
        try:
            return json.loads(chunks[0][1].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise Unusable(f"unreadable JSON chunk ({exc})") from None

    def _uri(self, uri: str) -> bytes:
        if uri.startswith("data:"):
            header, _, payload = uri.partition(",")
            return base64.b64decode(payload) if header.endswith(";base64") else urllib.parse.unquote_to_bytes(payload)
        target = self.path.parent / urllib.parse.unquote(uri)
        try:
            return target.read_bytes()
        except OSError as exc:
            raise Unusable(f"cannot read {uri!r} next to it ({exc.strerror})") from None

    def buffer(self, index: int) -> memoryview:
        """A buffer's bytes: its uri's, or for buffer 0 of a binary file the BIN chunk's."""
        if index not in self._buffers:
            spec = self.doc["buffers"][index]
            data = self._uri(spec["uri"]) if "uri" in spec else self.bin if index == 0 else None
            if data is None and spec.get("extensions", {}).get(MESHOPT, {}).get("fallback"):
                raise Unusable(f"buffer {index} is an {MESHOPT} fallback without data, read by a plain bufferView")
            if data is None or len(data) < spec["byteLength"]:
                raise Unusable(f"buffer {index} is missing or shorter than its byteLength")
            self._buffers[index] = memoryview(data)
        return self._buffers[index]

    def view_bytes(self, index: int) -> tuple[memoryview, int, int | None]:
        """(buffer up to the view's end, start, stride) of a bufferView, range-checked, not copied; a
        compressed view's decoded bytes (start 0)."""
        view = self.doc["bufferViews"][index]
        if MESHOPT in view.get("extensions", {}):
            return self._decompressed(index), 0, view.get("byteStride")
        data, start = self.buffer(view["buffer"]), view.get("byteOffset", 0)
        if start + view["byteLength"] > len(data):
            raise Unusable(f"bufferView {index} reaches past the end of its buffer")
        return data[:start + view["byteLength"]], start, view.get("byteStride")

    def _decompressed(self, index: int) -> memoryview:
        """An EXT_meshopt_compression bufferView, decoded once."""
        if index not in self._decoded:
            view = self.doc["bufferViews"][index]
            ext = view["extensions"][MESHOPT]
            data, start, length = self.buffer(ext["buffer"]), ext.get("byteOffset", 0), ext["byteLength"]
            if start + length > len(data):
                raise Unusable(f"{MESHOPT}: bufferView {index} reaches past the end of buffer {ext['buffer']}")
            try:
                plain = meshopt.decode(data[start:start + length], ext["count"], ext["byteStride"], ext["mode"],
                                       ext.get("filter", "NONE"))
            except meshopt.MeshoptError as exc:
                raise Unusable(f"{MESHOPT}: bufferView {index}: {exc}") from None
            if len(plain) < view["byteLength"]:
                raise Unusable(f"{MESHOPT}: bufferView {index} decodes to {len(plain)} bytes, "
                               f"less than its byteLength {view['byteLength']}")
            self._decoded[index] = memoryview(plain)
        return self._decoded[index]

    def _read(self, view: int, offset: int, count: int, dtype: np.dtype, width: int) -> np.ndarray:
        data, start, stride = self.view_bytes(view)
        item = np.dtype(dtype).itemsize
        stride = stride or item * width
        begin = start + offset
        if count and begin + stride * (count - 1) + item * width > len(data):
            raise Unusable(f"accessor data in bufferView {view} reaches past its end")
        raw = np.ndarray((count, width), dtype, data, begin, (stride, item)) if count else np.zeros((0, width), dtype)
        return raw.copy()

    def accessor(self, index: int) -> np.ndarray:
        """(count, width) values; normalized integers become floats in [0, 1] / [-1, 1]."""
        acc = self.doc["accessors"][index]
        dtype, width, count = np.dtype(DTYPES[acc["componentType"]]), WIDTHS[acc["type"]], acc["count"]
        if "bufferView" in acc:
            values = self._read(acc["bufferView"], acc.get("byteOffset", 0), count, dtype, width)
        else:
            values = np.zeros((count, width), dtype)
        sparse = acc.get("sparse")
        if sparse:
            idx, val = sparse["indices"], sparse["values"]
            rows = self._read(idx["bufferView"], idx.get("byteOffset", 0), sparse["count"],
                              np.dtype(DTYPES[idx["componentType"]]), 1)[:, 0].astype(np.int64)
            if rows.size and rows.max() >= count:
                raise Unusable(f"accessor {index}: sparse index out of range")
            values[rows] = self._read(val["bufferView"], val.get("byteOffset", 0), sparse["count"], dtype, width)
        if acc.get("normalized") and dtype.kind in "iu":
            return np.maximum(values / np.iinfo(dtype).max, -1.0)
        return values

    def image(self, index: int) -> np.ndarray:
        if index not in self._images:
            spec = self.doc["images"][index]
            if "bufferView" in spec:
                data, start, _ = self.view_bytes(spec["bufferView"])
                data = data[start:]
            elif "uri" in spec:
                data = self._uri(spec["uri"])
            else:
                raise Unusable(f"image {index} has neither a bufferView nor a uri")
            try:
                with Image.open(BytesIO(data)) as im:
                    im = im.convert("RGBA")
                    factor = -(-max(im.size) // MAX_TEXTURE)
                    self._images[index] = np.asarray(im.reduce(factor) if factor > 1 else im)
            except (OSError, ValueError, Image.DecompressionBombError) as exc:
                raise Unusable(f"image {index} is not a readable PNG/JPEG/WebP ({exc})") from None
        return self._images[index]

    def texture(self, info: dict | None) -> tuple[np.ndarray | None, int, np.ndarray | None]:
        """(RGBA texels, texCoord set, 2x3 uv transform or None) of a textureInfo."""
        if not info:
            return None, 0, None
        tex = self.doc["textures"][info["index"]]
        extensions = tex.get("extensions", {})
        source = extensions[WEBP].get("source") if WEBP in extensions and WEBP in SUPPORTED_REQUIRED else None
        if source is None:  # the plain source, else another extension's (Pillow may read it)
            source = tex.get("source", next((e.get("source") for e in extensions.values()
                                             if isinstance(e, dict) and "source" in e), None))
        if source is None:
            return None, 0, None
        transform, tex_coord = None, info.get("texCoord", 0)
        ext = info.get("extensions", {}).get("KHR_texture_transform")
        if ext:  # uv' = T * R * S * uv, rotation counter-clockwise in uv space
            c, s = np.cos(ext.get("rotation", 0.0)), np.sin(ext.get("rotation", 0.0))
            sx, sy = ext.get("scale", (1, 1))
            transform = np.array([[c * sx, s * sy, 0], [-s * sx, c * sy, 0]], np.float64)
            transform[:, 2] = ext.get("offset", (0, 0))
            tex_coord = ext.get("texCoord", tex_coord)
        return self.image(source), tex_coord, transform
