"""EXT_meshopt_compression: a compressed bufferView back to its plain bytes, with numpy.

Written from the extension's specification (KhronosGroup glTF, extensions/2.0/Vendor/
EXT_meshopt_compression, Appendix A: bitstreams, Appendix B: filters). Takes the compressed bytes
and the extension's count, byteStride, mode and filter; gives count * byteStride bytes, the
bufferView as an uncompressed file would store it.

- ATTRIBUTES (vertex codec version 0, the only one EXT_meshopt_compression allows): every group of
  16 byte deltas has a size that depends on its own bytes, so the stream is walked block by block;
  the walk is vectorised by first computing, for every byte position, where a data block starting
  there would end. The deltas of all groups are then unpacked at once and summed per byte column.
- TRIANGLES: a FIFO state machine per triangle (inherently sequential, a plain Python loop).
- INDICES: varints and two running baselines, vectorised.
- Filters, in float32: OCTAHEDRAL, QUATERNION, EXPONENTIAL; bit for bit what meshoptimizer's own
  decoders give (the specification allows one unit of difference).

A stream that does not follow the specification raises MeshoptError with a one-line reason.
"""
from __future__ import annotations

import numpy as np

MODES = ("ATTRIBUTES", "TRIANGLES", "INDICES")
FILTERS = ("NONE", "OCTAHEDRAL", "QUATERNION", "EXPONENTIAL")
VERTEX_HEADER, TRIANGLE_HEADER, INDEX_HEADER = 0xA0, 0xE1, 0xD1
VERTEX_TAIL, TRIANGLE_TAIL, INDEX_TAIL = 32, 16, 4  # bytes at the end of each stream (at least)
GROUP = 16  # elements per delta group
PAD = 64  # zero bytes after the stream, so that gathers past a corrupt walk stay in bounds

_BYTES = np.arange(256)
# per byte value: how many 2-bit fields are the 2-bit sentinel 3, how many nibbles the 4-bit sentinel 15
_SENTINELS2 = sum(((_BYTES >> s) & 3) == 3 for s in (0, 2, 4, 6)).astype(np.int64)
_SENTINELS4 = (((_BYTES >> 4) == 15).astype(np.int64) + ((_BYTES & 15) == 15))


class MeshoptError(ValueError):
    """A compressed bufferView that cannot be decoded; the message is one line."""


def decode(data: bytes | memoryview, count: int, stride: int, mode: str, filter: str = "NONE") -> np.ndarray:
    """The count * stride plain bytes (uint8) of one compressed bufferView."""
    if mode not in MODES:
        raise MeshoptError(f"unknown mode {mode!r}")
    if filter not in FILTERS:
        raise MeshoptError(f"unknown filter {filter!r}")
    if mode == "ATTRIBUTES":
        if stride % 4 or not 0 < stride <= 256:
            raise MeshoptError(f"ATTRIBUTES byteStride {stride} is not a multiple of 4 up to 256")
        plain = decode_vertices(data, count, stride)
        return plain if filter == "NONE" else FILTER_DECODERS[filter](plain, stride)
    if stride not in (2, 4) or filter != "NONE":
        raise MeshoptError(f"{mode} needs byteStride 2 or 4 and no filter (got {stride}, {filter})")
    values = decode_triangles(data, count) if mode == "TRIANGLES" else decode_indices(data, count)
    return values.astype("<u2" if stride == 2 else "<u4").view(np.uint8)


# --- ATTRIBUTES ----------------------------------------------------------------------------------


def decode_vertices(data: bytes | memoryview, count: int, stride: int) -> np.ndarray:
    """Vertex codec version 0: per block, per byte of the element, header bits and delta groups."""
    raw = np.frombuffer(data, np.uint8)
    tail = max(stride, VERTEX_TAIL)
    if len(raw) < 1 + tail:
        raise MeshoptError("ATTRIBUTES stream shorter than its header and tail")
    if raw[0] != VERTEX_HEADER:
        version = f"version {raw[0] & 15} (KHR_meshopt_compression)" if raw[0] >> 4 == 0xA else f"header {raw[0]:#04x}"
        raise MeshoptError(f"ATTRIBUTES stream has vertex codec {version}; only version 0 is supported")
    end = len(raw) - tail  # the delta blocks end here, the tail holds the first baseline element
    baseline = raw[len(raw) - stride:]
    if count == 0:
        return np.zeros(0, np.uint8)
    buf = np.concatenate([raw[:end], np.zeros(PAD, np.uint8)])
    sizes = _group_sizes(buf)
    per_block = min((8192 // stride) & ~15, 256)
    full, last = divmod(count - 1, per_block)  # blocks before the last one, the last one's size - 1
    last += 1
    # the walk: one data block per byte of the element, in order; a full block's data blocks end
    # where the table of all possible starts says
    lane_end = _lane_ends(buf, sizes, np.arange(end + 1), per_block // GROUP) if full else None
    starts, pos = [], 1
    for k in range((full + 1) * stride):
        starts.append(pos)
        pos = int(lane_end[pos] if k < full * stride
                  else _lane_ends(buf, sizes, np.array([pos]), -(-last // GROUP))[0])
        if pos > end:
            raise MeshoptError("ATTRIBUTES stream is truncated (delta blocks run into the tail)")
    if pos != end:
        raise MeshoptError(f"ATTRIBUTES stream has {end - pos} unread bytes before its tail")
    lanes = np.array(starts, np.int64).reshape(full + 1, stride)
    parts = [_block_deltas(buf, sizes, lanes[:-1], per_block)] if full else []
    deltas = np.concatenate(parts + [_block_deltas(buf, sizes, lanes[-1:], last)])
    return (np.cumsum(deltas, axis=0, dtype=np.uint8) + baseline).reshape(-1)


def _group_sizes(buf: np.ndarray) -> np.ndarray:
    """(4, len) bytes taken by a delta group of each header mode starting at each position: 0, 4 + the
    2-bit sentinels among 4 bytes, 8 + the 4-bit sentinels among 8 bytes, 16."""
    def window(counts: np.ndarray, width: int) -> np.ndarray:
        total = np.concatenate([[0], np.cumsum(counts)])
        ahead = np.minimum(np.arange(len(counts)) + width, len(counts))
        return total[ahead] - total[:-1]

    return np.stack([np.zeros(len(buf), np.int64), 4 + window(_SENTINELS2[buf], 4),
                     8 + window(_SENTINELS4[buf], 8), np.full(len(buf), 16, np.int64)])


def _walk(buf: np.ndarray, sizes: np.ndarray, starts: np.ndarray, groups: int,
          record: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Data blocks starting at starts: their ends and, when recording, the (mode, start) of each group
    (len(starts), groups); without recording this runs over every position of a stream cheaply."""
    header = (groups + 3) // 4
    top = len(buf) - 1
    bits = buf[np.minimum(starts[:, None] + np.arange(header), top)]
    pos = starts + header
    shape = (len(starts), groups) if record else (0, groups)
    modes, where = np.empty(shape, np.int64), np.empty(shape, np.int64)
    for g in range(groups):
        mode = (bits[:, g // 4] >> (2 * (g % 4))) & 3
        if record:
            modes[:, g], where[:, g] = mode, pos
        pos = pos + sizes[mode, np.minimum(pos, top)]
    return pos, modes, where


def _lane_ends(buf: np.ndarray, sizes: np.ndarray, starts: np.ndarray, groups: int) -> np.ndarray:
    return _walk(buf, sizes, starts, groups, record=False)[0]


def _block_deltas(buf: np.ndarray, sizes: np.ndarray, lanes: np.ndarray, n: int) -> np.ndarray:
    """The byte deltas (blocks * n, stride) of attribute blocks of n elements whose data blocks start
    at lanes (blocks, stride)."""
    groups = -(-n // GROUP)
    _, modes, where = _walk(buf, sizes, lanes.reshape(-1), groups, record=True)
    modes, where = modes.reshape(-1), where.reshape(-1)
    out = np.zeros((len(modes), GROUP), np.uint8)
    raw = modes == 3
    out[raw] = buf[where[raw, None] + np.arange(GROUP)]
    for mode, width, per_byte in ((1, 2, 4), (2, 4, 2)):
        sel = modes == mode
        if not sel.any():
            continue
        at = where[sel]
        packed = buf[at[:, None] + np.arange(GROUP // per_byte)]  # most significant field first
        shifts = np.arange(per_byte - 1, -1, -1) * width
        values = ((packed[:, :, None] >> shifts) & ((1 << width) - 1)).reshape(len(at), GROUP)
        sentinel = values == (1 << width) - 1
        extra = at[:, None] + GROUP // per_byte + np.cumsum(sentinel, axis=1) - 1
        out[sel] = np.where(sentinel, buf[np.where(sentinel, extra, 0)], values)
    out = (out >> 1) ^ ((out & 1) * np.uint8(255))  # zigzag
    blocks, stride = lanes.shape
    return out.reshape(blocks, stride, groups * GROUP)[:, :, :n].transpose(0, 2, 1).reshape(-1, stride)


# --- TRIANGLES and INDICES ----------------------------------------------------------------------


def decode_triangles(data: bytes | memoryview, count: int) -> np.ndarray:
    """Triangle list codec (header 0xe1): edge and vertex FIFOs, one code byte per triangle."""
    buf = bytes(data)
    if count % 3:
        raise MeshoptError(f"TRIANGLES count {count} is not a multiple of 3")
    n = count // 3
    if len(buf) < 1 + n + TRIANGLE_TAIL:
        raise MeshoptError("TRIANGLES stream shorter than its codes and tail")
    if buf[0] != TRIANGLE_HEADER:
        raise MeshoptError(f"TRIANGLES stream has header {buf[0]:#04x}, expected {TRIANGLE_HEADER:#04x}")
    data_end = len(buf) - TRIANGLE_TAIL
    aux = buf[data_end:]
    pos = 1 + n  # extra data follows the code bytes
    edge_a, edge_b, edges = [0] * 16, [0] * 16, 0
    fifo, verts = [0] * 16, 0
    nxt = last = 0
    out = [0] * count

    def index() -> int:  # a varint zigzag delta from `last`
        nonlocal pos, last
        value = shift = 0
        while True:
            if pos >= data_end:
                raise MeshoptError("TRIANGLES stream is truncated (extra data runs into the tail)")
            byte = buf[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        last = (last + ((value >> 1) ^ -(value & 1))) & 0xFFFFFFFF
        return last

    for t in range(n):
        code = buf[1 + t]
        hi, lo = code >> 4, code & 15
        if hi < 15:  # a recent edge plus one vertex
            e = (edges - 1 - hi) & 15
            a, b = edge_a[e], edge_b[e]
            if lo == 0:
                c, nxt = nxt, nxt + 1
            elif lo < 13:
                c = fifo[(verts - 1 - lo) & 15]
            elif lo < 15:
                c = last = (last + (1 if lo == 14 else -1)) & 0xFFFFFFFF
            else:
                c = index()
            if lo == 0 or lo >= 13:
                fifo[verts & 15], verts = c, verts + 1
            edge_a[edges & 15], edge_b[edges & 15] = c, b
            edge_a[(edges + 1) & 15], edge_b[(edges + 1) & 15] = a, c
            edges += 2
        else:  # three vertices: new, from the FIFO, or explicit
            if lo < 14:
                z, w = aux[lo] >> 4, aux[lo] & 15
                a, nxt = nxt, nxt + 1
            else:
                if pos >= data_end:
                    raise MeshoptError("TRIANGLES stream is truncated (extra data runs into the tail)")
                z, w = buf[pos] >> 4, buf[pos] & 15
                if buf[pos] == 0:
                    nxt = 0
                pos += 1
                if lo == 14:
                    a, nxt = nxt, nxt + 1
                else:
                    a = index()
            picked = []
            for k in (z, w):
                if k == 0:
                    v, nxt = nxt, nxt + 1
                elif k < 15 or lo < 14:
                    v = fifo[(verts - k) & 15]
                else:
                    v = index()
                picked.append(v)
            b, c = picked
            fifo[verts & 15], verts = a, verts + 1
            for k, v in ((z, b), (w, c)):
                if k == 0 or (k == 15 and lo >= 14):
                    fifo[verts & 15], verts = v, verts + 1
            for p, q in ((b, a), (c, b), (a, c)):
                edge_a[edges & 15], edge_b[edges & 15] = p, q
                edges += 1
        out[3 * t:3 * t + 3] = a, b, c
    if pos != data_end:
        raise MeshoptError(f"TRIANGLES stream has {data_end - pos} unread bytes of extra data")
    return np.array(out, np.uint32)


def decode_indices(data: bytes | memoryview, count: int) -> np.ndarray:
    """Index sequence codec (header 0xd1): varints, each a zigzag delta from one of two baselines."""
    raw = np.frombuffer(data, np.uint8)
    if len(raw) < 1 + INDEX_TAIL:
        raise MeshoptError("INDICES stream shorter than its header and tail")
    if raw[0] != INDEX_HEADER:
        raise MeshoptError(f"INDICES stream has header {raw[0]:#04x}, expected {INDEX_HEADER:#04x}")
    body = raw[1:len(raw) - INDEX_TAIL].astype(np.uint64)
    ends = np.flatnonzero(body < 0x80)
    if len(ends) != count or (count and ends[-1] != len(body) - 1):
        raise MeshoptError(f"INDICES stream holds {len(ends)} complete values, expected {count}")
    which = np.concatenate([[0], np.cumsum(body < 0x80)[:-1]]).astype(np.int64) if count else np.zeros(0, np.int64)
    place = np.arange(len(body)) - np.concatenate([[0], ends + 1])[which]
    values = np.zeros(count, np.uint64)
    np.add.at(values, which, (body & np.uint64(0x7F)) << (np.uint64(7) * place.astype(np.uint64)))
    values &= np.uint64(0xFFFFFFFF)
    delta = (values >> np.uint64(2)) ^ ((values >> np.uint64(1)) & np.uint64(1)) * np.uint64(0xFFFFFFFF)
    out = np.zeros(count, np.uint64)
    for base in (0, 1):
        sel = (values & np.uint64(1)) == base
        out[sel] = np.cumsum(delta[sel]) & np.uint64(0xFFFFFFFF)
    return out.astype(np.uint32)


# --- filters -------------------------------------------------------------------------------------


def _round(x: np.ndarray) -> np.ndarray:
    """To integers, ties to even: the specification allows one unit either way, and meshoptimizer's
    SIMD decoders (those of its npm package, our test reference) round ties to even."""
    return np.rint(x).astype(np.int32)


def _octahedral(plain: np.ndarray, stride: int) -> np.ndarray:
    if stride not in (4, 8):
        raise MeshoptError(f"OCTAHEDRAL needs byteStride 4 or 8, not {stride}")
    kind = np.int8 if stride == 4 else np.dtype("<i2")
    v = plain.view(kind).reshape(-1, 4)
    x, y, one = (v[:, k].astype(np.float32) for k in range(3))
    z = one - np.abs(x) - np.abs(y)
    t = np.minimum(z, np.float32(0))  # fold the negative hemisphere back
    x = x + np.where(x >= 0, t, -t)
    y = y + np.where(y >= 0, t, -t)
    scale = np.float32(np.iinfo(kind).max) / np.sqrt(x * x + y * y + z * z)
    out = v.copy()
    out[:, 0], out[:, 1], out[:, 2] = _round(x * scale), _round(y * scale), _round(z * scale)
    return out.view(np.uint8).reshape(-1)


def _quaternion(plain: np.ndarray, stride: int) -> np.ndarray:
    """Three components and the index of the dropped largest one. Computed before scaling (the
    integers, then one multiply by 32767 / sqrt(2) / one): the specification allows one unit of
    difference, and this order gives meshoptimizer's own decoders' bytes exactly."""
    if stride != 8:
        raise MeshoptError(f"QUATERNION needs byteStride 8, not {stride}")
    v = plain.view("<i2").reshape(-1, 4).astype(np.int32)
    one = (v[:, 3] | 3).astype(np.float32)
    x, y, z = (v[:, k].astype(np.float32) for k in range(3))
    w = np.sqrt(np.maximum(one * (one + one) - (x * x + (y * y + z * z)), np.float32(0)))
    scale = np.float32(32767 / np.sqrt(2)) / one
    largest = v[:, 3] & 3
    out = np.empty_like(v)
    rows = np.arange(len(v))
    for shift, comp in ((1, x), (2, y), (3, z), (0, w)):
        out[rows, (largest + shift) & 3] = _round(comp * scale)
    return out.astype("<i2").view(np.uint8).reshape(-1)


def _exponential(plain: np.ndarray, stride: int) -> np.ndarray:
    v = plain.view("<i4")
    exponent, mantissa = v >> 24, (v << 8) >> 8
    return np.ldexp(mantissa.astype(np.float32), exponent).astype("<f4").view(np.uint8)


FILTER_DECODERS = {"OCTAHEDRAL": _octahedral, "QUATERNION": _quaternion, "EXPONENTIAL": _exponential}
