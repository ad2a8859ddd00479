"""The headless renderer on its own: known geometry, analytic silhouettes, the texture path, EGL errors."""
import math

import numpy as np
import pytest
import torch

from training.data.synth import gl_render
from training.data.synth.gl_render import Mesh, MeshRenderer, RendererUnavailable
from training.geometry.camera import project
from training.data.layout import PRESETS

RES = 64
BODY = PRESETS["body"]
FACE_COLORS = {"+x": (1, 0, 0), "-x": (0, 1, 1), "+y": (0, 1, 0), "-y": (1, 0, 1), "+z": (0, 0, 1), "-z": (1, 1, 0)}


def unit_cube() -> Mesh:
    """Side 1 at the origin, one flat colour per face (4 own vertices per face)."""
    positions, colors, faces = [], [], []
    for name, color in FACE_COLORS.items():
        axis, sign = "xyz".index(name[1]), 1.0 if name[0] == "+" else -1.0
        u, v = [a for a in range(3) if a != axis]
        for du, dv in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            p = np.zeros(3)
            p[axis], p[u], p[v] = 0.5 * sign, 0.5 * du, 0.5 * dv
            positions.append(p)
            colors.append((*color, 1.0))
        base = len(positions) - 4
        faces += [(base, base + 1, base + 2), (base, base + 2, base + 3)]
    return Mesh(np.array(positions, np.float32), np.array(faces, np.int32), np.array(colors, np.float32))


@pytest.fixture(scope="module")
def renderer():
    r = MeshRenderer(RES)
    yield r
    r.release()


def render(renderer, mesh, params):
    return renderer.render(mesh, params.label(), params.near, params.far)


@pytest.mark.parametrize("ortho", [True, False])
def test_cube_front_colour_and_silhouette(renderer, ortho):
    params = BODY.params(0, 0, ortho=ortho)
    out = render(renderer, unit_cube(), params)
    assert tuple(out.rgba[RES // 2, RES // 2]) == (0, 0, 255, 255)  # the +z face faces the front camera
    # Silhouette side in pixels: ortho maps the box width bw onto R pixels; perspective sees the
    # front face (z = 0.5) at distance dist - 0.5 with normalised focal 0.5 / tan(fov / 2).
    focal = 0.5 / math.tan(math.radians(BODY.fov) / 2)
    side = RES / BODY.boxwarp if ortho else focal * RES / (BODY.dist - 0.5)
    # Mask pixels are those at least 8/9 covered: the count can differ from the area by at most
    # the pixels the boundary crosses (perimeter 4 * side, each at most one pixel).
    assert abs(out.mask.sum() - side**2) < 4 * side
    assert (out.rgba[..., 3] > 0).sum() >= out.mask.sum()
    row = out.rgba[RES // 2, :, 3]
    # coverage along a row integrates to the side length, up to the 1/3-pixel sample columns (3x3
    # supersampling): at most 1/6 pixel at each edge
    assert abs(row.sum() / 255 - side) < 1 / 3


def test_rotated_cube_silhouette_and_sides(renderer):
    params = BODY.params(0, 45, ortho=True)  # sees the +z and +x faces, sqrt(2) wide
    out = render(renderer, unit_cube(), params)
    side = RES / BODY.boxwarp
    assert abs(out.mask.sum() - math.sqrt(2) * side**2) < 4 * math.sqrt(2) * side
    row = out.rgba[RES // 2]
    cols = np.nonzero(out.mask[RES // 2])[0]
    # image x runs to the camera's right: at azimuth 45 the camera's right is +x, -z on its left
    assert tuple(row[cols[2], :3]) == (0, 0, 255) and tuple(row[cols[-3], :3]) == (255, 0, 0)


def test_xyz_is_the_surface_under_the_pixel_centre(renderer):
    for params in (BODY.params(20, 30), BODY.params(-10, 200, ortho=True)):
        out = render(renderer, unit_cube(), params)
        rows, cols = np.nonzero(out.mask)
        uv, _ = project(torch.from_numpy(out.xyz[rows, cols])[None], params.label()[None])
        err = uv[0].numpy() * RES - np.stack([cols + 0.5, rows + 0.5], -1)
        assert np.abs(err).max() < 0.05
        assert np.abs(out.xyz[out.mask]).max() <= 0.5 + 1e-5  # on the cube
        assert not out.xyz[~out.hit].any() and out.hit[out.mask].all()


def test_texture_multiplies_vertex_colours(renderer):
    """A front-facing quad with a 2x2 texture: each quadrant shows its texel (the VRM path)."""
    positions = np.array([[-0.5, -0.5, 0], [0.5, -0.5, 0], [0.5, 0.5, 0], [-0.5, 0.5, 0]], np.float32)
    uvs = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
    quadrants = np.array([[[255, 0, 0, 255], [0, 255, 0, 255]], [[0, 0, 255, 255], [255, 255, 255, 0]]], np.uint8)
    texels = quadrants.repeat(8, 0).repeat(8, 1)  # 8x8 blocks: linear filtering stays inside a block
    mesh = Mesh(positions, np.array([[0, 1, 2], [0, 2, 3]], np.int32), np.ones((4, 4), np.float32), uvs, texels)
    out = render(renderer, mesh, BODY.params(0, 0, ortho=True))
    c, q = RES // 2, int(0.25 * RES / BODY.boxwarp)
    # texture row 0 is v = 0 (world bottom); image row 0 is the top
    assert tuple(out.rgba[c + q, c - q]) == (255, 0, 0, 255)
    assert tuple(out.rgba[c + q, c + q]) == (0, 255, 0, 255)
    assert tuple(out.rgba[c - q, c - q]) == (0, 0, 255, 255)
    assert out.rgba[c - q, c + q, 3] == 0  # texel alpha 0 is cut out
    again = render(renderer, mesh, BODY.params(0, 0, ortho=True))  # reuses the uploaded mesh
    assert (again.rgba == out.rgba).all()
    both = render(renderer, [unit_cube(), mesh], BODY.params(0, 0, ortho=True))  # several meshes, one depth test
    assert tuple(both.rgba[c + q, c - q]) == (0, 0, 255, 255)  # the cube's front (z = 0.5) hides the quad (z = 0)


def test_missing_egl_names_the_packages(monkeypatch):
    import moderngl

    def fail(**_kwargs):
        raise Exception("libEGL.so.1: cannot open shared object file")
    monkeypatch.setattr(moderngl, "create_standalone_context", fail)
    with pytest.raises(RendererUnavailable) as info:
        gl_render.MeshRenderer(8)
    message = str(info.value)
    assert "\n" not in message and "libegl1 libgl1-mesa-dri" in message and "mesalib" in message
