"""Where a character's parts go: key heights, joints and the torso's shape, derived from its traits.

Head units: the head's radius is about 1, the feet stand on y = 0, the character faces +z. The
proportions follow heads_tall: the total height (soles to the top of the skull) is heads_tall head
heights, and the body's widths, neck and legs grow from chibi (narrow, no neck, short legs) to
realistic (broad shoulders, long legs).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from training.data.synth.traits import HEADS_TALL, POSES, Traits

TORSO_DEPTH = 0.6  # torso depth (z) / width (x)


def _realism(t: Traits) -> float:
    """0 for the chibi end of the proportions, 1 for the realistic end."""
    return (t.heads_tall - HEADS_TALL[0]) / (HEADS_TALL[1] - HEADS_TALL[0])


@dataclass(frozen=True)
class Skeleton:
    """Key heights, the body's width scale and the arms' and legs' joints."""

    head_y: float  # centre of the skull
    chin_y: float  # bottom of the skull
    shoulder_y: float
    waist_y: float
    hip_y: float
    knee_y: float
    ankle_y: float
    build: float  # body widths (torso, limbs, feet) in head units relative to a mid-proportioned body
    arm_angle: float  # degrees from hanging straight down
    torso_ys: np.ndarray  # the torso's rings, bottom to top
    torso_rx: np.ndarray  # and their half widths

    @classmethod
    def of(cls, t: Traits) -> "Skeleton":
        r = _realism(t)
        build = 0.65 + 0.6 * r
        head_y = t.heads_tall * 2 * t.head[1] - t.head[1]
        chin_y = head_y - t.head[1]
        shoulder_y = chin_y - (0.1 + 0.45 * r)
        ankle_y = 0.3 * build  # the shoe's sole (feet()) lies 0.3 build below
        hip_y = shoulder_y * (0.42 + 0.16 * r + 0.03 * t.legs)
        waist_y = hip_y + 0.45 * (shoulder_y - hip_y)
        lo, hi = POSES[t.pose]
        ys = np.array([hip_y - 0.25 * build, hip_y, waist_y, (waist_y + shoulder_y) / 2, shoulder_y,
                       shoulder_y + 0.2 * build])
        rx = np.array([t.hip * 0.7, t.hip, t.hip * 0.75, t.shoulder * 0.85, t.shoulder * 0.9, 0.45]) * build
        return cls(head_y, chin_y, shoulder_y, waist_y, hip_y, (hip_y + ankle_y) / 2, ankle_y, build,
                   lo + t.arm_raise * (hi - lo), ys, rx)

    def torso_width(self, y: float | np.ndarray) -> float | np.ndarray:
        """The torso's half width at height y."""
        return np.interp(y, self.torso_ys, self.torso_rx)

    def torso_depth(self, y: float) -> float:
        """How far the front (and back) of the torso lies from its axis at height y."""
        return TORSO_DEPTH * float(self.torso_width(y))

    def arm(self, t: Traits, side: float) -> np.ndarray:
        """Shoulder, elbow and wrist (3, 3) of the arm on side -1 or 1; the forearm bends forward."""
        a = math.radians(self.arm_angle)
        upper = np.array([side * math.sin(a), -math.cos(a), 0.0])
        fore = upper + [0, 0, 0.3]
        length = 0.36 * self.shoulder_y
        shoulder = np.array([side * t.shoulder * 0.92 * self.build, self.shoulder_y - 0.15 * self.build, 0])
        elbow = shoulder + length / 2 * upper
        return np.stack([shoulder, elbow, elbow + length / 2 * fore / np.linalg.norm(fore)])

    def leg(self, t: Traits, side: float) -> np.ndarray:
        """Hip, knee and ankle (3, 3) of the leg on side -1 or 1, leaning out by leg_spread."""
        hip = np.array([side * t.hip * 0.5 * self.build, self.hip_y, 0])
        ankle = hip + [side * (self.hip_y - self.ankle_y) * math.tan(math.radians(t.leg_spread)),
                       self.ankle_y - self.hip_y, 0]
        return np.stack([hip, (hip + ankle) / 2 + [0, 0, 0.05 * self.build], ankle])
