"""Accessories: hats (seen from both sides, but different: a cap's brim, a beret's pin and an animal
ear's pink inside face the front), a bow on the back of the head, and the back item every full
figure carries (a backpack, cape, hood, waist bow or sailor collar), seen only from behind.
"""
from __future__ import annotations

import numpy as np

from training.data.synth.clothes import back_depth
from training.data.synth.hair import cap, cap_back, cap_top
from training.data.synth.primitives import Part, bow, ellipsoid, rot_x, rot_z, tube, vertical
from training.data.synth.skeleton import Skeleton
from training.data.synth.traits import Traits

INNER_EAR = (1.0, 0.72, 0.78)


def hat(t: Traits, s: Skeleton) -> list[Part]:
    """The hat: a cap or beret in the coat's colour (an otherwise unused one without a coat), or animal
    ears in the hair's."""
    color, (_, radii), top = t.outer.base, cap(t, s), cap_top(t, s)
    if t.hat == "cap":
        dome = np.array([0, top - 0.55, -0.08])
        return [ellipsoid(dome, (radii[0] * 1.08, 0.72, radii[2] * 1.12), color, n=32),
                ellipsoid(dome + [0, -0.1, 0.95 * radii[2]], (0.75, 0.05, 0.6), color, rot=rot_x(10)),
                ellipsoid((0, top + 0.16, -0.08), (0.1, 0.06, 0.1), t.accent),
                ellipsoid(dome + [0, -0.35, -1.1 * radii[2]], (0.45, 0.2, 0.1), t.accent)]  # the strap at the back
    if t.hat == "beret":  # tilted back, a pin at the front
        centre = np.array([0, top - 0.12, -0.2])
        return [ellipsoid(centre, (1.3, 0.32, 1.3), color, rot=rot_x(-14), n=32),
                ellipsoid(centre + [0, 0.32, 0], (0.07, 0.1, 0.07), color),
                ellipsoid((0, top - 0.22, radii[2] + 0.02), (0.13, 0.13, 0.06), t.accent)]
    if t.hat == "ears":
        parts = []
        for side in (-1.0, 1.0):
            base = np.array([side * 0.6, top - 0.2, -0.15])
            parts += [ellipsoid(base + [side * 0.12, 0.35, 0], (0.28, 0.48, 0.12), t.hair, rot=rot_z(side * -22)),
                      ellipsoid(base + [side * 0.12, 0.3, 0.07], (0.16, 0.32, 0.07), INNER_EAR, rot=rot_z(side * -22))]
        return parts
    return []


def head_bow(t: Traits, s: Skeleton) -> list[Part]:
    """A bow on the back of the hair."""
    y = s.head_y + 0.35
    return bow((0, y, cap_back(t, s, y) - 0.05), 1.0, t.accent) if t.head_bow else []


def back_item(t: Traits, s: Skeleton) -> list[Part]:
    """The back-only item of a full figure."""
    b = s.build
    if t.back == "sailor_collar":
        y = s.shoulder_y - 0.3 * b
        z = -back_depth(t, s, y) + 0.02
        return [ellipsoid((0, y, z), (0.75 * t.shoulder * b, 0.5 * b, 0.05), t.collar),
                ellipsoid((0, y, z - 0.015), (0.6 * t.shoulder * b, 0.38 * b, 0.05), t.accent)]
    if t.back == "waist_bow":
        return bow((0, s.waist_y, -back_depth(t, s, s.waist_y) - 0.08), 1.6 * b, t.accent)
    if t.back == "backpack":
        chest = (s.waist_y + s.shoulder_y) / 2
        depth = back_depth(t, s, chest) + 0.05
        return [ellipsoid((0, chest, -depth - 0.3 * b), (0.8 * t.shoulder * b, 0.9 * b, 0.4 * b), t.accent),
                ellipsoid((0, chest + 0.25 * b, -depth - 0.62 * b), (0.65 * t.shoulder * b, 0.5 * b, 0.15 * b),
                          t.top.base)]
    if t.back == "hood":  # folded down on the upper back, its lining showing
        y = s.shoulder_y - 0.25 * b
        z = -back_depth(t, s, y) - 0.2 * b
        return [ellipsoid((0, y, z), (0.8 * t.shoulder * b, 0.7 * b, 0.38 * b), t.main.base),
                ellipsoid((0, y + 0.2 * b, z - 0.1 * b), (0.6 * t.shoulder * b, 0.45 * b, 0.3 * b), t.collar)]
    if t.back == "cape":  # over the shoulders, around the back and sides, to mid-thigh
        ys = np.array([s.shoulder_y + 0.2 * b, s.shoulder_y - 0.2 * b, s.waist_y, (s.hip_y + s.knee_y) / 2])
        width = (0.92 * t.shoulder + 1.3 * t.limb) * b
        depth = max(back_depth(t, s, y) for y in ys[1:]) + 0.12 * b
        spread = np.array([0.0, 1.0, 1.08, 1.2])
        rx, rz = 0.5 * b + spread * (width - 0.5 * b), 0.4 * b + spread * (depth - 0.4 * b)
        return [tube(vertical(ys), np.stack([rx, rz], 1), t.outer.base, n=40, arc=(170, 370), step=0.3)]
    return []
