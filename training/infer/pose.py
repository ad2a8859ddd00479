"""Putting a skinned character into VRM's rest pose, the T-pose: arms straight out along x.

VRM's humanoid expects the model at rest in a T-pose (animations are retargeted from it); our
characters stand with their arms hanging outwards. Each arm is turned by linear blend skinning: the
upper arm about the shoulder so that the shoulder-to-elbow direction becomes +-x, then the lower arm
and hand about the (moved) elbow so that the elbow-to-wrist direction does too. Every other bone stays
put. Vertices move by the skin-weighted blend of their bones' rigid transforms, normals by the blend
of the rotations (renormalised).
"""
from __future__ import annotations

import numpy as np

from training.geometry.humanoid import BONES
from training.infer.rig import Rig


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 3x3 rotation taking direction a to direction b by the shortest arc."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    axis, cos = np.cross(a, b), float(a @ b)
    sin = float(np.linalg.norm(axis))
    if sin < 1e-12:
        if cos > 0:
            return np.eye(3)
        other = np.eye(3)[np.argmin(np.abs(a))]
        axis = np.cross(a, other) / np.linalg.norm(np.cross(a, other))
        return 2 * np.outer(axis, axis) - np.eye(3)
    k = axis / sin
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + sin * cross + (1 - cos) * cross @ cross


def t_pose_transforms(rig: Rig) -> tuple[np.ndarray, Rig]:
    """((B, 4, 4) world transforms per bone in BONES order, the rig in the T-pose)."""
    transforms = np.tile(np.eye(4), (len(BONES), 1, 1))
    joints = dict(rig.joints)
    for side, name in ((1.0, "left"), (-1.0, "right")):
        shoulder, elbow, wrist = (rig.joints[f"{name}{b}"] for b in ("UpperArm", "LowerArm", "Hand"))
        out = np.array([side, 0.0, 0.0])
        upper = np.eye(4)
        upper[:3, :3] = rotation_between(elbow - shoulder, out)
        upper[:3, 3] = shoulder - upper[:3, :3] @ shoulder
        moved_elbow, moved_wrist = (upper[:3, :3] @ p + upper[:3, 3] for p in (elbow, wrist))
        turn = rotation_between(moved_wrist - moved_elbow, out)
        lower = np.eye(4)
        lower[:3, :3] = turn @ upper[:3, :3]
        lower[:3, 3] = moved_elbow - turn @ moved_elbow + turn @ upper[:3, 3]
        transforms[BONES.index(f"{name}UpperArm")] = upper
        transforms[BONES.index(f"{name}LowerArm")] = transforms[BONES.index(f"{name}Hand")] = lower
        joints[f"{name}LowerArm"] = moved_elbow
        joints[f"{name}Hand"] = moved_elbow + out * np.linalg.norm(wrist - elbow)
    return transforms, Rig(joints)


def t_pose(rig: Rig, vertices: np.ndarray, normals: np.ndarray, joints: np.ndarray,
           weights: np.ndarray) -> tuple[Rig, np.ndarray, np.ndarray]:
    """(the rig, vertices and normals in the T-pose) of a mesh skinned by joints/weights (V, 4)."""
    transforms, posed = t_pose_transforms(rig)
    blend = np.einsum("vk,vkij->vij", weights.astype(np.float64), transforms[joints.astype(np.int64)])
    moved = np.einsum("vij,vj->vi", blend[:, :3, :3], vertices.astype(np.float64)) + blend[:, :3, 3]
    turned = np.einsum("vij,vj->vi", blend[:, :3, :3], normals.astype(np.float64))
    turned /= np.maximum(np.linalg.norm(turned, axis=1, keepdims=True), 1e-12)
    return posed, moved.astype(np.float32), turned.astype(np.float32)
