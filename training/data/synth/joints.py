"""Where a synthetic character's joints are: VRM humanoid bone positions in world units (the frame of
build_character's mesh), the known answer that rig estimates are measured against.

The positions follow the generator's construction (characters.py: Skeleton.of(traits) and the limb
paths in limbs()): bone heads at the limb joints (shoulder, elbow, wrist; hip, knee, ankle), the spine
on the body's axis at the hip, waist, chest and shoulder heights, the head bone where the neck meets
the head. Left is the character's left, +x (it faces +z). The world placement is read from the mesh
itself (build_character scales and lifts the parts, so positions = scale * parts + offset).
"""
from __future__ import annotations

import math

import numpy as np

from training.geometry.humanoid import BONES
from training.data.synth.characters import Skeleton, build_character, character_parts, sample_traits


def joints_in_head_units(char_id: str) -> dict[str, np.ndarray]:
    """Bone positions in the generator's head units (feet at y = 0)."""
    t = sample_traits(np.random.default_rng(int(char_id)))
    s = Skeleton.of(t)
    joints = {"hips": (0, s.hip_y, 0), "spine": (0, s.waist_y, 0), "chest": (0, (s.waist_y + s.shoulder_y) / 2, 0),
              "neck": (0, s.shoulder_y, 0), "head": (0, s.chin_y + 0.2, -0.1)}
    arm_len, a = 0.36 * s.shoulder_y, math.radians(t.arm_angle)
    for side, name in ((1.0, "left"), (-1.0, "right")):
        shoulder = np.array([side * t.shoulder * 0.92, s.shoulder_y - 0.15, 0])
        elbow = shoulder + arm_len * 0.5 * np.array([side * math.sin(a), -math.cos(a), 0.05])
        wrist = elbow + arm_len * 0.5 * np.array([side * math.sin(a) * 0.7, -math.cos(a), 0.25])
        joints.update({f"{name}UpperArm": shoulder, f"{name}LowerArm": elbow, f"{name}Hand": wrist,
                       f"{name}UpperLeg": (side * t.hip * 0.5, s.hip_y, 0),
                       f"{name}LowerLeg": (side * t.hip * 0.45, s.knee_y, 0.05),
                       f"{name}Foot": (side * t.hip * 0.42, 0.3, 0)})
    return {name: np.asarray(joints[name], np.float64) for name in BONES}


def true_joints(char_id: str, preset: str = "body") -> tuple[dict[str, np.ndarray], float]:
    """(bone -> world position, the character's height in world units) of a body-preset character."""
    if preset != "body":
        raise ValueError(f"joints are known for the body preset's full characters, not {preset!r}")
    traits = sample_traits(np.random.default_rng(int(char_id)))
    raw = np.concatenate([p.positions for p in character_parts(traits, False)])
    world = build_character(char_id, preset).positions.astype(np.float64)
    scale = np.ptp(world[:, 1]) / np.ptp(raw[:, 1])
    offset = world[0] - scale * raw[0]
    return ({name: scale * p + offset for name, p in joints_in_head_units(char_id).items()},
            float(np.ptp(world[:, 1])))
