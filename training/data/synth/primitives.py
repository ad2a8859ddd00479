"""Mesh primitives of the procedural characters: swept tubes and ellipsoids as coloured triangle parts.

Colours are per vertex, either flat or a ColorFn of the points and normals (hair and fabric
patterns); the renderer interpolates them across triangles, so a patterned part is built with
dense rings (tube's step) for the pattern's edges to stay sharp.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable, Union

import numpy as np
from numpy.typing import ArrayLike

Color = tuple[float, float, float]
ColorFn = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (points, normals) -> (V, 3) colours
Paint = Union[Color, ColorFn]


@dataclass
class Part:
    positions: np.ndarray
    normals: np.ndarray
    faces: np.ndarray
    colors: np.ndarray


@functools.lru_cache(maxsize=None)
def _ring_faces(k: int, n: int, closed: bool, caps: bool) -> np.ndarray:
    """Triangles of K rings of n points (the same for every part of that shape: built once)."""
    i, j = np.meshgrid(np.arange(k - 1), np.arange(n if closed else n - 1), indexing="ij")
    a, b = i * n + j, i * n + (j + 1) % n
    faces = [np.stack([a, b, a + n], -1).reshape(-1, 3), np.stack([b, b + n, a + n], -1).reshape(-1, 3)]
    if caps:  # a fan from each end ring to its centre, stored after the rings
        for ring, centre in ((0, k * n), (k - 1, k * n + 1)):
            faces.append(np.stack([np.full(n, centre), ring * n + np.arange(n), ring * n + (np.arange(n) + 1) % n], -1))
    faces = np.concatenate(faces)
    faces.flags.writeable = False
    return faces


def rings(points: np.ndarray, normals: np.ndarray, color: Paint, closed: bool = True, caps: bool = True) -> Part:
    """Stitch K rings of n points (K, n, 3) into triangles, optionally capping both ends."""
    k, n = points.shape[:2]
    pos, nrm = points.reshape(-1, 3), normals.reshape(-1, 3)
    if caps:
        centres = points[[0, -1]].mean(1)
        pos = np.concatenate([pos, centres])
        nrm = np.concatenate([nrm, centres - points[[1, -2]].mean(1)])
    nrm = nrm / np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-9)
    colors = color(pos, nrm) if callable(color) else np.broadcast_to(np.asarray(color, float), pos.shape)
    return Part(pos, nrm, _ring_faces(k, n, closed, caps), np.asarray(colors, float))


def rot_z(degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def rot_x(degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def vertical(ys: ArrayLike, z: float | np.ndarray = 0.0) -> np.ndarray:
    """A path through (0, y, z) for each y."""
    return np.stack(np.broadcast_arrays(0.0, np.asarray(ys, float), z), 1)


@functools.lru_cache(maxsize=None)
def _unit_sphere(n: int) -> np.ndarray:
    """n // 2 + 1 rings of n points on the unit sphere, pole to pole (y up)."""
    theta = np.linspace(0, math.pi, n // 2 + 1)[:, None]
    phi = np.linspace(0, 2 * math.pi, n, endpoint=False)[None]
    unit = np.stack(np.broadcast_arrays(np.sin(theta) * np.sin(phi), np.cos(theta), np.sin(theta) * np.cos(phi)), -1)
    unit.flags.writeable = False
    return unit


def ellipsoid(centre: ArrayLike, radii: ArrayLike, color: Paint, rot: np.ndarray | None = None,
              n: int = 24) -> Part:
    unit, radii = _unit_sphere(n), np.asarray(radii, float)
    points, normals = unit * radii, unit / radii
    if rot is not None:
        points, normals = points @ rot.T, normals @ rot.T
    return rings(np.asarray(centre, float) + points, normals, color, caps=False)


def _resample(path: np.ndarray, radii: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """The polyline and its radii with each segment cut into pieces no longer than step (the joints
    stay where they are)."""
    pieces = np.maximum(np.ceil(np.linalg.norm(np.diff(path, axis=0), axis=1) / step).astype(int), 1)
    segment = np.repeat(np.arange(len(pieces)), pieces)
    f = (np.arange(pieces.sum()) - np.repeat(np.cumsum(pieces) - pieces, pieces)) / np.repeat(pieces, pieces)
    f = np.append(f, 1.0)[:, None]
    segment = np.append(segment, len(pieces) - 1)
    return (path[segment] + f * (path[segment + 1] - path[segment]),
            radii[segment] + f * (radii[segment + 1] - radii[segment]))


def tube(path: ArrayLike, radii: ArrayLike, color: Paint, n: int = 16, arc: tuple[float, float] | None = None,
         pleats: int = 0, step: float | None = None) -> Part:
    """A swept tube along a path (K, 3) with radius (K,) or elliptical radii (K, 2) and at least n
    points around; an arc (degrees, 0 = +x, 90 = +z for a downward path) leaves it open; pleats
    ripple the radius; step adds rings and points so that none are further apart (for patterns)."""
    path = np.asarray(path, float)
    radii = np.asarray(radii, float)
    radii = np.broadcast_to(radii if radii.ndim == 2 else radii.reshape(-1, 1), (len(path), 2))
    lo, hi = (0.0, 360.0) if arc is None else arc
    if step is not None:
        path, radii = _resample(path, radii, step)
        perimeter = math.radians(hi - lo) * math.sqrt((radii ** 2).sum(1).max() / 2)
        n = max(n, 2 * math.ceil(perimeter / step / 2))  # even: a closed ring stays left-right symmetric
    tangent = np.gradient(path, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    sides = np.eye(3)[[0, 2]]  # one reference axis for the whole tube (x or z, whichever stays
    side = sides[np.argmin(np.abs(tangent @ sides.T).max(0))]  # further from the path), so rings never flip
    a = side - (tangent @ side)[:, None] * tangent
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b = np.cross(tangent, a)
    phi = np.radians(np.linspace(lo, hi, n, endpoint=arc is not None))[None, :, None]
    ripple = 1 + 0.06 * np.cos(pleats * phi) if pleats else 1.0
    ra, rb = radii[:, None, :1] * ripple, radii[:, None, 1:] * ripple
    points = path[:, None] + ra * np.cos(phi) * a[:, None] + rb * np.sin(phi) * b[:, None]
    normals = np.cos(phi) / ra * a[:, None] + np.sin(phi) / rb * b[:, None]
    return rings(points, normals, color, closed=arc is None, caps=arc is None)


def bow(centre: ArrayLike, size: float, color: Color, facing: float = -1.0) -> list[Part]:
    """Two loops, a knot and two tails, on a surface facing `facing` z (-1: the back, 1: the front)."""
    centre = np.asarray(centre, float)
    parts = [ellipsoid(centre, (0.12 * size, 0.12 * size, 0.08 * size), color)]
    for side in (-1.0, 1.0):
        parts.append(ellipsoid(centre + [side * 0.3 * size, 0.05 * size, 0], (0.3 * size, 0.17 * size, 0.07 * size),
                               color, rot=rot_z(side * 20)))
        tail = centre + np.array([[0, 0, 0], [side * 0.15, -0.35, 0], [side * 0.25, -0.7, 0]]) * size
        flat = np.stack([np.full(3, 0.08 * size), np.full(3, 0.025 * size)], 1)
        parts.append(tube(tail + [0, 0, 0.03 * facing], flat, color))
    return parts
