"""training/infer/texture.py: simplification, the UV atlas and the baked texture, rendered back.

The known answer: a field made from a synthetic character (tests/infer/character_field.py), meshed,
simplified, atlased and baked, then drawn by the GL renderer from the front ortho camera, against the
project's volume renderer drawing the same field from the same camera.
"""
import numpy as np
import pytest
import torch

from training.data.layout import PRESETS
from training.data.synth.gl_render import Mesh as GLMesh, MeshRenderer
from training.data.synth.gltf import load_model
from training.infer import mesh as M, texture as T
from training.metrics.image import psnr
from training.model.volumetric_rendering.renderer import RenderConfig, VolumeRenderer

BOX, PX = 2.1, 128


def test_rasterize_covers_each_pixel_centre_once():
    square = np.array([[0, 0], [5, 0], [5, 4], [0, 4]], float) + 0.01
    pixel, tri, bary = T.rasterize(square, np.array([[0, 1, 2], [0, 2, 3]]), 6, 6)
    assert sorted(pixel) == sorted(r * 6 + c for r in range(4) for c in range(5))
    centres = np.stack([pixel % 6 + 0.5, pixel // 6 + 0.5], 1)
    assert np.allclose(np.einsum("kc,kcd->kd", bary, square[np.array([[0, 1, 2], [0, 2, 3]])[tri]]), centres)


@pytest.fixture(scope="module")
def baked(synthetic_avatar):
    a = synthetic_avatar  # tests/infer/conftest.py
    return a.field, a.synth, a.mesh, a.simple, a.textured, a.source


def test_simplified_to_the_face_count_with_the_shape_kept(baked):
    _, _, mesh, simple, textured, source = baked
    assert len(simple.faces) <= 8000 < len(mesh.faces)
    assert np.array_equal(textured.vertices, simple.vertices[source])  # seams split vertices, never move them
    assert textured.uvs.min() >= 0 and textured.uvs.max() <= 1
    lo, hi = mesh.vertices.min(0), mesh.vertices.max(0)
    assert np.abs(simple.vertices.min(0) - lo).max() < 0.01 * BOX and np.abs(simple.vertices.max(0) - hi).max() < 0.01 * BOX


def front_views(field, textured) -> tuple[np.ndarray, np.ndarray]:
    """The field's volume render and the textured mesh's GL render, both on white, (PX, PX, 3) in [0, 1]."""
    preset = PRESETS["body"]
    label = preset.ortho_params("front").label()
    with torch.no_grad():
        out = VolumeRenderer(RenderConfig(box_warp=BOX, n_coarse=64, n_fine=64)).eval()(
            field, label[None], PX, preset.near, preset.far)
    volume = ((out.rgb[0].permute(1, 2, 0).clamp(-1, 1) + 1) / 2).numpy()
    renderer = MeshRenderer(PX)
    try:
        gl = GLMesh(positions=textured.vertices, faces=textured.faces, colors=np.ones((len(textured.vertices), 4)),
                    uvs=textured.uvs, texture=textured.texture)
        rgba = renderer.render(gl, label, preset.near, preset.far).rgba / 255.0
    finally:
        renderer.release()
    return volume, rgba[..., :3] * rgba[..., 3:] + 1 - rgba[..., 3:]


def test_baked_texture_rendered_back_matches_the_fields_front_render(baked):
    field, _, _, _, textured, _ = baked
    volume, drawn = front_views(field, textured)
    score = float(psnr(torch.from_numpy(drawn).permute(2, 0, 1)[None], torch.from_numpy(volume).permute(2, 0, 1)[None]))
    print(f"texture PSNR front {score:.2f} dB")
    assert score >= 25.0


def test_textured_files_load_back(baked, tmp_path):
    _, _, _, _, textured, _ = baked
    glb = M.write_mesh(textured, tmp_path / "mesh.glb")
    model = load_model(glb)
    (prim,) = model.primitives
    assert np.array_equal(model.materials[prim.material].texture[..., :3], textured.texture[..., :3])
    assert np.allclose(prim.uvs, textured.uvs) and np.allclose(prim.positions, textured.vertices, atol=1e-6)
    M.write_mesh(textured, tmp_path / "mesh.obj")
    assert "map_Kd mesh.png" in (tmp_path / "mesh.mtl").read_text()
    assert "mtllib mesh.mtl" in (tmp_path / "mesh.obj").read_text()  # not the temporary file's name
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left
    trimesh = pytest.importorskip("trimesh")
    loaded = trimesh.load(tmp_path / "mesh.obj", process=False)
    assert len(loaded.faces) == len(textured.faces)
    image = np.asarray(loaded.visual.material.image.convert("RGB"))
    u, v = textured.uvs[0]  # OBJ's v runs up the image: trimesh's uv of vertex 0 looks up the same texel
    assert np.allclose(loaded.visual.uv[0], [u, 1 - v], atol=1e-5) and image.shape == textured.texture[..., :3].shape
