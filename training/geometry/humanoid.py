"""The humanoid skeleton the avatar export writes and the synthetic characters are measured against:
VRM humanoid bone names, parent first, and each bone's parent.

The bones are every one VRM 0.x requires (a superset of VRM 1.0's required bones); left is the
character's left, which is +x in our frame (training/geometry/camera.py: the character faces +z).
"""
from __future__ import annotations

BONES = ("hips", "spine", "chest", "neck", "head", "leftUpperArm", "leftLowerArm", "leftHand", "rightUpperArm",
         "rightLowerArm", "rightHand", "leftUpperLeg", "leftLowerLeg", "leftFoot", "rightUpperLeg", "rightLowerLeg",
         "rightFoot")
PARENTS: dict[str, str | None] = {
    "hips": None, "spine": "hips", "chest": "spine", "neck": "chest", "head": "neck",
    "leftUpperArm": "chest", "leftLowerArm": "leftUpperArm", "leftHand": "leftLowerArm",
    "rightUpperArm": "chest", "rightLowerArm": "rightUpperArm", "rightHand": "rightLowerArm",
    "leftUpperLeg": "hips", "leftLowerLeg": "leftUpperLeg", "leftFoot": "leftLowerLeg",
    "rightUpperLeg": "hips", "rightLowerLeg": "rightUpperLeg", "rightFoot": "rightLowerLeg"}
