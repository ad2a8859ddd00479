import shutil

import pytest
import torch

from training.geometry import camera
from training.data.layout import PRESETS, Renderset, read_split, split_path
from training.data.dataset import DatasetConfig, NovaHumanDataset, make_loader
from training.data.checks import DatasetError


def _dataset(root, preset="body", **kw) -> NovaHumanDataset:
    return NovaHumanDataset(DatasetConfig(root=str(root), preset=preset, **kw))


@pytest.mark.parametrize("preset", ["body", "head"])
def test_item_shapes_and_ranges(preset, body_root, head_root):
    root = body_root if preset == "body" else head_root
    ds = _dataset(root, preset, resolution=16, cond_resolution=32, views_per_item=2)
    item = ds[0]
    assert item["cond_front"].shape == item["cond_back"].shape == (3, 32, 32)
    assert item["ortho_rgb"].shape == (4, 3, 16, 16) and item["ortho_xyz"].shape == (4, 3, 16, 16)
    assert item["ortho_mask"].shape == item["ortho_alpha"].shape == (4, 1, 16, 16)
    assert item["ortho_label"].shape == (4, 25) and item["views_label"].shape == (2, 25)
    assert item["views_rgb"].shape == (2, 3, 16, 16)
    for key in ("cond_front", "ortho_rgb", "views_rgb"):
        assert item[key].min() >= -1 and item[key].max() <= 1
    assert set(item["ortho_mask"].unique().tolist()) <= {0.0, 1.0}
    bw = PRESETS[preset].boxwarp
    fg = item["ortho_alpha"][:, 0] > 0.99
    assert fg.any() and item["ortho_xyz"].abs().max() <= bw / 2 + 1e-6
    corners = item["ortho_rgb"][:, :, [0, 0, -1, -1], [0, -1, 0, -1]]  # nothing there: white background
    assert torch.equal(corners, torch.ones_like(corners))
    assert camera.is_ortho(item["ortho_label"]).all() and not camera.is_ortho(item["views_label"]).any()


def _assert_xyz_on_own_pixels(xyz, alpha, label, res, tol_px):
    fg = alpha[0] > 0.99
    pts = xyz.permute(1, 2, 0)[fg]
    uv, _ = camera.project(pts[None], label[None])
    rows, cols = torch.nonzero(fg, as_tuple=True)
    err = (uv[0] * res - 0.5 - torch.stack([cols, rows], -1).float()).abs().max()
    assert err < tol_px, f"max reprojection error {err:.2f} px"


def test_served_xyz_and_cameras_agree_also_when_mirrored(body_root):
    # xyz is nearest-resampled from 32 to 16 px, so a point can sit anywhere in its 2x2 source block
    # (0.5 px at 16 px) plus the 8-bit quantisation (2.1/255 world units, ~0.1 px here).
    ds = _dataset(body_root, resolution=16, mirror=True)
    n = len(ds) // 2
    for index in (0, n):
        item = ds[index]
        for k in range(4):
            _assert_xyz_on_own_pixels(item["ortho_xyz"][k], item["ortho_alpha"][k], item["ortho_label"][k], 16, 0.8)
        _assert_xyz_on_own_pixels(item["views_xyz"][0], item["views_alpha"][0], item["views_label"][0], 16, 0.8)


def test_mirror_round_trip(body_root):
    ds = _dataset(body_root, resolution=16, mirror=True)
    n = len(ds) // 2
    plain, mirrored = ds[1], ds[1 + n]
    assert mirrored["mirrored"] and not plain["mirrored"] and plain["id"] == mirrored["id"]
    swap = [0, 1, 3, 2]  # front, back, right, left
    flip = torch.tensor([-1.0, 1.0, 1.0])[:, None, None]
    torch.testing.assert_close(mirrored["cond_front"].flip(-1), plain["cond_front"])
    torch.testing.assert_close(mirrored["ortho_rgb"][swap].flip(-1), plain["ortho_rgb"])
    torch.testing.assert_close(mirrored["ortho_mask"][swap].flip(-1), plain["ortho_mask"])
    torch.testing.assert_close((mirrored["ortho_xyz"][swap] * flip).flip(-1), plain["ortho_xyz"])
    torch.testing.assert_close(camera.mirror_label(mirrored["ortho_label"][swap]), plain["ortho_label"])


def test_views_are_deterministic_per_epoch(body_root):
    ds = _dataset(body_root, resolution=16, views_per_item=1)
    labels = [ds[0]["views_label"] for _ in range(2)]
    torch.testing.assert_close(labels[0], labels[1])
    seen = set()
    for epoch in range(8):
        seen.add(tuple(ds[(0, epoch)]["views_label"][0].tolist()))
    assert len(seen) > 1  # a different random view is drawn in other epochs


def test_loader_with_workers(body_root):
    ds = _dataset(body_root, resolution=16, cond_resolution=16)
    batch = next(iter(make_loader(ds, batch_size=2, shuffle=True, num_workers=2)))
    assert batch["ortho_rgb"].shape == (2, 4, 3, 16, 16) and len(batch["id"]) == 2


def test_split_lists_match(body_root):
    for split in ("train", "val", "test"):
        ds = _dataset(body_root, split=split)
        assert ds.ids == read_split(split_path(body_root, "human_rutileEB", split))


def test_bad_files_raise_one_line_naming_the_file(body_root, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(body_root, root)
    ds = _dataset(root, resolution=16)
    rs = Renderset(root, "human_rutileE")
    char_id = ds.ids[0]
    front = rs.path("ortho", char_id, "front")
    front.write_bytes(front.read_bytes()[:60])
    with pytest.raises(DatasetError) as err:
        ds[0]
    assert str(front) in str(err.value) and "\n" not in str(err.value)
    rs.path("ortho", char_id, "front").unlink()
    with pytest.raises(DatasetError, match="missing file"):
        ds[0]
    split_path(root, "human_rutileEB", "train").write_text("123456789\n")
    with pytest.raises(DatasetError, match="id 123456789 is not in"):
        _dataset(root)


def test_silhouettes_are_served_only_when_asked(body_root):
    """Training never reads the condition images' alpha: it is served for inference's carving alone, and
    then it is the ortho front/back alpha (flipped with the images when mirrored)."""
    assert not any(k.startswith("silhouette_") for k in _dataset(body_root, resolution=16)[0])
    ds = _dataset(body_root, resolution=32, cond_resolution=32, mirror=True, silhouettes=True)
    n = len(ds) // 2
    plain, mirrored = ds[1], ds[1 + n]
    assert plain["silhouette_front"].shape == (1, 32, 32)
    torch.testing.assert_close(plain["silhouette_front"], plain["ortho_alpha"][0])
    torch.testing.assert_close(plain["silhouette_back"], plain["ortho_alpha"][1])
    torch.testing.assert_close(mirrored["silhouette_front"].flip(-1), plain["silhouette_front"])
