"""training/infer/mesh.py: marching cubes of analytic densities, vertex colours and the mesh writers.

trimesh and pygltflib are test-only references here (library code never imports them).
"""
import math

import numpy as np
import pytest
import torch

from training.infer import mesh as M
from training.model.volumetric_rendering.ray_marcher import density_from_sigma

BOX = 2.1
RADIUS = 0.6
LEVEL = math.log(2.0)  # density softplus(0): the sphere field below crosses it exactly at RADIUS


def sphere_field(points, directions):
    """sigma = 1 + 40 (r - |p|): density softplus(40 (r - |p|)), LEVEL on the sphere; RGB = the point's
    direction from the centre and, in channels 3..5, minus the view direction (to test which one is asked)."""
    sigma = 1 + 40 * (RADIUS - points.norm(dim=-1, keepdim=True))
    return sigma, torch.cat([points / RADIUS, -directions], -1).clamp(-1, 1)


@pytest.fixture(scope="module")
def sphere():
    mesh, grid = M.field_mesh(sphere_field, BOX, resolution=64, level=LEVEL)
    return mesh, grid


def test_sphere_area_and_volume_within_2_percent(sphere):
    trimesh = pytest.importorskip("trimesh")
    mesh, _ = sphere  # 64^3 nodes over a 2.1 box: 18 grid steps per radius
    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    area, volume = 4 * math.pi * RADIUS ** 2, 4 / 3 * math.pi * RADIUS ** 3
    assert abs(tm.area / area - 1) < 0.02
    assert abs(tm.volume / volume - 1) < 0.02  # signed: positive means counter-clockwise seen from outside
    assert tm.is_watertight
    radii = np.linalg.norm(mesh.vertices, axis=1)
    assert np.abs(radii - RADIUS).max() < 0.01 * BOX


def test_normals_point_out_and_colours_are_seen_from_outside(sphere):
    mesh, _ = sphere
    outward = mesh.vertices / np.linalg.norm(mesh.vertices, axis=1, keepdims=True)
    assert (np.sum(mesh.normals * outward, 1) > 0.98).all()  # gradient normals: within 11 degrees
    expected = np.round((np.clip(mesh.vertices / RADIUS, -1, 1) + 1) * 127.5)
    assert np.abs(mesh.colors.astype(float) - expected).max() <= 1
    # the colour query's direction is -normal: channels 3..5 of the field return -direction = the normal
    seen = M.vertex_colors(lambda p, d: sphere_field(p, d)[:1] + (sphere_field(p, d)[1][..., 3:],),
                           mesh.vertices, mesh.normals)
    assert np.abs(seen.astype(float) - np.round((mesh.normals + 1) * 127.5)).max() <= 1


def test_density_grid_layout_chunks_and_directions():
    calls = []

    def field(points, directions):
        calls.append(directions[0, 0].tolist())
        return points[..., :1] * 10 + directions[..., 2:] * 3, torch.zeros(*points.shape[:2], 3)

    grid = M.density_grid(field, BOX, resolution=5, chunk=7)  # less than one x-slice: one slice per call
    nodes = torch.tensor(M.grid_nodes(5, BOX), dtype=torch.float32)
    dirs = torch.tensor(M.ORTHO_DIRECTIONS)
    expected = density_from_sigma(nodes[:, None] * 10 + dirs[None, :, 2] * 3).mean(1)
    assert grid.shape == (5, 5, 5) and grid.dtype == np.float32
    assert np.allclose(grid, expected[:, None, None].expand(5, 5, 5).numpy(), atol=1e-6)  # indexed [x, y, z]
    assert len(calls) == 5 * len(M.ORTHO_DIRECTIONS)
    assert np.array_equal(grid, M.density_grid(field, BOX, resolution=5, chunk=10 ** 6))


def test_nothing_above_the_level_gives_no_mesh():
    assert M.extract_mesh(np.full((8, 8, 8), 0.5, np.float32), BOX, level=1.0) is None
    assert M.surface_level(128, 2.1) == pytest.approx(math.log(2) * 128 / 2.1)


def test_a_box_filling_density_is_closed_by_the_padding():
    trimesh = pytest.importorskip("trimesh")
    mesh = M.extract_mesh(np.ones((6, 6, 6), np.float32), BOX, level=0.5)
    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    assert tm.is_watertight and tm.volume > 0
    assert np.abs(mesh.vertices).max() == pytest.approx(BOX / 2)  # the caps lie on the box's faces
    assert abs(tm.volume - BOX ** 3) < 1e-4


@pytest.mark.parametrize("fmt", M.MESH_FORMATS)
def test_writers_load_back_with_vertices_and_colours(sphere, fmt, tmp_path):
    trimesh = pytest.importorskip("trimesh")
    mesh, _ = sphere
    path = M.write_mesh(mesh, tmp_path / f"sphere.{fmt}")
    scene = trimesh.load(path, process=False, force="scene")
    (loaded,) = scene.geometry.values()
    assert len(loaded.vertices) == len(mesh.vertices) and len(loaded.faces) == len(mesh.faces)
    assert np.allclose(loaded.vertices, mesh.vertices, atol=1e-5 if fmt == "obj" else 0)
    assert np.array_equal(loaded.faces, mesh.faces)
    # glTF with a material: trimesh keeps COLOR_0 as a vertex attribute of its texture visual
    colors = loaded.visual.vertex_attributes["color"] if fmt == "glb" else loaded.visual.vertex_colors
    assert np.array_equal(np.asarray(colors)[:, :3], mesh.colors)


def test_glb_is_valid_gltf(sphere, tmp_path):
    pygltflib = pytest.importorskip("pygltflib")
    mesh, _ = sphere
    path = M.write_glb(mesh, tmp_path / "sphere.glb")
    data = path.read_bytes()
    assert data[:4] == b"glTF" and int.from_bytes(data[8:12], "little") == len(data) and len(data) % 4 == 0
    gltf = pygltflib.GLTF2().load(str(path))
    prim = gltf.meshes[0].primitives[0]
    acc = gltf.accessors
    assert acc[prim.attributes.POSITION].type == "VEC3" and acc[prim.attributes.POSITION].min is not None
    color = acc[prim.attributes.COLOR_0]
    assert (color.componentType, color.normalized, color.type) == (pygltflib.UNSIGNED_BYTE, True, "VEC4")
    assert acc[prim.indices].componentType == pygltflib.UNSIGNED_INT and prim.material == 0
    for view in gltf.bufferViews:
        assert view.byteOffset % 4 == 0
    with pytest.raises(ValueError, match="unknown mesh format"):
        M.write_mesh(mesh, tmp_path / "sphere.stl")
