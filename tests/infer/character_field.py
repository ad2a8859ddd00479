"""A radiance field made from a synthetic character, for tests that need a model-like field with a known
shape: occupancy by winding number on a grid, colour from the nearest surface samples, both trilinear.

Why not a trained model: a CPU test cannot train one that draws a character; this field is opaque at
the character's surface and carries its colours, so a mesh of it, a render of it and the character
itself can be compared.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from training.data.synth.characters import build_character
from training.infer.texture import face_normals, rasterize

SHARPNESS = 400.0  # sigma = 1 + SHARPNESS (occupancy - 1/2): opaque within one grid step of the surface


def outward(positions: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Faces with every connected part wound counter-clockwise from outside (positive signed volume)."""
    n = len(positions)
    adjacency = coo_matrix((np.ones(2 * len(faces)), (np.r_[faces[:, 0], faces[:, 0]], np.r_[faces[:, 1], faces[:, 2]])),
                           shape=(n, n))
    _, part = connected_components(adjacency, directed=False)
    volume = np.einsum("ij,ij->i", positions[faces[:, 0]], np.cross(positions[faces[:, 1]], positions[faces[:, 2]]))
    flip = np.bincount(part[faces[:, 0]], volume)[part[faces[:, 0]]] < 0
    faces = faces.copy()
    faces[flip] = faces[flip][:, ::-1]
    return faces


def occupancy(positions: np.ndarray, faces: np.ndarray, box: float, res: int) -> np.ndarray:
    """(res, res, res) [x, y, z] bool at the grid nodes: winding number >= 1, counted along z columns
    (a union of closed parts; an open tube such as a skirt counts as solid)."""
    step = box / (res - 1)
    # nudged off the nodes: a column through a shared edge or vertex would count its crossing twice
    pixel, tri, bary = rasterize((positions[:, :2] + box / 2) / step + 0.5 + 1e-4 * np.sqrt([2, 3]), faces, res, res)
    z = np.einsum("kc,kc->k", bary, positions[faces[tri]][..., 2])
    sign = np.sign(face_normals(positions, faces)[tri, 2])
    k = np.clip(np.floor((z + box / 2) / step).astype(int), -1, res - 1)
    crossings = np.zeros((res * res, res + 1))
    np.add.at(crossings, (pixel, k + 1), sign)
    winding = np.cumsum(crossings[:, ::-1], 1)[:, ::-1][:, 1:]  # node k: the crossings above it
    # counted from below as well, and the smaller kept: a column that grazes a fold of a part (its
    # crossings do not cancel) would otherwise stay "inside" to the back of the box
    winding = np.minimum(winding, winding - crossings.sum(1, keepdims=True))
    return (winding >= 0.5).reshape(res, res, res).transpose(1, 0, 2)  # rows were y


def surface_colours(positions: np.ndarray, faces: np.ndarray, colors: np.ndarray, box: float, res: int,
                    samples: int = 300_000) -> np.ndarray:
    """(res, res, res, 3) [x, y, z] the mean colour of the surface samples nearest each node's cell."""
    rng = np.random.default_rng(0)
    area = np.linalg.norm(face_normals(positions, faces), axis=1)
    pick = rng.choice(len(faces), samples, p=area / area.sum())
    bary = rng.dirichlet(np.ones(3), samples)
    points = np.einsum("kc,kcd->kd", bary, positions[faces[pick]])
    rgb = np.einsum("kc,kcd->kd", bary, colors[faces[pick]][..., :3].astype(np.float64))
    cell = np.clip(np.round((points + box / 2) / (box / (res - 1))).astype(int), 0, res - 1)
    flat = np.ravel_multi_index(cell.T, (res,) * 3)
    count = np.bincount(flat, minlength=res ** 3)
    mean = np.stack([np.bincount(flat, rgb[:, c], minlength=res ** 3) for c in range(3)], 1) / np.maximum(count, 1)[:, None]
    _, nearest = ndimage.distance_transform_edt((count == 0).reshape((res,) * 3), return_indices=True)
    return mean.reshape(res, res, res, 3)[tuple(nearest)]


def character_field(char_id: str, box: float = 2.1, res: int = 96):
    """(field, the character's synth mesh): sigma from the occupancy, raw RGB in [-1, 1]."""
    mesh = build_character(char_id, "body")
    positions = mesh.positions.astype(np.float64)
    faces = outward(positions, mesh.faces)
    occ = torch.from_numpy(occupancy(positions, faces, box, res).astype(np.float32))
    rgb = torch.from_numpy(surface_colours(positions, faces, mesh.colors, box, res) * 2 - 1).float()
    grid = torch.cat([occ[None], rgb.permute(3, 0, 1, 2)])[None].permute(0, 1, 4, 3, 2).contiguous()  # [c, z, y, x]

    def field(points: torch.Tensor, directions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        where = (points / (box / 2)).reshape(1, -1, 1, 1, 3).float()
        values = torch.nn.functional.grid_sample(grid, where, align_corners=True).reshape(4, -1).T
        values = values.reshape(*points.shape[:2], 4)
        return 1 + SHARPNESS * (values[..., :1] - 0.5), values[..., 1:]

    return field, mesh
