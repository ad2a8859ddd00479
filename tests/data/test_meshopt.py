"""The EXT_meshopt_compression decoder against meshoptimizer's own (tests/data/fixtures/meshopt, made
by its npm package): every mode and filter byte for byte, and one-line errors for what it rejects."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.data.synth.meshopt import MeshoptError, decode

FIXTURES = Path(__file__).parent / "fixtures" / "meshopt"
CASES = json.loads((FIXTURES / "cases.json").read_text())["cases"]
V0 = [c for c in CASES if c["version"] == 0]


def _bytes(name: str, kind: str) -> bytes:
    return (FIXTURES / f"{name}.{kind}").read_bytes()


def test_the_fixtures_cover_every_mode_filter_and_stride_kind():
    assert {c["mode"] for c in V0} == {"ATTRIBUTES", "TRIANGLES", "INDICES"}
    assert {c["filter"] for c in V0} == {"NONE", "OCTAHEDRAL", "QUATERNION", "EXPONENTIAL"}
    attribute_strides = {c["byteStride"] for c in V0 if c["mode"] == "ATTRIBUTES" and c["filter"] == "NONE"}
    assert {4, 8, 12, 16, 64} <= attribute_strides  # one block and several, a short last block
    assert {c["byteStride"] for c in V0 if c["mode"] != "ATTRIBUTES"} == {2, 4}


@pytest.mark.parametrize("case", V0, ids=[c["name"] for c in V0])
def test_decodes_byte_for_byte(case):
    out = decode(_bytes(case["name"], "enc"), case["count"], case["byteStride"], case["mode"], case["filter"])
    assert out.dtype == np.uint8 and out.tobytes() == _bytes(case["name"], "dec")


def test_decodes_from_a_memoryview_slice():
    """The loader passes a slice of the file's buffer, not bytes."""
    enc = _bytes("attributes_s8_n300", "enc")
    view = memoryview(b"xx" + enc + b"yy")[2:-2]
    assert decode(view, 300, 8, "ATTRIBUTES").tobytes() == _bytes("attributes_s8_n300", "dec")


def test_vertex_codec_version_1_is_refused_by_name():
    with pytest.raises(MeshoptError, match="version 1 .*only version 0"):
        decode(_bytes("attributes_v1_s8_n40", "enc"), 40, 8, "ATTRIBUTES")


@pytest.mark.parametrize("mode,name,count,stride,data,reason", [
    ("ATTRIBUTES", "attributes_s8_n300", 300, 8, lambda d: d[:-32] + b"\0" + d[-32:], "1 unread bytes"),
    ("ATTRIBUTES", "attributes_s8_n300", 300, 8, lambda d: b"\xa0" + d[1:200] + d[-32:], "truncated"),
    ("ATTRIBUTES", "attributes_s8_n300", 300, 6, lambda d: d, "multiple of 4"),
    ("ATTRIBUTES", "attributes_s8_n300", 300, 8, lambda d: b"\x00" + d[1:], "header 0x00"),
    ("TRIANGLES", "triangles_s2", None, 2, lambda d: d, None),
    ("TRIANGLES", "triangles_s2", 7, 2, lambda d: d, "not a multiple of 3"),
    ("TRIANGLES", "triangles_s2", None, 2, lambda d: d[:-17] + d[-16:], "truncated|unread"),
    ("INDICES", "indices_s4", None, 4, lambda d: d[:-5] + d[-4:], "complete values"),
    ("INDICES", "indices_s4", None, 3, lambda d: d, "byteStride 2 or 4"),
])
def test_bad_streams_raise_one_line(mode, name, count, stride, data, reason):
    case = next(c for c in CASES if c["name"] == name)
    count = case["count"] if count is None else count
    encoded = data(_bytes(name, "enc"))
    if reason is None:  # the unchanged stream decodes (the row checks the setup of the others)
        assert decode(encoded, count, stride, mode).tobytes() == _bytes(name, "dec")
        return
    with pytest.raises(MeshoptError, match=reason) as info:
        decode(encoded, count, stride, mode)
    assert "\n" not in str(info.value)


def test_unknown_mode_and_filter_are_named():
    with pytest.raises(MeshoptError, match="'POINTS'"):
        decode(b"", 0, 4, "POINTS")
    with pytest.raises(MeshoptError, match="'COLOR'"):
        decode(b"", 0, 4, "ATTRIBUTES", "COLOR")
