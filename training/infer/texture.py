"""A marching-cubes mesh made light and textured: quadric simplification, a UV atlas, a baked texture.

Simplification: fast-simplification's quadric edge collapse (Garland-Heckbert) to a target face count;
normals are recomputed (area-weighted) on the result. Atlas: xatlas cuts the mesh into charts and packs
them into a square of the texture's size with a few texels of padding; a vertex on a chart seam is split
into one per chart, so the textured mesh has more vertices than the simplified one and ``source`` maps
each back (anything per vertex, such as skin weights, is computed before the atlas and gathered, so a
seam never opens).

Bake: each texel whose centre lies in a chart triangle gets the surface point and the interpolated
normal n there, and the field's raw RGB at that point seen along -n (as training/infer/mesh.py's vertex
colours: what a camera looking straight at that bit of surface sees); empty texels take their nearest
filled texel's colour, so bilinear filtering and mipmaps never pull in black across a chart border.
Texture row 0 is v = 0 (glTF's convention; the OBJ writer flips v).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from scipy import ndimage

from training.infer.mesh import Mesh, vertex_colors
from training.model.volumetric_rendering.renderer import Field

DEFAULT_FACES = 40_000
DEFAULT_TEXTURE = 1024
ATLAS_PADDING = 4  # texels between charts


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(F, 3) cross products of the triangles' edges: outward (counter-clockwise), length 2 x area."""
    tri = vertices[faces].astype(np.float64)
    return np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) float32 area-weighted unit vertex normals (zero for a vertex in no face)."""
    normals = np.zeros((len(vertices), 3))
    cross = face_normals(vertices, faces)
    for k in range(3):
        np.add.at(normals, faces[:, k], cross)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return (normals / np.maximum(length, 1e-12)).astype(np.float32)


def simplify(mesh: Mesh, faces: int) -> Mesh:
    """The mesh with at most about `faces` triangles (unchanged when it has no more); colours dropped."""
    if len(mesh.faces) <= faces:
        return replace(mesh, colors=None)
    import fast_simplification

    points, tris = fast_simplification.simplify(mesh.vertices.astype(np.float32), mesh.faces.astype(np.int32),
                                                target_count=faces)
    points, tris = np.asarray(points, np.float32), np.asarray(tris, np.int32)
    area = np.linalg.norm(face_normals(points, tris), axis=1)
    tris = tris[area > 0]
    used = np.unique(tris)
    remap = np.full(len(points), -1, np.int32)
    remap[used] = np.arange(len(used), dtype=np.int32)
    points, tris = points[used], remap[tris]
    return Mesh(vertices=points, faces=np.ascontiguousarray(tris), normals=vertex_normals(points, tris))


def rasterize(points: np.ndarray, faces: np.ndarray, width: int, height: int,
              max_pixels: int = 2 ** 22) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (pixel, triangle) pair whose pixel centre lies in the 2D triangle (edges included).

    points (V, 2) in pixel units (pixel (r, c) has its centre at x = c + 0.5, y = r + 0.5); returns
    flat pixel indices r * width + c (K,), triangle indices (K,) and barycentric weights (K, 3).
    Triangles are grouped by the size of their pixel bounding box and tested all at once per group.
    """
    tri = points[faces].astype(np.float64)
    lo = np.clip(np.ceil(tri.min(1) - 0.5), 0, [width, height]).astype(np.int64)
    hi = np.clip(np.floor(tri.max(1) - 0.5), -1, [width - 1, height - 1]).astype(np.int64)
    span = np.maximum(hi - lo + 1, 0)
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    keep = (span.prod(1) > 0) & (np.abs(det) > 1e-12)
    pixels, owners, weights = [], [], []
    for size in np.unique(span[keep], axis=0):
        group = np.nonzero(keep & (span == size).all(1))[0]
        dx, dy = np.meshgrid(np.arange(size[0]), np.arange(size[1]))
        offsets = np.stack([dx.ravel(), dy.ravel()], 1)
        for part in np.array_split(group, max(1, len(group) * len(offsets) // max_pixels + 1)):
            cells = lo[part, None, :] + offsets[None]  # (T, P, 2) as (c, r)
            d = cells + 0.5 - tri[part, None, 0]
            b1 = (d[..., 0] * e2[part, None, 1] - d[..., 1] * e2[part, None, 0]) / det[part, None]
            b2 = (e1[part, None, 0] * d[..., 1] - e1[part, None, 1] * d[..., 0]) / det[part, None]
            b0 = 1 - b1 - b2
            eps = -1e-9
            inside = (b0 >= eps) & (b1 >= eps) & (b2 >= eps)
            t, p = np.nonzero(inside)
            pixels.append(cells[t, p, 1] * width + cells[t, p, 0])
            owners.append(part[t])
            weights.append(np.stack([b0[t, p], b1[t, p], b2[t, p]], 1))
    if not pixels:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 3))
    return np.concatenate(pixels), np.concatenate(owners), np.concatenate(weights)


def uv_atlas(mesh: Mesh, size: int = DEFAULT_TEXTURE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """xatlas charts packed into size x size texels: (source vertex (V',), faces (F, 3) over the new
    vertices, uv (V', 2) in [0, 1])."""
    import xatlas

    atlas = xatlas.Atlas()
    atlas.add_mesh(mesh.vertices.astype(np.float32), mesh.faces.astype(np.uint32), mesh.normals.astype(np.float32))
    pack = xatlas.PackOptions()
    pack.resolution, pack.padding, pack.bilinear = size, ATLAS_PADDING, True
    atlas.generate(xatlas.ChartOptions(), pack)
    source, faces, uvs = atlas[0]
    return source.astype(np.int64), faces.astype(np.int32), uvs.astype(np.float32)


def fill_empty(texture: np.ndarray, filled: np.ndarray) -> np.ndarray:
    """Each texel where filled is False takes the value of its nearest filled texel."""
    if filled.all() or not filled.any():
        return texture
    _, (rows, cols) = ndimage.distance_transform_edt(~filled, return_indices=True)
    return texture[rows, cols]


def bake(field: Field, mesh: Mesh, uvs: np.ndarray, size: int, chunk: int = 2 ** 18,
         device: torch.device | str = "cpu") -> np.ndarray:
    """(size, size, 4) uint8 RGBA texture of the field's colour on the mesh's surface (module docstring)."""
    pixels, owner, bary = rasterize(uvs * size, mesh.faces, size, size)
    pixels, first = np.unique(pixels, return_index=True)  # a texel on a shared edge: either triangle
    owner, bary = owner[first], bary[first]
    corners = mesh.faces[owner]
    points = np.einsum("kc,kcd->kd", bary, mesh.vertices[corners].astype(np.float64))
    normals = np.einsum("kc,kcd->kd", bary, mesh.normals[corners].astype(np.float64))
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    texture = np.zeros((size * size, 3), np.uint8)
    texture[pixels] = vertex_colors(field, points.astype(np.float32), normals.astype(np.float32), chunk, device)
    filled = np.zeros(size * size, bool)
    filled[pixels] = True
    rgb = fill_empty(texture.reshape(size, size, 3), filled.reshape(size, size))
    return np.concatenate([rgb, np.full((size, size, 1), 255, np.uint8)], -1)


def textured_mesh(field: Field, mesh: Mesh, faces: int = DEFAULT_FACES, size: int = DEFAULT_TEXTURE,
                  chunk: int = 2 ** 18, device: torch.device | str = "cpu") -> tuple[Mesh, Mesh, np.ndarray]:
    """Simplify, atlas and bake in one call: (the simplified mesh with vertex colours, the textured mesh
    with uvs and texture, source (V',): the simplified vertex each textured vertex was split from)."""
    simple = simplify(mesh, faces)
    simple.colors = vertex_colors(field, simple.vertices, simple.normals, chunk, device)
    source, atlas_faces, uvs = uv_atlas(simple, size)
    textured = Mesh(vertices=simple.vertices[source], faces=atlas_faces, normals=simple.normals[source],
                    colors=simple.colors[source], uvs=uvs)
    textured.texture = bake(field, textured, uvs, size, chunk, device)
    return simple, textured, source
