"""Procedural anime-like characters as triangle meshes, deterministic per character id.

Each character has details seen only from the front (eyes, mouth, buttons or a tie, shoe tips) and
only from the back (a patterned back of the hair, a sailor collar, a bow, a backpack), so its back
view is never its mirrored front view: a model must use the back image to get the back right.

Parts are built in "head units" (head radius about 1, feet at y = 0, facing +z), then scaled into the
preset's box. Colours are flat per part with a mild shading from above baked in (the same seen from
the front and the back), so the unlit renderer still shows the shape.
"""
from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from numpy.typing import ArrayLike

from training.data.synth.gl_render import Mesh
from training.data.layout import PRESETS

HAIR_STYLES = ("short", "bob", "long", "twin_tails", "ponytail")
OUTFITS = ("skirt", "trousers", "coat")
SKIN_TONES = ((1.0, 0.89, 0.82), (0.98, 0.82, 0.70), (0.87, 0.68, 0.53), (0.62, 0.45, 0.34))
LIGHT = np.array([0.0, 1.0, 0.0])  # from above: shading is the same from the front and the back

Color = tuple[float, float, float]
ColorFn = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (points, normals) -> (V, 3) colours


@dataclass(frozen=True)
class Traits:
    """A character's random choices; everything else follows from them."""

    heads_tall: float
    height: float  # fraction of the body box the character fills
    head: tuple[float, float, float]
    shoulder: float
    hip: float
    limb: float
    leg_frac: float
    arm_angle: float
    skin: Color
    hair: Color
    hair2: Color
    eyes: Color
    top: Color
    bottom: Color
    shoes: Color
    accent: Color
    outer: Color  # the coat
    collar: Color
    hair_style: str
    hair_length: float
    hair_pattern: str
    outfit: str
    long_sleeves: bool
    tie: bool
    bow: str  # "head", "waist" or "none"
    backpack: bool
    blush: bool


@dataclass
class Part:
    positions: np.ndarray
    normals: np.ndarray
    faces: np.ndarray
    colors: np.ndarray


def _hsv(h: float, s: float, v: float) -> Color:
    return colorsys.hsv_to_rgb(h % 1.0, s, v)


def sample_traits(rng: np.random.Generator) -> Traits:
    """Draw one character's traits."""
    u = rng.uniform
    hair_hue = u()
    bow = str(rng.choice(["head", "waist", "none"]))
    return Traits(
        heads_tall=u(4.5, 6.5), height=u(0.78, 0.9),
        head=(u(0.95, 1.05), u(1.0, 1.12), u(0.9, 1.0)),
        shoulder=u(1.0, 1.45), hip=u(0.85, 1.25), limb=u(0.24, 0.34), leg_frac=u(0.5, 0.58), arm_angle=u(12, 32),
        skin=SKIN_TONES[rng.integers(len(SKIN_TONES))],
        hair=_hsv(hair_hue, u(0.2, 0.8), u(0.35, 1.0)), hair2=_hsv(hair_hue + u(0.3, 0.7), u(0.5, 0.9), u(0.7, 1.0)),
        eyes=_hsv(u(), u(0.6, 1.0), u(0.5, 0.9)), top=_hsv(u(), u(0.0, 0.8), u(0.4, 1.0)),
        bottom=_hsv(u(), u(0.2, 0.9), u(0.2, 0.8)), shoes=_hsv(u(), u(0.0, 0.7), u(0.1, 0.6)),
        accent=_hsv(u(), u(0.7, 1.0), u(0.8, 1.0)), outer=_hsv(u(), u(0.1, 0.6), u(0.25, 0.7)),
        collar=_hsv(u(), u(0.0, 0.3), u(0.85, 1.0)),
        hair_style=str(rng.choice(HAIR_STYLES)), hair_length=u(2.0, 5.0),
        hair_pattern=str(rng.choice(["stripes", "streaks", "chevron"])),
        outfit=str(rng.choice(OUTFITS)), long_sleeves=bool(rng.random() < 0.5), tie=bool(rng.random() < 0.5),
        bow=bow, backpack=bool(bow == "none" or rng.random() < 0.4), blush=bool(rng.random() < 0.5))


# --- primitives -------------------------------------------------------------------------------

def _rings(points: np.ndarray, normals: np.ndarray, color: Color | ColorFn, closed: bool = True,
           caps: bool = True) -> Part:
    """Stitch K rings of n points (K, n, 3) into triangles, optionally capping both ends."""
    k, n = points.shape[:2]
    i, j = np.meshgrid(np.arange(k - 1), np.arange(n if closed else n - 1), indexing="ij")
    a, b = i * n + j, i * n + (j + 1) % n
    faces = [np.stack([a, b, a + n], -1).reshape(-1, 3), np.stack([b, b + n, a + n], -1).reshape(-1, 3)]
    pos, nrm = [points.reshape(-1, 3)], [normals.reshape(-1, 3)]
    if caps:
        for ring, inner in ((0, 1), (k - 1, k - 2)):
            centre = points[ring].mean(0)
            axis = centre - points[inner].mean(0)
            faces.append(np.stack([np.full(n, k * n + len(pos) - 1), ring * n + np.arange(n),
                                   ring * n + (np.arange(n) + 1) % n], -1))
            pos.append(centre[None])
            nrm.append(axis[None] / max(np.linalg.norm(axis), 1e-9))
    pos, nrm = np.concatenate(pos), np.concatenate(nrm)
    nrm = nrm / np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-9)
    colors = color(pos, nrm) if callable(color) else np.broadcast_to(np.asarray(color, float), pos.shape)
    return Part(pos, nrm, np.concatenate(faces), np.asarray(colors, float))


def _rot_z(degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _vertical(ys: np.ndarray, z: float | np.ndarray = 0.0) -> np.ndarray:
    """A path through (0, y, z) for each y."""
    return np.stack(np.broadcast_arrays(0.0, ys, z), 1)


def ellipsoid(centre: ArrayLike, radii: ArrayLike, color: Color | ColorFn, rot: np.ndarray | None = None,
              n: int = 24) -> Part:
    theta = np.linspace(0, math.pi, n // 2 + 1)[:, None]
    phi = np.linspace(0, 2 * math.pi, n, endpoint=False)[None]
    unit = np.stack(np.broadcast_arrays(np.sin(theta) * np.sin(phi), np.cos(theta), np.sin(theta) * np.cos(phi)), -1)
    rot = np.eye(3) if rot is None else rot
    radii = np.asarray(radii, float)
    return _rings(np.asarray(centre, float) + (unit * radii) @ rot.T, (unit / radii) @ rot.T, color,
                  caps=False)


def tube(path: ArrayLike, radii: ArrayLike, color: Color | ColorFn, n: int = 16,
         arc: tuple[float, float] | None = None, pleats: int = 0) -> Part:
    """A swept tube along a path (K, 3) with radius (K,) or elliptical radii (K, 2); an arc (degrees,
    0 = +x, 90 = +z for a downward path) leaves it open; pleats ripple the radius."""
    path = np.asarray(path, float)
    radii = np.asarray(radii, float)
    radii = np.broadcast_to(radii if radii.ndim == 2 else radii.reshape(-1, 1), (len(path), 2))
    tangent = np.gradient(path, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    side = np.where(np.abs(tangent[:, :1]) > 0.9, [[0.0, 0, 1]], [[1.0, 0, 0]])
    a = side - (side * tangent).sum(1, keepdims=True) * tangent
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b = np.cross(tangent, a)
    lo, hi = (0.0, 360.0) if arc is None else arc
    phi = np.radians(np.linspace(lo, hi, n, endpoint=arc is not None))[None, :, None]
    ripple = 1 + 0.06 * np.cos(pleats * phi) if pleats else 1.0
    ra, rb = radii[:, None, :1] * ripple, radii[:, None, 1:] * ripple
    points = path[:, None] + ra * np.cos(phi) * a[:, None] + rb * np.sin(phi) * b[:, None]
    normals = np.cos(phi) / ra * a[:, None] + np.sin(phi) / rb * b[:, None]
    return _rings(points, normals, color, closed=arc is None, caps=arc is None)


# --- body ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Skeleton:
    """Key heights (feet at 0) derived from the traits."""

    head_y: float
    chin_y: float
    shoulder_y: float
    waist_y: float
    hip_y: float
    knee_y: float

    @classmethod
    def of(cls, t: Traits) -> "Skeleton":
        total = t.heads_tall * 2 * t.head[1]
        head_y = total - t.head[1]
        chin_y = head_y - 0.95 * t.head[1]
        shoulder_y = chin_y - 0.45
        hip_y = shoulder_y * t.leg_frac
        return cls(head_y, chin_y, shoulder_y, hip_y + 0.45 * (shoulder_y - hip_y), hip_y, 0.5 * hip_y)


TORSO_DEPTH = 0.6  # torso depth (z) / width (x)


def torso_profile(t: Traits, s: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """Heights and half widths of the torso's rings, bottom to top."""
    ys = np.array([s.hip_y - 0.25, s.hip_y, s.waist_y, (s.waist_y + s.shoulder_y) / 2, s.shoulder_y, s.shoulder_y + 0.2])
    return ys, np.array([t.hip * 0.7, t.hip, t.hip * 0.75, t.shoulder * 0.85, t.shoulder * 0.9, 0.45])


def torso_depth(t: Traits, s: Skeleton, y: float) -> float:
    """How far the front (and back) of the torso lies from its axis at height y."""
    return TORSO_DEPTH * float(np.interp(y, *torso_profile(t, s)))


def torso(t: Traits, s: Skeleton) -> list[Part]:
    ys, rx = torso_profile(t, s)
    color = lambda p, _n: np.where(p[:, 1:2] < s.waist_y, t.bottom, t.top)
    return [tube(_vertical(ys), np.stack([rx, rx * TORSO_DEPTH], 1), color, n=24)]


def limbs(t: Traits, s: Skeleton) -> list[Part]:
    parts, arm_len, a = [], 0.36 * s.shoulder_y, math.radians(t.arm_angle)
    for side in (-1.0, 1.0):
        shoulder = np.array([side * t.shoulder * 0.92, s.shoulder_y - 0.15, 0])
        elbow = shoulder + arm_len * 0.5 * np.array([side * math.sin(a), -math.cos(a), 0.05])
        wrist = elbow + arm_len * 0.5 * np.array([side * math.sin(a) * 0.7, -math.cos(a), 0.25])
        sleeve_end = wrist[1] + 0.1 if t.long_sleeves or t.outfit == "coat" else elbow[1] + 0.15
        sleeve = t.outer if t.outfit == "coat" else t.top
        arm_color = lambda p, _n, e=sleeve_end, c=sleeve: np.where(p[:, 1:2] > e, c, t.skin)
        parts.append(tube([shoulder, elbow, wrist], [t.limb * 1.1, t.limb * 0.9, t.limb * 0.7], arm_color))
        parts.append(ellipsoid(wrist + [0, -0.2, 0.03], (0.16, 0.25, 0.12), t.skin))
        hip = np.array([side * t.hip * 0.5, s.hip_y, 0])
        knee = np.array([side * t.hip * 0.45, s.knee_y, 0.05])
        ankle = np.array([side * t.hip * 0.42, 0.3, 0])
        stockings = lambda p, _n: np.where(p[:, 1:2] > s.knee_y * 0.9, t.skin, t.shoes)
        leg_color = stockings if t.outfit == "skirt" else t.bottom
        parts.append(tube([hip, knee, ankle], [t.limb * 1.5, t.limb * 1.1, t.limb * 0.8], leg_color))
        parts.append(ellipsoid(ankle + [0, -0.1, 0.22], (0.26, 0.2, 0.5), t.shoes))
    return parts


COAT_DEPTH = 0.68


def coat_profile(t: Traits, s: Skeleton, ys: np.ndarray) -> np.ndarray:
    return np.interp(ys, [s.knee_y, s.hip_y, s.waist_y, s.shoulder_y],
                     [t.hip * 1.4, t.hip * 1.1, t.hip * 0.95, t.shoulder * 0.95])


def clothes(t: Traits, s: Skeleton) -> list[Part]:
    if t.outfit == "skirt":
        length = 0.5 * (s.hip_y - s.knee_y) + 0.3
        ys = np.linspace(s.waist_y, s.hip_y - length, 5)
        flare = np.linspace(1.0, 1.5, 5) * t.hip
        return [tube(_vertical(ys), np.stack([flare, flare * 0.75], 1), t.bottom,
                     n=48, arc=(0, 360), pleats=12)]
    if t.outfit == "coat":
        ys = np.linspace(s.shoulder_y, s.knee_y, 6)
        rx = coat_profile(t, s, ys)
        return [tube(_vertical(ys), np.stack([rx, rx * COAT_DEPTH], 1), t.outer,
                     n=40, arc=(110, 430))]  # open at the front (90 degrees)
    return []


# --- head ---------------------------------------------------------------------------------------

def _on_head(t: Traits, s: Skeleton, x: float, y: float, lift: float = 0.0) -> np.ndarray:
    """The point of the head's front surface above (x, y), pushed out by lift."""
    rx, ry, rz = t.head
    z = rz * math.sqrt(max(1 - (x / rx) ** 2 - ((y - s.head_y) / ry) ** 2, 0.0))
    return np.array([x, y, z + lift])


def head_and_face(t: Traits, s: Skeleton) -> list[Part]:
    """Neck, head, and front-only eyes (white, iris, pupil, highlight), brows, mouth, optional blush."""
    parts, eye_y = [tube([[0, s.shoulder_y, 0], [0, s.chin_y + 0.2, -0.1]], 0.3, t.skin)], s.head_y - 0.18
    for side in (-1.0, 1.0):
        eye = _on_head(t, s, side * 0.38, eye_y, -0.02)
        parts += [ellipsoid(eye, (0.19, 0.25, 0.07), (1, 1, 1)),
                  ellipsoid(eye + [0, -0.02, 0.02], (0.13, 0.19, 0.07), t.eyes),
                  ellipsoid(eye + [0, -0.04, 0.04], (0.07, 0.1, 0.06), (0.08, 0.05, 0.1)),
                  ellipsoid(eye + [side * 0.05, 0.08, 0.08], (0.04, 0.04, 0.02), (1, 1, 1)),
                  ellipsoid(_on_head(t, s, side * 0.38, eye_y + 0.35, -0.02), (0.18, 0.035, 0.05),
                            np.asarray(t.hair) * 0.5, rot=_rot_z(side * -8))]
        if t.blush:
            parts.append(ellipsoid(_on_head(t, s, side * 0.45, eye_y - 0.3, -0.02), (0.14, 0.06, 0.04),
                                   (1.0, 0.6, 0.65)))
    parts.append(ellipsoid(_on_head(t, s, 0, s.head_y - 0.62, -0.02), (0.12, 0.04, 0.04), (0.75, 0.2, 0.25)))
    return parts + [ellipsoid((0, s.head_y, 0), t.head, t.skin, n=40)]


def _hair_color(t: Traits, origin_y: float) -> ColorFn:
    """Hair colour with the back-only pattern (on surfaces facing -z)."""
    def color(p: np.ndarray, n: np.ndarray) -> np.ndarray:
        x, y = p[:, 0], p[:, 1] - origin_y
        band = {"stripes": y, "streaks": np.abs(x) + 0.15, "chevron": y + np.abs(x)}[t.hair_pattern]
        on = (np.floor(band / 0.3) % 2 == 0) & (n[:, 2] < -0.3)
        return np.where(on[:, None], t.hair2, t.hair)
    return color


def _strand(t: Traits, s: Skeleton, phi: float, theta0: float, theta1: float, drop: float, r0: float,
            bust: bool) -> Part:
    """A lock following the hair surface from theta0 to theta1 (degrees from the top, phi from the
    front towards +x), then falling straight down by drop."""
    rx, ry, rz = (1.1 * r for r in t.head)
    thetas = np.radians(np.linspace(theta0, theta1, 6))
    ph = math.radians(phi)
    path = np.stack([rx * np.sin(thetas) * math.sin(ph), s.head_y + 0.08 + ry * np.cos(thetas),
                     rz * np.sin(thetas) * math.cos(ph) - 0.05], 1)
    drop = min(drop, 1.2) if bust else drop
    if drop > 0:
        path = np.concatenate([path, path[-1] + np.linspace(0, 1, 5)[1:, None] * [0, -drop, 0]])
    radius = np.linspace(r0, 0.03, len(path))
    return tube(path, radius, _hair_color(t, s.head_y), n=12)


def hair(t: Traits, s: Skeleton, bust: bool) -> list[Part]:
    """Cap, bangs, side locks, the style's long parts (shortened for the bust) and a hair bow."""
    color = _hair_color(t, s.head_y)
    cap_r = tuple(1.1 * r for r in t.head)
    parts = [ellipsoid((0, s.head_y + 0.12, -0.12), cap_r, color, n=48)]
    parts += [_strand(t, s, phi, 15, 80, 0, 0.2, bust) for phi in np.linspace(-48, 48, 7)]
    side_drop = {"short": 0.2, "bob": 0.9}.get(t.hair_style, 1.3)
    parts += [_strand(t, s, side * phi, 40, 95, side_drop, 0.22, bust) for side in (-1, 1) for phi in (62, 80)]
    length = min(t.hair_length, 1.5) if bust else t.hair_length
    top, back = s.head_y + 0.3, -0.6 - 0.1 * t.head[2]
    if t.hair_style in ("long", "bob"):
        length = 0.9 if t.hair_style == "bob" else length
        ys = np.linspace(top, s.head_y - length, 6)
        rx = np.linspace(1.05, 0.95, 6) * t.head[0]
        parts.append(tube(_vertical(ys, np.linspace(back, back - 0.15, 6)),
                          np.stack([rx, np.linspace(0.5, 0.3, 6)], 1), color, n=32))
    elif t.hair_style == "twin_tails":
        for side in (-1.0, 1.0):
            root = np.array([side * 0.95, s.head_y + 0.45, -0.3])
            path = [root, root + [side * 0.45, 0.0, -0.05], root + [side * 0.65, -0.6, -0.1],
                    root + [side * 0.7, -length, -0.1]]
            parts += [tube(path, [0.25, 0.38, 0.3, 0.05], color, n=20),
                      ellipsoid(root + [side * 0.12, 0, 0], (0.14, 0.2, 0.2), t.accent)]
    elif t.hair_style == "ponytail":
        root = np.array([0, s.head_y + 0.45, -1.1])
        path = [root, root + [0, 0.05, -0.35], root + [0, -0.6, -0.5], root + [0, -length, -0.45]]
        parts += [tube(path, [0.25, 0.35, 0.28, 0.05], color, n=20),
                  ellipsoid(root + [0, 0, -0.1], (0.2, 0.2, 0.14), t.accent)]
    if t.bow == "head":  # back-only: on the hair cap, 0.23 above its centre
        parts += bow(t, np.array([0, s.head_y + 0.35, -0.12 - cap_r[2] * math.sqrt(1 - (0.23 / cap_r[1]) ** 2) - 0.05]), 1.0)
    return parts


# --- front-only and back-only details -----------------------------------------------------------

def front_details(t: Traits, s: Skeleton) -> list[Part]:
    """Buttons down the shirt, or a tie."""
    if t.tie:
        ys = np.linspace(s.shoulder_y - 0.05, s.waist_y + 0.3, 5)
        path = _vertical(ys, np.array([torso_depth(t, s, y) + 0.04 for y in ys]))
        return [ellipsoid(path[0] + [0, 0, 0.02], (0.12, 0.1, 0.06), t.accent),
                tube(path, np.stack([np.linspace(0.08, 0.16, 5), np.full(5, 0.03)], 1), t.accent)]
    ys = np.linspace(s.shoulder_y - 0.25, s.waist_y + 0.15, 4)
    return [ellipsoid((0, y, torso_depth(t, s, y) - 0.01), (0.07, 0.07, 0.04), t.accent) for y in ys]


def bow(t: Traits, centre: np.ndarray, size: float) -> list[Part]:
    """Two loops, a knot and two tails, facing -z."""
    parts = [ellipsoid(centre, (0.12 * size, 0.12 * size, 0.08 * size), t.accent)]
    for side in (-1.0, 1.0):
        parts.append(ellipsoid(centre + [side * 0.3 * size, 0.05 * size, 0], (0.3 * size, 0.17 * size, 0.07 * size),
                               t.accent, rot=_rot_z(side * 20)))
        tail = centre + np.array([[0, 0, 0], [side * 0.15, -0.35, 0], [side * 0.25, -0.7, 0]]) * size - [0, 0, 0.03]
        parts.append(tube(tail, np.stack([np.full(3, 0.08 * size), np.full(3, 0.025 * size)], 1), t.accent))
    return parts


def back_depth(t: Traits, s: Skeleton, y: float) -> float:
    """How far behind the axis the outermost clothing is at height y."""
    depth = torso_depth(t, s, y)
    if t.outfit == "coat":
        depth = max(depth, COAT_DEPTH * float(coat_profile(t, s, np.array([y]))[0]))
    return depth


def back_details(t: Traits, s: Skeleton) -> list[Part]:
    """A sailor collar on the upper back, a bow at the back of the waist, and/or a backpack."""
    collar_y = s.shoulder_y - 0.3
    collar_z = -back_depth(t, s, collar_y) + 0.02
    parts = [ellipsoid((0, collar_y, collar_z), (0.75 * t.shoulder, 0.5, 0.05), t.collar),
             ellipsoid((0, collar_y, collar_z - 0.015), (0.6 * t.shoulder, 0.38, 0.05), t.accent)]
    if t.bow == "waist":
        parts += bow(t, np.array([0, s.waist_y, -back_depth(t, s, s.waist_y) - 0.08]), 1.3)
    if t.backpack:
        chest = (s.waist_y + s.shoulder_y) / 2
        depth = back_depth(t, s, chest) + 0.05
        parts += [ellipsoid((0, chest, -depth - 0.3), (0.8 * t.shoulder, 0.9, 0.4), t.accent),
                  ellipsoid((0, chest + 0.25, -depth - 0.62), (0.65 * t.shoulder, 0.5, 0.15), t.top)]
    return parts


# --- assembly -----------------------------------------------------------------------------------

def character_parts(t: Traits, bust: bool) -> list[Part]:
    """All parts; the bust (head preset) is the neck, head, face and hair only."""
    s = Skeleton.of(t)
    head = head_and_face(t, s) + hair(t, s, bust)
    if bust:
        return head
    return head + torso(t, s) + limbs(t, s) + clothes(t, s) + front_details(t, s) + back_details(t, s)


def _fit(positions: np.ndarray, boxwarp: float, bust: bool, height: float) -> np.ndarray:
    """Scale and move into the box: the body stands on y = -0.46 bw; the bust is centred and spans
    0.85 bw, leaving the head preset's perspective views (which see less than the box) a margin."""
    lo, hi = positions.min(0), positions.max(0)
    half = 0.46 * boxwarp
    if bust:
        return (positions - (lo + hi) / 2) * (0.85 * boxwarp / (hi - lo).max())
    extent = np.abs(positions[:, [0, 2]]).max()
    scale = min(height * boxwarp / hi[1], half / extent)
    return positions * scale + [0, -half, 0]


def build_character(char_id: str, preset: str) -> Mesh:
    """The mesh of one character (body or head preset), fully determined by its id."""
    bust = preset == "head"
    traits = sample_traits(np.random.default_rng(int(char_id)))
    parts = character_parts(traits, bust)
    offsets = np.cumsum([0] + [len(p.positions) for p in parts[:-1]])
    positions = np.concatenate([p.positions for p in parts])
    normals = np.concatenate([p.normals for p in parts])
    shade = 0.75 + 0.25 * np.clip(normals @ LIGHT, 0, 1)
    colors = np.concatenate([p.colors for p in parts]) * shade[:, None]
    return Mesh(positions=_fit(positions, PRESETS[preset].boxwarp, bust, traits.height).astype(np.float32),
                faces=np.concatenate([p.faces + o for p, o in zip(parts, offsets)]).astype(np.int32),
                colors=np.concatenate([colors, np.ones((len(colors), 1))], 1).astype(np.float32))
