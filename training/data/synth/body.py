"""The body: torso, arms and legs (painted with the clothes), hands, shoes, neck, head and the face.

The face (eyes with iris, pupil and highlight, brows, mouth, optional blush) is the detail every
character shows only from the front.
"""
from __future__ import annotations

import math

import numpy as np

from training.data.synth import clothes
from training.data.synth.primitives import Part, ellipsoid, rot_z, tube, vertical
from training.data.synth.skeleton import TORSO_DEPTH, Skeleton
from training.data.synth.traits import Traits


def torso(t: Traits, s: Skeleton) -> list[Part]:
    step = clothes.ring_step(t.top, t.top if t.outfit == "dress" else t.bottom)
    return [tube(vertical(s.torso_ys), np.stack([s.torso_rx, s.torso_rx * TORSO_DEPTH], 1), clothes.torso_paint(t, s),
                 n=48, step=step)]


def _aligned(direction: np.ndarray) -> np.ndarray:
    """The rotation about z that turns -y towards direction's (x, y)."""
    return rot_z(math.degrees(math.atan2(direction[0], -direction[1])))


def limbs(t: Traits, s: Skeleton) -> list[Part]:
    """Arms (shoulder joint, sleeve, hand along the forearm) and legs (shoe at the ankle)."""
    parts, b = [], s.build
    sleeve = clothes.ring_step(t.outer if t.outfit == "coat" else t.top)
    legwear = clothes.ring_step(t.bottom) if t.outfit in ("trousers", "shorts", "coat") else clothes.PLAIN_STEP
    for side in (-1.0, 1.0):
        arm = s.arm(t, side)
        paint = clothes.arm_paint(t, s, arm)
        radius = t.limb * b
        forearm = (arm[2] - arm[1]) / np.linalg.norm(arm[2] - arm[1])
        parts += [ellipsoid(arm[0], (radius * 1.15,) * 3, paint, n=16),
                  tube(arm, [radius * 1.1, radius * 0.9, radius * 0.7], paint, n=20, step=sleeve),
                  ellipsoid(arm[2] + 0.2 * b * forearm, (0.16 * b, 0.25 * b, 0.12 * b), t.skin, rot=_aligned(forearm),
                            n=16)]
        leg = s.leg(t, side)
        parts += [tube(leg, [radius * 1.5, radius * 1.1, radius * 0.8], clothes.leg_paint(t, s, leg), n=24,
                       step=legwear),
                  ellipsoid(leg[2] + [0, -0.1 * b, 0.22 * b], (0.26 * b, 0.2 * b, 0.5 * b), t.shoes, n=16)]
    return parts


def on_head(t: Traits, s: Skeleton, x: float, y: float, lift: float = 0.0) -> np.ndarray:
    """The point of the head's front surface above (x, y), pushed out by lift."""
    rx, ry, rz = t.head
    z = rz * math.sqrt(max(1 - (x / rx) ** 2 - ((y - s.head_y) / ry) ** 2, 0.0))
    return np.array([x, y, z + lift])


def skull(t: Traits, s: Skeleton) -> Part:
    return ellipsoid((0, s.head_y, 0), t.head, t.skin, n=40)


def head_and_face(t: Traits, s: Skeleton, bust: bool) -> list[Part]:
    """Neck, head, and the front-only face (its ellipsoids coarser in a full figure, where they
    cover a few pixels)."""
    face_n = 24 if bust else 12
    neck = tube([[0, s.shoulder_y, 0], [0, s.chin_y + 0.25, -0.1]], 0.3 * min(s.build, 1.0), t.skin)
    parts, eye_y = [neck, skull(t, s)], s.head_y - 0.18
    for side in (-1.0, 1.0):
        eye = on_head(t, s, side * 0.38, eye_y, -0.02)
        parts += [ellipsoid(eye, (0.19, 0.25, 0.07), (1, 1, 1), n=face_n),
                  ellipsoid(eye + [0, -0.02, 0.02], (0.13, 0.19, 0.07), t.eyes, n=face_n),
                  ellipsoid(eye + [0, -0.04, 0.04], (0.07, 0.1, 0.06), (0.08, 0.05, 0.1), n=face_n),
                  ellipsoid(eye + [side * 0.05, 0.08, 0.08], (0.04, 0.04, 0.02), (1, 1, 1), n=face_n),
                  ellipsoid(on_head(t, s, side * 0.38, eye_y + 0.35, -0.02), (0.18, 0.035, 0.05),
                            np.asarray(t.hair) * 0.5, rot=rot_z(side * -8), n=face_n)]
        if t.blush:
            parts.append(ellipsoid(on_head(t, s, side * 0.45, eye_y - 0.3, -0.02), (0.14, 0.06, 0.04),
                                   (1.0, 0.6, 0.65), n=face_n))
    parts.append(ellipsoid(on_head(t, s, 0, s.head_y - 0.62, -0.02), (0.12, 0.04, 0.04), (0.75, 0.2, 0.25),
                           n=face_n))
    return parts
