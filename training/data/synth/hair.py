"""Hair: a cap over the skull, bangs, side locks, the style's long parts, buns and an ahoge.

The hair's back carries a pattern in a second colour (on surfaces facing -z only), a detail seen only
from behind. Lengths are fractions of the body (chin to hips), so long hair stays long at every
proportion.
"""
from __future__ import annotations

import math

import numpy as np

from training.data.synth.primitives import ColorFn, Part, ellipsoid, rot_z, tube, vertical
from training.data.synth.skeleton import Skeleton
from training.data.synth.traits import Traits

BUST_DROP = 1.5  # the bust's hair ends at most this far below the head's centre
PATTERN_STEP = 0.15  # ring spacing of the long parts, for the back pattern's bands (0.3 wide)


def hair_paint(t: Traits, s: Skeleton) -> ColorFn:
    """Hair colour with the back-only pattern (on surfaces facing -z)."""
    def color(p: np.ndarray, n: np.ndarray) -> np.ndarray:
        x, y = p[:, 0], p[:, 1] - s.head_y
        band = {"stripes": y, "streaks": np.abs(x) + 0.15, "chevron": y + np.abs(x)}[t.hair_pattern]
        on = (np.floor(band / 0.3) % 2 == 0) & (n[:, 2] < -0.3)
        return np.where(on[:, None], t.hair2, t.hair)
    return color


def cap(t: Traits, s: Skeleton) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Centre and radii of the hair's cap over the skull."""
    return np.array([0, s.head_y + 0.12, -0.12]), tuple(1.1 * r for r in t.head)


def cap_top(t: Traits, s: Skeleton) -> float:
    """The height of the top of the hair."""
    centre, radii = cap(t, s)
    return float(centre[1] + radii[1])


def cap_back(t: Traits, s: Skeleton, y: float) -> float:
    """The z of the back of the cap at height y (on the centre line)."""
    centre, (_, ry, rz) = cap(t, s)
    return float(centre[2] - rz * math.sqrt(max(1 - ((y - centre[1]) / ry) ** 2, 0.0)))


def _end_y(t: Traits, s: Skeleton, bust: bool) -> float:
    """Where long hair ends: hair_length of the way from the chin to the hips."""
    end = s.chin_y - t.hair_length * (s.chin_y - s.hip_y)
    return max(end, s.head_y - BUST_DROP) if bust else end


def _strand(t: Traits, s: Skeleton, phi: float, theta0: float, theta1: float, drop: float, r0: float) -> Part:
    """A lock following the hair surface from theta0 to theta1 (degrees from the top, phi from the
    front towards +x), then falling straight down by drop."""
    rx, ry, rz = (1.1 * r for r in t.head)
    thetas = np.radians(np.linspace(theta0, theta1, 6))
    ph = math.radians(phi)
    path = np.stack([rx * np.sin(thetas) * math.sin(ph), s.head_y + 0.08 + ry * np.cos(thetas),
                     rz * np.sin(thetas) * math.cos(ph) - 0.05], 1)
    if drop > 0:
        path = np.concatenate([path, path[-1] + np.linspace(0, 1, 5)[1:, None] * [0, -drop, 0]])
    return tube(path, np.linspace(r0, 0.03, len(path)), hair_paint(t, s), n=12)


def _tail(root: np.ndarray, path: list[list[float]], radii: list[float], paint: ColorFn) -> Part:
    return tube(root + np.asarray(path, float), radii, paint, n=20, step=PATTERN_STEP)


def _style(t: Traits, s: Skeleton, bust: bool) -> list[Part]:
    """The parts that make the style: a long back sheet, tails, or buns (with hair ties)."""
    paint, end = hair_paint(t, s), _end_y(t, s, bust)
    back = -0.6 - 0.1 * t.head[2]
    if t.hair_style in ("long", "bob"):
        bottom = s.head_y - 0.9 if t.hair_style == "bob" else end
        ys = np.linspace(s.head_y + 0.3, bottom, 6)
        rx = np.linspace(1.05, 0.95, 6) * t.head[0]
        return [tube(vertical(ys, np.linspace(back, back - 0.15, 6)), np.stack([rx, np.linspace(0.5, 0.3, 6)], 1),
                     paint, n=32, step=PATTERN_STEP)]
    parts = []
    if t.hair_style == "twin_tails":
        for side in (-1.0, 1.0):
            root = np.array([side * 0.95, s.head_y + 0.45, -0.3])
            drop = max(root[1] - end, 0.8)
            path = [[0, 0, 0], [side * 0.45, 0, -0.05], [side * 0.65, -0.6, -0.1], [side * 0.7, -drop, -0.1]]
            parts += [_tail(root, path, [0.25, 0.38, 0.3, 0.05], paint),
                      ellipsoid(root + [side * 0.12, 0, 0], (0.14, 0.2, 0.2), t.accent)]
    elif t.hair_style == "ponytail":
        root = np.array([0, s.head_y + 0.45, -1.1])
        drop = max(root[1] - end, 0.8)
        path = [[0, 0, 0], [0, 0.05, -0.35], [0, -0.6, -0.5], [0, -drop, -0.45]]
        parts += [_tail(root, path, [0.25, 0.35, 0.28, 0.05], paint),
                  ellipsoid(root + [0, 0, -0.1], (0.2, 0.2, 0.14), t.accent)]
    elif t.hair_style == "twin_buns":
        for side in (-1.0, 1.0):
            centre = np.array([side * 0.78, s.head_y + 0.85, -0.2])
            parts += [ellipsoid(centre, (0.42, 0.42, 0.42), paint, n=32),
                      ellipsoid(centre * [0.8, 1, 1] + [0, -0.2, 0], (0.2, 0.1, 0.2), t.accent, rot=rot_z(side * -40))]
    elif t.hair_style == "bun":  # at the back of the head: seen from behind and the sides
        centre = np.array([0, s.head_y + 0.35, cap_back(t, s, s.head_y + 0.35) - 0.2])
        parts += [ellipsoid(centre, (0.5, 0.45, 0.4), paint, n=32),
                  ellipsoid(centre + [0, 0, 0.08], (0.62, 0.12, 0.3), t.accent)]
    return parts


def hair(t: Traits, s: Skeleton, bust: bool) -> list[Part]:
    """Cap, bangs, side locks, the style's parts (shortened for the bust) and an optional ahoge."""
    paint = hair_paint(t, s)
    centre, radii = cap(t, s)
    parts = [ellipsoid(centre, radii, paint, n=48)]
    parts += [_strand(t, s, phi, 15, 80, 0, 0.2) for phi in np.linspace(-48, 48, 7)]
    side_drop = {"short": 0.2, "bob": 0.9}.get(t.hair_style, 1.3)
    parts += [_strand(t, s, side * phi, 40, 95, side_drop, 0.22) for side in (-1, 1) for phi in (62, 80)]
    parts += _style(t, s, bust)
    if t.ahoge:  # a lock standing up from the crown and curling forward
        top = np.array([0, cap_top(t, s) - 0.1, 0.1])
        parts.append(tube(top + [[0, 0, 0], [0, 0.35, 0.05], [0, 0.6, 0.3], [0, 0.55, 0.55]], [0.1, 0.08, 0.05, 0.02],
                          paint, n=10))
    return parts
