"""Skin weights of a mesh for a skeleton: bone heat diffusion, at most four bones per vertex.

Bone heat (after Baran and Popovic's automatic rigging): each bone is a segment from its head to its
first child's head (leaves: hand and head continue their parent's direction, the foot runs forward to
the floor). Every vertex is attached to its nearest bone that it can "see", and the weights of bone b
solve (L + H) w_b = H p_b over the mesh: L the graph Laplacian of the mesh's edges, H_jj = HEAT (e / d_j)^2
with d_j the vertex's distance to its nearest bone and e the mean edge length, p_b the indicator of the
vertices attached to b. Diffusion along the surface gives smooth weights that follow the shape (an arm
that touches the body in space does not pull the body along, where they are not joined in the mesh).
HEAT = 10 rather than Pinocchio's 1 (whose Laplacian is the cotangent one, scaled by area): with our
unit-weight Laplacian, 1 lets a hand fused to a wide skirt carry half the skirt into the T-pose (mean
displacement of the points below the hips 0.086 world units on such a synthetic character; 0.033 at 10).
Where a hand is fused with the skirt it rests on, the skirt next to the hand still follows it.

Seeing: a bone counts for a vertex only when the vertex faces away from it (its outward normal points
away from the closest point of the segment), a cheap stand-in for Pinocchio's visibility test that stops
the side of the torso binding to an arm hanging next to it. A vertex that sees no bone takes the nearest.

Then each vertex keeps its four largest weights, renormalised to sum to 1 (glTF's JOINTS_0/WEIGHTS_0).
"""
from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import splu

from training.geometry.humanoid import BONES, PARENTS

MAX_INFLUENCES = 4
HEAT = 10.0  # how firmly a vertex holds to its nearest bone against diffusion (below)


def bone_segments(joints: dict[str, np.ndarray], vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(heads, tails) (B, 3) in BONES order (module docstring)."""
    children = {b: [c for c in BONES if PARENTS[c] == b] for b in BONES}
    floor = float(vertices[:, 1].min())
    heads, tails = [], []
    for bone in BONES:
        head = np.asarray(joints[bone], np.float64)
        if bone == "chest" or bone == "hips":
            tail = joints["neck" if bone == "chest" else "spine"]
        elif children[bone]:
            tail = joints[children[bone][0]]
        elif bone.endswith("Foot"):
            tail = np.array([head[0], floor, head[2] + (head[1] - floor)])
        else:
            parent = np.asarray(joints[PARENTS[bone]], np.float64)
            tail = head + (head - parent) * (1.0 if bone == "head" else 0.4)
        heads.append(head)
        tails.append(np.asarray(tail, np.float64))
    return np.stack(heads), np.stack(tails)


def closest_on_segments(points: np.ndarray, heads: np.ndarray, tails: np.ndarray) -> np.ndarray:
    """(V, B, 3): the closest point of each segment to each point."""
    axis = tails - heads
    t = np.einsum("vbd,bd->vb", points[:, None] - heads[None], axis) / np.maximum((axis ** 2).sum(1), 1e-12)
    return heads[None] + np.clip(t, 0, 1)[..., None] * axis[None]


def graph_laplacian(n: int, faces: np.ndarray) -> sparse.csc_matrix:
    """D - A of the mesh's edges (each edge weight 1)."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = np.unique(np.sort(edges, 1), axis=0)
    adjacency = sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    adjacency = (adjacency + adjacency.T).tocsr()
    return (sparse.diags(np.asarray(adjacency.sum(1)).ravel()) - adjacency).tocsc()


def heat_weights(vertices: np.ndarray, normals: np.ndarray, faces: np.ndarray,
                 joints: dict[str, np.ndarray]) -> np.ndarray:
    """(V, B) bone heat weights in BONES order, each row summing to 1 (before the four-bone limit)."""
    heads, tails = bone_segments(joints, vertices)
    closest = closest_on_segments(vertices.astype(np.float64), heads, tails)
    offset = vertices[:, None].astype(np.float64) - closest
    distance = np.linalg.norm(offset, axis=-1)
    sees = np.einsum("vbd,vd->vb", offset, normals.astype(np.float64)) > 0
    sees[~sees.any(1)] = True
    nearest = np.where(sees, distance, np.inf).min(1)
    attached = sees & (distance <= nearest[:, None] * 1.0001)
    edge = np.linalg.norm(vertices[faces[:, 0]] - vertices[faces[:, 1]], axis=1).mean() if len(faces) else 1.0
    heat = HEAT * (edge / np.maximum(nearest, 1e-3 * edge)) ** 2
    solver = splu((graph_laplacian(len(vertices), faces) + sparse.diags(heat)).tocsc())
    weights = solver.solve(heat[:, None] * attached.astype(np.float64))
    weights = np.clip(weights, 0, None)
    total = weights.sum(1, keepdims=True)
    return np.where(total > 0, weights / np.where(total > 0, total, 1), attached / attached.sum(1, keepdims=True))


def limit_influences(weights: np.ndarray, k: int = MAX_INFLUENCES) -> tuple[np.ndarray, np.ndarray]:
    """(joints (V, k) uint8 bone indices, weights (V, k) float32 summing to 1): the k largest per row;
    unused slots have weight 0 and bone 0 (glTF: a joint index with zero weight should be 0; the Khronos
    validator warns of each one that is not)."""
    order = np.argsort(-weights, axis=1, kind="stable")[:, :k]
    kept = np.take_along_axis(weights, order, 1)
    kept = kept / kept.sum(1, keepdims=True)
    order[kept == 0] = 0
    return order.astype(np.uint8), kept.astype(np.float32)


def skin_weights(vertices: np.ndarray, normals: np.ndarray, faces: np.ndarray,
                 joints: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """heat_weights limited to MAX_INFLUENCES bones: (joint indices (V, 4) uint8, weights (V, 4) float32)."""
    return limit_influences(heat_weights(vertices, normals, faces, joints))
