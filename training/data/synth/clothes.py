"""Clothing: fabric patterns and trims as colour functions on the body's surface, the skirt, dress and
coat shells, and the details seen only from the front (a tie, a ribbon or buttons).

Patterns live in the (x, y) plane, centred on x = 0, so a character stays left-right symmetric (its
left view is its mirrored right view; only front and back differ). Zones (a garment, its trim band,
bare skin) follow one coordinate: the height on the torso and skirts, the position along an arm or
leg on the limbs, which keeps a sleeve a sleeve in every pose.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from training.data.synth.primitives import ColorFn, Paint, Part, bow, ellipsoid, tube, vertical
from training.data.synth.skeleton import Skeleton
from training.data.synth.traits import Fabric, Traits

COAT_DEPTH = 0.68  # coat depth (z) / width (x)
SKIRT_DEPTH = 0.75
SLEEVE_ENDS = {"none": -1.0, "short": 0.4, "long": 0.95}  # along the arm, shoulder 0 .. wrist 1
PATTERN_STEP, PLAIN_STEP = 0.1, 0.25  # ring spacing (head units) of garments with and without a pattern


def fabric_paint(f: Fabric) -> ColorFn:
    """The fabric's colour with its pattern: horizontal stripes, staggered dots or gingham checks."""
    def paint(p: np.ndarray, _n: np.ndarray) -> np.ndarray:
        qx, qy = p[:, 0] / f.scale, p[:, 1] / f.scale
        if f.pattern == "stripes":
            amount = (np.floor(qy) % 2 == 0).astype(float)
        elif f.pattern == "dots":
            row = np.round(qy)
            qx = qx + 0.5 * (row % 2)
            amount = (np.hypot(qx - np.round(qx), qy - row) < 0.28).astype(float)
        elif f.pattern == "checks":
            amount = ((np.round(qx) % 2) + (np.round(qy) % 2)) / 2
        else:
            amount = np.zeros(len(p))
        return np.asarray(f.base) + amount[:, None] * (np.asarray(f.second) - f.base)
    return paint


def ring_step(*fabrics: Fabric) -> float:
    """Rings close enough for a pattern's edges to stay sharp (vertex colours are interpolated
    between rings), sparse where every garment on the part is plain: rendering cost follows triangles."""
    return PATTERN_STEP if any(f.pattern != "plain" for f in fabrics) else PLAIN_STEP


def zones(coord: Callable[[np.ndarray], np.ndarray], edges: Sequence[float], paints: Sequence[Paint]) -> ColorFn:
    """paints[k] where edges[k - 1] <= coord(points) < edges[k] (len(paints) = len(edges) + 1)."""
    def paint(p: np.ndarray, n: np.ndarray) -> np.ndarray:
        zone = np.searchsorted(np.asarray(edges, float), coord(p), side="right")
        out = np.empty_like(p)
        for k, z in enumerate(paints):
            inside = zone == k
            if inside.any():
                out[inside] = z(p[inside], n[inside]) if callable(z) else z
        return out
    return paint


def height(p: np.ndarray) -> np.ndarray:
    return p[:, 1]


def along(joints: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """0 at the first joint, 1 at the last, along the line between them."""
    axis = joints[-1] - joints[0]
    return lambda p: (p - joints[0]) @ axis / (axis @ axis)


def _band(t: Traits, s: Skeleton, garment: Paint) -> tuple[Paint, float]:
    """What a hem, cuff or collar band of a garment is painted with (the trim, or the garment itself
    without one) and the band's width."""
    return (garment if t.trim is None else t.trim), 0.12 * s.build


def torso_paint(t: Traits, s: Skeleton) -> ColorFn:
    """Bottom garment below the waist (the dress: all one), the top above, bands at its hem and collar."""
    top = fabric_paint(t.top)
    below = top if t.outfit == "dress" else fabric_paint(t.bottom)
    trim, w = _band(t, s, top)
    return zones(height, [s.waist_y, s.waist_y + w, s.torso_ys[-1] - w], [below, trim, top, trim])


def arm_paint(t: Traits, s: Skeleton, joints: np.ndarray) -> ColorFn:
    """The sleeve (the coat's when there is one) with a cuff, then skin."""
    end = SLEEVE_ENDS["long" if t.outfit == "coat" else t.sleeves]
    sleeve = fabric_paint(t.outer if t.outfit == "coat" else t.top)
    trim, w = _band(t, s, sleeve)
    cuff = w / float(np.linalg.norm(joints[-1] - joints[0]))
    return zones(along(joints), [end - cuff, end], [sleeve, trim, t.skin])


def leg_paint(t: Traits, s: Skeleton, joints: np.ndarray) -> ColorFn:
    """Trousers to the ankle, or shorts then skin, or bare legs; socks below."""
    bottom = fabric_paint(t.bottom)
    trim, w = _band(t, s, bottom)
    cuff = w / float(np.linalg.norm(joints[-1] - joints[0]))
    if t.outfit in ("trousers", "coat"):
        return zones(along(joints), [1.0 - cuff], [bottom, trim])
    if t.outfit == "shorts":
        return zones(along(joints), [0.3 - cuff, 0.3, 0.75], [bottom, trim, t.skin, t.socks])
    return zones(along(joints), [0.55], [t.skin, t.socks])


def shell_rings(t: Traits, s: Skeleton) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Heights (top to bottom), half widths and depth / width of the outfit's shell: the skirt
    (to mid-thigh), the dress's skirt (to the knee) or the coat (shoulders to knees); None without."""
    b = s.build
    if t.outfit in ("skirt", "dress"):
        hem = s.knee_y - 0.1 * b if t.outfit == "dress" else s.hip_y - 0.5 * (s.hip_y - s.knee_y) - 0.3 * b
        return np.linspace(s.waist_y, hem, 5), np.linspace(1.0, 1.5, 5) * t.hip * b, SKIRT_DEPTH
    if t.outfit == "coat":
        ys = np.linspace(s.shoulder_y, s.knee_y, 6)
        rx = np.interp(ys, [s.knee_y, s.hip_y, s.waist_y, s.shoulder_y],
                       np.array([t.hip * 1.4, t.hip * 1.1, t.hip * 0.95, t.shoulder * 0.95]) * b)
        return ys, rx, COAT_DEPTH
    return None


def back_depth(t: Traits, s: Skeleton, y: float) -> float:
    """How far behind the axis the outermost clothing is at height y."""
    depth, rings = s.torso_depth(y), shell_rings(t, s)
    if rings is not None and rings[0][-1] <= y <= rings[0][0]:
        depth = max(depth, rings[2] * float(np.interp(y, rings[0][::-1], rings[1][::-1])))
    return depth


def shells(t: Traits, s: Skeleton) -> list[Part]:
    """The skirt or dress (pleated) or the coat (open at the front), with a band at the hem."""
    rings = shell_rings(t, s)
    if rings is None:
        return []
    ys, rx, depth = rings
    fabric = {"skirt": t.bottom, "dress": t.top, "coat": t.outer}[t.outfit]
    trim, w = _band(t, s, fabric_paint(fabric))
    paint = zones(height, [ys[-1] + w], [trim, fabric_paint(fabric)])
    radii, step = np.stack([rx, rx * depth], 1), ring_step(fabric)
    if t.outfit == "coat":
        return [tube(vertical(ys), radii, paint, n=56, arc=(110, 430), step=step)]
    return [tube(vertical(ys), radii, paint, n=64, arc=(-90, 270), pleats=12, step=step)]


def front_details(t: Traits, s: Skeleton) -> list[Part]:
    """A tie, a ribbon at the collar, or buttons down the shirt."""
    b = s.build
    if t.front == "tie":
        ys = np.linspace(s.shoulder_y - 0.05 * b, s.waist_y + 0.3 * b, 5)
        path = vertical(ys, np.array([s.torso_depth(y) + 0.04 * b for y in ys]))
        return [ellipsoid(path[0] + [0, 0, 0.02 * b], (0.12 * b, 0.1 * b, 0.06 * b), t.accent),
                tube(path, np.stack([np.linspace(0.08, 0.16, 5) * b, np.full(5, 0.03 * b)], 1), t.accent)]
    if t.front == "ribbon":
        y = s.shoulder_y - 0.05 * b
        return bow((0, y, s.torso_depth(y) + 0.06 * b), 0.75 * b, t.accent, facing=1.0)
    ys = np.linspace(s.shoulder_y - 0.25 * b, s.waist_y + 0.15 * b, 4)
    return [ellipsoid((0, y, s.torso_depth(y) - 0.01 * b), (0.07 * b, 0.07 * b, 0.04 * b), t.accent) for y in ys]
