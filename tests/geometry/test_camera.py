import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from training.geometry import camera
from training.geometry.camera import RenderParams
from training.data.layout import PRESETS


def release_label(elev: float, azim: float, dist: float, fov: float) -> np.ndarray:
    """The NOVA-Human release's own label formula (its 'eg3d_lustrousB' converter), written out with
    scipy as an independent reference: our labels must equal it for the released meta files."""
    focal = 0.5 / np.tan(np.radians(fov / 2))
    intr = np.array([[focal, 0, 0.5], [0, focal, 0.5], [0, 0, 1]])
    r = np.eye(4)
    r[:3, :3] = Rotation.from_euler("xyz", [elev, azim, 0], degrees=True).as_matrix().T
    r[[0, 2]] *= -1
    r[2, -1] = -dist
    extr = np.diag([-1.0, 1, -1, 1]) @ np.linalg.inv(r) @ np.diag([1.0, -1, -1, 1])
    return np.concatenate([extr.ravel(), intr.ravel()])


@pytest.mark.parametrize("elev,azim", [(0, 0), (0, 90), (15, 200), (-30, 45), (59, 359)])
def test_label_matches_release_formula_for_perspective(elev, azim):
    ours = RenderParams(elev, azim, 3.5, 30.0, 2.0, 5.0, 2.1).label().numpy()
    np.testing.assert_allclose(ours, release_label(elev, azim, 3.5, 30.0), atol=1e-5)


def test_front_camera_frame():
    pose, _ = camera.split_label(PRESETS["body"].ortho_params("front").label())
    np.testing.assert_allclose(pose[:3, 3], [0, 0, 3.5], atol=1e-6)  # on +z
    np.testing.assert_allclose(pose[:3, 2], [0, 0, -1], atol=1e-6)  # looking at -z
    np.testing.assert_allclose(pose[:3, 1], [0, -1, 0], atol=1e-6)  # image down = world -y
    left, _ = camera.split_label(PRESETS["body"].ortho_params("left").label())
    np.testing.assert_allclose(left[:3, 3], [3.5, 0, 0], atol=1e-6)  # the character's left is +x


def test_top_view_is_well_defined():
    pose, _ = camera.split_label(PRESETS["head"].ortho_params("top").label())
    rot = pose[:3, :3]
    np.testing.assert_allclose(rot.T @ rot, torch.eye(3), atol=1e-6)
    np.testing.assert_allclose(pose[:3, 2], [0, -1, 0], atol=1e-6)


def test_label_round_trip():
    gen = torch.Generator().manual_seed(0)
    elev, azim = camera.sample_views(16, gen)
    poses = camera.camera_pose(elev, azim, torch.full_like(elev, 2.0))
    intr = camera.intrinsics(30.0)
    label = camera.make_label(poses, intr)
    assert label.shape == (16, 25)
    back_pose, back_intr = camera.split_label(label)
    torch.testing.assert_close(back_pose, poses)
    torch.testing.assert_close(back_intr, intr.expand(16, 3, 3))
    params = RenderParams(10.0, 20.0, 1.0, -1.0, 0.5, 1.5, 0.7)
    assert RenderParams.from_meta(params.to_meta()) == params
    assert bool(camera.is_ortho(params.label())) and not bool(camera.is_ortho(camera.make_label(poses, intr)).any())


def test_from_meta_names_missing_fields():
    with pytest.raises(ValueError, match="lacks fov"):
        RenderParams.from_meta({"elev": 0, "azim": 0, "dist": 1, "near": 0, "far": 2, "boxwarp": 1})


def test_known_point_projects_to_expected_pixel_perspective():
    # fov 90 -> focal 0.5; a point 1 unit right and 0.5 up at depth 2 from the front camera lands at
    # u = 0.5 * 1 / 2 + 0.5 = 0.75, v = 0.5 * (-0.5) / 2 + 0.5 = 0.375.
    label = RenderParams(0.0, 0.0, 3.0, 90.0, 1.0, 5.0, 2.0).label()[None]
    uv, depth = camera.project(torch.tensor([[[1.0, 0.5, 1.0]]]), label)
    torch.testing.assert_close(uv, torch.tensor([[[0.75, 0.375]]]))
    torch.testing.assert_close(depth, torch.tensor([[2.0]]))


def test_known_point_projects_to_expected_pixel_ortho():
    # ortho width 2: x in [-1, 1] maps to u in [0, 1]; seen from the left (+x) the world -z is image right.
    label = RenderParams(0.0, 90.0, 3.0, -1.0, 1.0, 5.0, 2.0).label()[None]
    uv, depth = camera.project(torch.tensor([[[0.3, -0.5, -0.5]]]), label)
    torch.testing.assert_close(uv, torch.tensor([[[0.75, 0.75]]]))
    torch.testing.assert_close(depth, torch.tensor([[2.7]]))


@pytest.mark.parametrize("fov", [30.0, -1.0])
def test_rays_hit_their_own_pixels(fov):
    res = 8
    label = RenderParams(20.0, 135.0, 3.5, fov, 2.0, 5.0, 2.1).label()[None]
    origins, dirs = camera.ray_bundle(label, res)
    torch.testing.assert_close(dirs.norm(dim=-1), torch.ones(1, res * res))
    uv, _ = camera.project(origins + 3.0 * dirs, label)
    centres = (torch.arange(res) + 0.5) / res
    v, u = torch.meshgrid(centres, centres, indexing="ij")
    torch.testing.assert_close(uv[0], torch.stack([u.flatten(), v.flatten()], -1), atol=1e-5, rtol=0)


def test_ortho_rays_parallel_and_cover_box():
    bw, res = 2.1, 16
    params = PRESETS["body"].ortho_params("front")
    origins, dirs = camera.ray_bundle(params.label()[None], res)
    torch.testing.assert_close(dirs, torch.tensor([0.0, 0.0, -1.0]).expand_as(dirs))
    half_pixel = bw / res / 2
    xs, ys = origins[0, :, 0], origins[0, :, 1]
    assert math.isclose(xs.min().item(), -bw / 2 + half_pixel, abs_tol=1e-5)
    assert math.isclose(xs.max().item(), bw / 2 - half_pixel, abs_tol=1e-5)
    assert math.isclose(ys.max().item(), bw / 2 - half_pixel, abs_tol=1e-5)  # row 0 is the top
    assert ys[0] > ys[-1] and xs[0] < xs[res - 1]


def test_mirror_label_matches_mirrored_projection():
    label = RenderParams(25.0, 40.0, 3.5, 30.0, 2.0, 5.0, 2.1).label()[None]
    mirrored = camera.mirror_label(label)
    pts = torch.tensor([[[0.2, 0.3, -0.1], [-0.4, 0.1, 0.5]]])
    uv, _ = camera.project(pts, label)
    uv_m, _ = camera.project(pts * torch.tensor([-1.0, 1.0, 1.0]), mirrored)
    torch.testing.assert_close(uv_m[..., 0], 1 - uv[..., 0])
    torch.testing.assert_close(uv_m[..., 1], uv[..., 1])
    torch.testing.assert_close(camera.mirror_label(mirrored), label)
