"""From a textured mesh to a rigged avatar: skeleton, skin weights, T-pose, VRM file.

Takes the simplified mesh and its textured copy (training/infer/texture.py: the atlas splits seam
vertices, ``source`` maps them back). The skeleton (training/infer/rig.py) and the skin weights
(training/infer/skin.py) are computed on the simplified mesh, whose surface is connected across the
seams, and gathered onto the textured vertices, so the two copies of a seam vertex always move
together. The mesh is then put into VRM's T-pose (training/infer/pose.py) and written
(training/infer/vrm.py).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from training.infer.mesh import Mesh
from training.infer.pose import t_pose
from training.infer.rig import Rig, estimate_rig
from training.infer.skin import skin_weights
from training.infer.vrm import AvatarMeta, write_vrm


@dataclass
class Avatar:
    """mesh: textured, in the T-pose; rig: its skeleton (T-pose); rest_rig: the skeleton as found on
    the reconstruction's own pose; joints/weights (V, 4) per textured vertex over BONES."""

    mesh: Mesh
    rig: Rig
    rest_rig: Rig
    joints: np.ndarray
    weights: np.ndarray


def make_avatar(simple: Mesh, textured: Mesh, source: np.ndarray) -> Avatar:
    """Rig, skin and T-pose a textured mesh (module docstring)."""
    rest = estimate_rig(simple.vertices, simple.faces)
    joints, weights = skin_weights(simple.vertices, simple.normals, simple.faces, rest.joints)
    rig, vertices, normals = t_pose(rest, simple.vertices, simple.normals, joints, weights)
    mesh = replace(textured, vertices=vertices[source], normals=normals[source])
    return Avatar(mesh, rig, rest, joints[source], weights[source])


def write_avatar(avatar: Avatar, path: Path, meta: AvatarMeta = AvatarMeta()) -> Path:
    """The avatar as a .vrm file (VRM version and licence from meta)."""
    return write_vrm(avatar.mesh, avatar.rig, avatar.joints, avatar.weights, path, meta)
