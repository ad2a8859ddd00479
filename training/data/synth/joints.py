"""Where a synthetic character's joints are: VRM humanoid bone positions in world units (the frame of
build_character's mesh), the known answer that rig estimates are measured against.

The positions are the generator's own (skeleton.py's Skeleton, which body.py builds the limbs and neck
from): bone heads at the limb joints (Skeleton.arm: shoulder, elbow, wrist; Skeleton.leg: hip, knee,
ankle), the spine on the body's axis at the hip, waist, chest and shoulder heights, the head bone
where the neck tube meets the head. Left is the character's left, +x (it faces +z). The world placement
is read from the mesh itself (characters.py's _fit scales and lifts the parts, so positions = scale *
parts + offset).
"""
from __future__ import annotations

import numpy as np

from training.geometry.humanoid import BONES
from training.data.synth.characters import build_character, character_parts
from training.data.synth.skeleton import Skeleton
from training.data.synth.traits import sample_traits

NECK_TOP = (0.25, -0.1)  # body.head_and_face's neck ends this far above the chin (y) and behind the axis (z)


def joints_in_head_units(char_id: str) -> dict[str, np.ndarray]:
    """Bone positions in the generator's head units (feet at y = 0)."""
    t = sample_traits(np.random.default_rng(int(char_id)))
    s = Skeleton.of(t)
    joints = {"hips": (0, s.hip_y, 0), "spine": (0, s.waist_y, 0), "chest": (0, (s.waist_y + s.shoulder_y) / 2, 0),
              "neck": (0, s.shoulder_y, 0), "head": (0, s.chin_y + NECK_TOP[0], NECK_TOP[1])}
    for side, name in ((1.0, "left"), (-1.0, "right")):
        shoulder, elbow, wrist = s.arm(t, side)
        hip, knee, ankle = s.leg(t, side)
        joints.update({f"{name}UpperArm": shoulder, f"{name}LowerArm": elbow, f"{name}Hand": wrist,
                       f"{name}UpperLeg": hip, f"{name}LowerLeg": knee, f"{name}Foot": ankle})
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
