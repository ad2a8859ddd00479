"""The avatar files in the ecosystem's own tools: the Khronos glTF validator (node) reports no errors on
mesh.glb and avatar.vrm (1.0 and 0.x), and three-vrm in headless Chromium loads the VRM, poses it
(arms 60 degrees down, head turned 30 degrees) and the screenshots show the arms moved and the mesh
whole. Skipped, with one line, where node/npm, the npm packages, playwright or Chromium are missing
(_scripts/avatar_check.py says how to get them); nothing is downloaded into the repository."""
import numpy as np
import pytest
from scipy import ndimage

from _scripts import avatar_check
from training.infer import mesh as M
from training.infer.vrm import AvatarMeta, write_vrm

SIZE = 256


@pytest.fixture(scope="module")
def npm_modules():
    try:
        return avatar_check.npm_packages()
    except avatar_check.Unavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def files(synthetic_avatar, tmp_path_factory):
    a = synthetic_avatar.avatar
    d = tmp_path_factory.mktemp("avatar")
    return {"glb": M.write_mesh(synthetic_avatar.textured, d / "mesh.glb"),
            "vrm1": write_vrm(a.mesh, a.rig, a.joints, a.weights, d / "avatar.vrm", AvatarMeta(license="cc0")),
            "vrm0": write_vrm(a.mesh, a.rig, a.joints, a.weights, d / "avatar0.vrm", AvatarMeta(version="0"))}


@pytest.mark.parametrize("kind", ["glb", "vrm1", "vrm0"])
def test_khronos_validator_finds_no_errors(npm_modules, files, kind):
    report = avatar_check.validate(files[kind], npm_modules)
    print(f"{kind}: {report['errors']} errors, {report['warnings']} warnings, {report['infos']} infos")
    assert report["errors"] == 0, report["messages"]
    # VRM 0.x's extension is named 'VRM', not PREFIX_name: the one warning a 0.x file always gets
    assert all(m["code"] == "INVALID_EXTENSION_NAME_FORMAT" for m in report["messages"] if m["severity"] == 1)


def silhouette(image: np.ndarray) -> np.ndarray:
    return (image < 245).any(-1)


def pieces(mask: np.ndarray, min_pixels: int = 12) -> int:
    """Connected pieces of at least min_pixels."""
    labels, n = ndimage.label(mask)
    return int((np.bincount(labels.ravel())[1:] >= min_pixels).sum())


def holes(mask: np.ndarray) -> int:
    """Background pieces (any size) enclosed by the silhouette: a crack opened by the pose shows the white
    background through the mesh (skin weights that differ across a UV seam give 15 of them here)."""
    return pieces(ndimage.binary_fill_holes(mask) & ~mask, 1)


@pytest.mark.parametrize("kind", ["vrm1", "vrm0"])
def test_three_vrm_poses_the_avatar_without_tearing(npm_modules, files, kind):
    try:
        avatar_check.chromium()
        (rest, posed), info = avatar_check.pose_screenshots(files[kind], [(0.0, 0.0), avatar_check.POSE], SIZE,
                                                            npm_modules)
    except avatar_check.Unavailable as exc:
        pytest.skip(str(exc))
    assert info["version"] == {"vrm1": "1", "vrm0": "0"}[kind] and len(info["bones"]) == 17
    before, after = silhouette(rest), silhouette(posed)
    rows = np.nonzero(before.any(1))[0]
    top, height = rows[0], rows[-1] - rows[0]
    arms = slice(top + int(0.2 * height), top + int(0.3 * height))  # the T-pose's arms at shoulder height
    span = lambda m: np.ptp(np.nonzero(m[arms].any(0))[0])  # noqa: E731
    assert span(after) < 0.75 * span(before)  # the arms left the shoulder line ...
    below = slice(top + int(0.3 * height), top + int(0.5 * height))
    outside = np.zeros_like(before)
    outside[below] = ~ndimage.binary_dilation(before, iterations=2)[below]
    assert (after & outside).sum() > 0.002 * SIZE * SIZE  # ... and hang lower, where the rest pose has nothing
    assert pieces(after) == pieces(before) == 1  # nothing came apart
    assert holes(after) <= holes(before) + 2  # arms down may close a gap at the waist; a tear opens many
    head = slice(top, top + int(0.12 * height))
    assert (before[head] != after[head]).sum() > 0  # the head turned


def test_avatar_check_bad_command_lines_are_one_line_and_exit_2(tmp_path, capsys):
    """Needs none of the tools: a missing file, or a --posed that cannot be written, ends before npm runs."""
    assert avatar_check.main([str(tmp_path / "missing.vrm")], standalone_mode=False) == 2
    blocker, vrm = tmp_path / "notes.txt", tmp_path / "avatar.vrm"
    blocker.write_text("a plain file")
    vrm.write_bytes(b"")
    assert avatar_check.main([str(vrm), "--posed", str(blocker / "posed.png")], standalone_mode=False) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err)
    assert "does not exist" in err[0] and "--posed" in err[1] and "is a file" in err[1]
