"""Meshes of a radiance field: a density grid over the box, marching cubes, vertex colours, writers.

Density grid: the field is sampled at the nodes of a regular R^3 grid spanning the preset's box
[-box_warp/2, box_warp/2]^3 (node spacing box_warp / (R - 1)), padded with one layer of zero density
so surfaces that touch the box are closed (on the box's faces). The generator's density depends on the view direction
(fusion attends over the front and back planes by ray direction), so a node's density is the mean of
``softplus(sigma - 1)`` over the ray directions of the four ortho cameras (front, back, left, right),
the views whose depth and alpha were supervised in training.

Level (``silhouette_level``, the default): the density whose isosurface has the silhouettes the model
renders. The four ortho views are marched at the neural resolution (uniform samples through the box,
each view's rays asking the field with its own direction, as the renderer does), and k = the number of
their rays with alpha > 0.5 is counted; each of those rays' lines also has a maximum of the grid's
(trilinearly interpolated) density, and the level is the one that k of them exceed: the mesh then covers
exactly as many ortho pixels as the half-opaque render, and on a body whose silhouettes are one shape
the same pixels. An order statistic, so a few odd rays move it by a few ranks. Why not a fixed
density: what a trained model reaches depends on its training (ln 2 * neural_resolution / box_warp,
a half-opaque one-pixel slab, is 42 for the body preset, above the peak of a CPU demo model's field);
why not the density where each ray's opacity crosses 0.5: on a soft profile that density falls from the
body's centre to its outline (a grazing ray crosses 0.5 only past its densest point), so its median
draws the surface inside the rendered outline. No ray with alpha > 0.5: no surface, no level, no mesh.

Vertex colours: the field's raw RGB (its first 3 feature channels, [-1, 1] -> 0..255) at each vertex,
queried with the ray direction -n, n the outward normal (the gradient of the density grid): the
colour a camera looking straight at that bit of surface sees. These are the neural render's colours,
without the super-resolution network's detail.

Writers: .ply (vertex colours), .glb and .obj (vertex colours, or for a textured mesh from
training/infer/texture.py its uvs and texture: embedded in the .glb, .mtl + .png beside the .obj).

World frame = glTF's: y up, the character faces +z, units are world units (the box is box_warp wide).
"""
from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage.measure import marching_cubes

from dnnlib.files import atomic_path, write_text_atomic
from training.data import glb
from training.model.volumetric_rendering.ray_marcher import density_from_sigma
from training.model.volumetric_rendering.renderer import Field

# ray directions of the front, back, left and right ortho cameras (training/geometry/camera.py frame)
ORTHO_DIRECTIONS = ((0.0, 0.0, -1.0), (0.0, 0.0, 1.0), (-1.0, 0.0, 0.0), (1.0, 0.0, 0.0))
MESH_FORMATS = ("ply", "glb", "obj")


@dataclass
class Mesh:
    """Triangles in world units: vertices (V, 3) float32, faces (F, 3) int32 (counter-clockwise seen
    from outside), outward unit normals (V, 3) float32, colours (V, 3) uint8 or None; a textured mesh
    (training/infer/texture.py) also has uvs (V, 2) float32 and an RGBA texture (H, W, 4) uint8 whose
    row 0 is v = 0."""

    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray
    colors: np.ndarray | None = None
    uvs: np.ndarray | None = None
    texture: np.ndarray | None = None


def grid_nodes(resolution: int, box_warp: float) -> np.ndarray:
    """Coordinates (R,) of the grid nodes along each axis, from -box_warp/2 to box_warp/2."""
    return np.linspace(-box_warp / 2, box_warp / 2, resolution, dtype=np.float64)


@torch.no_grad()
def density_grid(field: Field, box_warp: float, resolution: int = 256, chunk: int = 2 ** 18,
                 directions: tuple[tuple[float, float, float], ...] = ORTHO_DIRECTIONS,
                 device: torch.device | str = "cpu") -> np.ndarray:
    """Density (R, R, R) float32 at the nodes, indexed [x, y, z]; chunk = points per field call."""
    if resolution < 2:
        raise ValueError(f"a density grid needs at least 2 nodes per axis, got {resolution}")
    axis = torch.as_tensor(grid_nodes(resolution, box_warp), dtype=torch.float32, device=device)
    dirs = torch.tensor(directions, dtype=torch.float32, device=device)
    out = torch.empty(resolution ** 3, dtype=torch.float32)
    plane = resolution ** 2
    step = max(plane, chunk // plane * plane)  # whole x-slices per call
    for start in range(0, resolution ** 3, step):
        xi = torch.arange(start // plane, min((start + step) // plane, resolution), device=device)
        pts = torch.stack(torch.meshgrid(axis[xi], axis, axis, indexing="ij"), -1).reshape(1, -1, 3)
        total = torch.zeros(pts.shape[1], device=device)
        for d in dirs:
            sigma, _ = field(pts, d.expand_as(pts))
            total += density_from_sigma(sigma.float())[0, :, 0]
        out[start:start + pts.shape[1]] = (total / len(dirs)).cpu()
    return out.reshape(resolution, resolution, resolution).numpy()


def extract_mesh(grid: np.ndarray, box_warp: float, level: float) -> Mesh | None:
    """Marching cubes of a density grid (density_grid's layout) at level; None where nothing crosses it."""
    padded = np.pad(np.asarray(grid, dtype=np.float32), 1, constant_values=0.0)
    if not padded.max() > level:
        return None
    spacing = box_warp / (grid.shape[0] - 1)
    verts, faces, normals, _ = marching_cubes(padded, level=level, spacing=(spacing,) * 3,
                                              gradient_direction="descent", allow_degenerate=False)
    verts = np.clip(verts - (box_warp / 2 + spacing), -box_warp / 2, box_warp / 2)  # padding caps onto the box faces
    faces = faces[:, ::-1]  # skimage winds them clockwise seen from outside; glTF and PLY want counter-clockwise
    norms = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.where(norms > 0, normals / np.maximum(norms, 1e-12), 0.0)
    return Mesh(vertices=verts.astype(np.float32), faces=np.ascontiguousarray(faces, dtype=np.int32),
                normals=normals.astype(np.float32))


@torch.no_grad()
def vertex_colors(field: Field, vertices: np.ndarray, normals: np.ndarray, chunk: int = 2 ** 18,
                  device: torch.device | str = "cpu") -> np.ndarray:
    """uint8 (V, 3): the field's RGB at each vertex, seen along -normal (from outside)."""
    colors = []
    for start in range(0, len(vertices), chunk):
        pts = torch.as_tensor(vertices[start:start + chunk], dtype=torch.float32, device=device)[None]
        dirs = -torch.as_tensor(normals[start:start + chunk], dtype=torch.float32, device=device)[None]
        _, features = field(pts, dirs)
        rgb = (features[0, :, :3].float().clamp(-1, 1) + 1) * 127.5
        colors.append(rgb.round().to(torch.uint8).cpu().numpy())
    return np.concatenate(colors) if colors else np.zeros((0, 3), np.uint8)


def _interpolation_matrix(nodes: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(P, R): row p holds the linear-interpolation weights of points[p] between the R nodes."""
    return np.stack([np.interp(points, nodes, row) for row in np.eye(len(nodes))], 1)


def pixel_centres(resolution: int, box_warp: float) -> np.ndarray:
    """(N,) world coordinates of an ortho view's pixel centres along one axis (the view spans the box)."""
    return (np.arange(resolution) + 0.5) / resolution * box_warp - box_warp / 2


@torch.no_grad()
def ortho_alpha(field: Field, box_warp: float, resolution: int, samples: int, chunk: int = 2 ** 18,
                device: torch.device | str = "cpu") -> np.ndarray:
    """Alpha (4, N, N) of the ORTHO_DIRECTIONS views at N = resolution rays per side through the box,
    samples uniform samples per ray: alpha = 1 - exp(-sum density * box_warp / samples). Indexed
    [view, a, b], (a, b) = (x, y) for the views along z (front, back), (y, z) along x (left, right)."""
    centres = torch.as_tensor(pixel_centres(resolution, box_warp), dtype=torch.float32, device=device)
    t = torch.as_tensor(pixel_centres(samples, box_warp), dtype=torch.float32, device=device)
    a, b, depth = (x.reshape(-1) for x in torch.meshgrid(centres, centres, t, indexing="ij"))
    lines = {2: torch.stack([a, b, depth], -1), 0: torch.stack([depth, a, b], -1)}  # the axis the rays run along
    step = max(1, chunk // samples) * samples  # whole rays per field call
    alpha = []
    for direction in ORTHO_DIRECTIONS:
        pts = lines[0 if direction[0] else 2]
        dirs = torch.tensor(direction, dtype=torch.float32, device=device)
        density = torch.cat([density_from_sigma(field(p[None], dirs.expand_as(p)[None])[0].float())[0, :, 0]
                             for p in pts.split(step)])
        optical = density.reshape(resolution, resolution, samples).sum(-1) * (box_warp / samples)
        alpha.append(-torch.expm1(-optical).cpu().numpy())
    return np.stack(alpha)


def line_maxima(grid: np.ndarray, box_warp: float, resolution: int) -> np.ndarray:
    """(4, N, N) in ortho_alpha's layout: the maximum of the grid's trilinear interpolant along each ray's line
    (along a line it is piecewise linear between the node planes, so its maximum lies on one of them)."""
    weights = _interpolation_matrix(grid_nodes(grid.shape[0], box_warp), pixel_centres(resolution, box_warp))
    along_z = np.einsum("ix,jy,xyz->ijz", weights, weights, grid, optimize=True).max(-1)
    along_x = np.einsum("iy,jz,xyz->ijx", weights, weights, grid, optimize=True).max(-1)
    return np.stack([along_z, along_z, along_x, along_x])


def silhouette_level(alpha: np.ndarray, maxima: np.ndarray) -> float | None:
    """The level that as many ray-line maxima exceed as rays have alpha > 0.5 (module docstring): halfway
    between the k-th and (k+1)-th largest maximum (0, the padding's density, after the last); None if k = 0."""
    k = int((alpha > 0.5).sum())
    if k == 0:
        return None
    ranked = np.append(np.sort(maxima.reshape(-1))[::-1], 0.0)
    return float(ranked[k - 1] + ranked[k]) / 2


def field_level(field: Field, grid: np.ndarray, box_warp: float, neural_resolution: int, chunk: int = 2 ** 18,
                device: torch.device | str = "cpu") -> float | None:
    """The default level of this field and its density grid (module docstring); None: nothing renders
    half opaque. Rays get 2 samples per neural pixel of depth."""
    alpha = ortho_alpha(field, box_warp, neural_resolution, 2 * neural_resolution, chunk, device)
    return silhouette_level(alpha, line_maxima(grid, box_warp, neural_resolution))


def field_mesh(field: Field, box_warp: float, resolution: int = 256, level: float | None = None,
               neural_resolution: int = 128, chunk: int = 2 ** 18,
               device: torch.device | str = "cpu") -> tuple[Mesh | None, np.ndarray]:
    """Grid, level (None: field_level), marching cubes and colours in one call; returns (mesh or None,
    the density grid). No mesh where nothing crosses the level, or by default where nothing renders
    half opaque."""
    grid = density_grid(field, box_warp, resolution, chunk, device=device)
    if level is None:
        level = field_level(field, grid, box_warp, neural_resolution, chunk, device)
    mesh = None if level is None else extract_mesh(grid, box_warp, level)
    if mesh is not None:
        mesh.colors = vertex_colors(field, mesh.vertices, mesh.normals, chunk, device)
    return mesh, grid


def _rgba(mesh: Mesh) -> np.ndarray:
    colors = mesh.colors if mesh.colors is not None else np.full((len(mesh.vertices), 3), 255, np.uint8)
    return np.concatenate([colors, np.full((len(colors), 1), 255, np.uint8)], 1)


def write_ply(mesh: Mesh, path: Path) -> Path:
    """Binary little-endian PLY: float x y z, uchar red green blue alpha, faces as uchar-counted int lists."""
    vdtype = np.dtype([("p", "<f4", 3), ("c", "u1", 4)])
    vertices = np.empty(len(mesh.vertices), vdtype)
    vertices["p"], vertices["c"] = mesh.vertices, _rgba(mesh)
    fdtype = np.dtype([("n", "u1"), ("i", "<i4", 3)])
    faces = np.empty(len(mesh.faces), fdtype)
    faces["n"], faces["i"] = 3, mesh.faces
    header = ("ply\nformat binary_little_endian 1.0\ncomment NOVA-3D marching cubes, world units, y up\n"
              f"element vertex {len(vertices)}\nproperty float x\nproperty float y\nproperty float z\n"
              "property uchar red\nproperty uchar green\nproperty uchar blue\nproperty uchar alpha\n"
              f"element face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n")
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        f.write(vertices.tobytes())
        f.write(faces.tobytes())
    return Path(path)


def write_obj(mesh: Mesh, path: Path, final: Path | None = None) -> Path:
    """Wavefront OBJ: vertex colours as the common 'v x y z r g b' extension (in [0, 1]); a textured mesh
    instead gets 'vt' (v flipped: OBJ's v = 0 is the image's bottom row) and a material library
    <stem>.mtl whose map_Kd is <stem>.png, both written next to it, each whole or not at all. final: the
    name the file will have when path is a temporary one (write_mesh), which the .mtl and .png are named
    after."""
    path = Path(path)
    final = Path(final) if final is not None else path
    lines = ["# NOVA-3D marching cubes, world units, y up"]
    if mesh.texture is not None:
        lines.append(f"mtllib {final.stem}.mtl")
        lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in mesh.vertices]
        lines += [f"vt {u:.6f} {1 - v:.6f}" for u, v in mesh.uvs]
        lines += [f"vn {x:.5f} {y:.5f} {z:.5f}" for x, y, z in mesh.normals]
        lines += ["usemtl baked_texture"] + [f"f {a}/{a}/{a} {b}/{b}/{b} {c}/{c}/{c}" for a, b, c in mesh.faces + 1]
        write_text_atomic(final.with_suffix(".mtl"), f"newmtl baked_texture\nKa 0 0 0\nKd 1 1 1\nKs 0 0 0\n"
                                                     f"illum 1\nmap_Kd {final.stem}.png\n")
        with atomic_path(final.with_suffix(".png")) as tmp:
            Image.fromarray(mesh.texture[..., :3]).save(tmp)
    else:
        rgb = _rgba(mesh)[:, :3] / 255.0
        lines += [f"v {x:.6f} {y:.6f} {z:.6f} {r:.4f} {g:.4f} {b:.4f}"
                  for (x, y, z), (r, g, b) in zip(mesh.vertices, rgb)]
        lines += [f"vn {x:.5f} {y:.5f} {z:.5f}" for x, y, z in mesh.normals]
        lines += [f"f {a}//{a} {b}//{b} {c}//{c}" for a, b, c in mesh.faces + 1]
    path.write_text("\n".join(lines) + "\n")
    return path


def png_bytes(image: np.ndarray) -> bytes:
    """An (H, W, C) uint8 image as PNG file bytes."""
    out = BytesIO()
    Image.fromarray(image).save(out, format="PNG")
    return out.getvalue()


def gltf_primitive(buffer: glb.GltfBuffer, mesh: Mesh, material: int) -> dict:
    """A triangle primitive of the mesh in buffer: POSITION (with min/max), NORMAL, and TEXCOORD_0 for a
    textured mesh, else COLOR_0 (normalized unsigned byte VEC4: vertex attributes are 4-byte aligned);
    uint32 indices."""
    attributes = {"POSITION": buffer.accessor(mesh.vertices.astype(np.float32), bounds=True),
                  "NORMAL": buffer.accessor(mesh.normals.astype(np.float32))}
    if mesh.texture is not None:
        attributes["TEXCOORD_0"] = buffer.accessor(mesh.uvs.astype(np.float32))
    else:
        attributes["COLOR_0"] = buffer.accessor(_rgba(mesh), normalized=True)
    indices = buffer.accessor(mesh.faces.astype(np.uint32).reshape(-1), target=glb.ELEMENT_ARRAY_BUFFER)
    return {"attributes": attributes, "indices": indices, "material": material, "mode": 4}


def gltf_material(buffer: glb.GltfBuffer, mesh: Mesh) -> dict:
    """A double-sided, non-metallic, fully rough material: white times the vertex colours, or the baked
    texture (embedded as PNG) for a textured mesh."""
    pbr = {"baseColorFactor": [1.0, 1.0, 1.0, 1.0], "metallicFactor": 0.0, "roughnessFactor": 1.0}
    if mesh.texture is not None:
        pbr["baseColorTexture"] = {"index": buffer.image(png_bytes(mesh.texture))}
    return {"name": "baked_texture" if mesh.texture is not None else "vertex_colors", "doubleSided": True,
            "pbrMetallicRoughness": pbr}


def write_glb(mesh: Mesh, path: Path) -> Path:
    """glTF 2.0 binary: one mesh (gltf_primitive) with its material (gltf_material), through the one GLB
    writer (training/data/glb.py)."""
    document = {"asset": {"version": "2.0", "generator": "NOVA-3D training/infer/mesh.py"},
                "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0, "name": "character"}]}
    buffer = glb.GltfBuffer(document)
    document["materials"] = [gltf_material(buffer, mesh)]
    document["meshes"] = [{"primitives": [gltf_primitive(buffer, mesh, 0)]}]
    buffer.write(path)
    return Path(path)


WRITERS = {"ply": write_ply, "glb": write_glb, "obj": write_obj}


def write_mesh(mesh: Mesh, path: Path) -> Path:
    """Write by the file's suffix (.ply, .glb or .obj), whole or not at all (dnnlib/files.py)."""
    fmt = Path(path).suffix.lstrip(".").lower()
    if fmt not in WRITERS:
        raise ValueError(f"{path}: unknown mesh format '{fmt}' (choose from {', '.join(MESH_FORMATS)})")
    with atomic_path(path) as tmp:
        if fmt == "obj":
            write_obj(mesh, tmp, final=Path(path))
        else:
            WRITERS[fmt](mesh, tmp)
    return Path(path)
