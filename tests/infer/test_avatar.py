"""The rigged avatar: skeleton placement against the synthetic characters' known joints, skin weights,
the T-pose, and the VRM files read back by our own loader (training/data/synth/gltf.py)."""
import json
import struct

import numpy as np
import pytest

from training.data.synth.characters import build_character
from training.data.synth.gltf import load_model
from training.data.synth.joints import true_joints
from training.data.synth.procedural import character_ids
from training.geometry.humanoid import BONES
from training.infer.rig import estimate_rig
from training.infer.vrm import AvatarMeta, to_avatar_frame, write_vrm
from training.metrics.joints import mean_joint_error


def test_joints_within_5_percent_of_height_on_synthetic_characters():
    """The generator's own meshes of 8 characters (every hair style and outfit among them)."""
    errors = []
    for char_id in character_ids(1, 8):
        mesh = build_character(char_id, "body")
        truth, height = true_joints(char_id)
        errors.append(mean_joint_error(estimate_rig(mesh.positions, mesh.faces).joints, truth, height))
    print(f"joint error on 8 synthetic meshes: mean {np.mean(errors):.2%}, worst {np.max(errors):.2%}")
    assert np.mean(errors) <= 0.05 and np.max(errors) <= 0.08


def test_a_t_posed_character_is_barely_turned_into_vrms_t_pose():
    """Most real model sheets are T-posed: the arms, found raised, turn by little more than the
    generator's 0-10 degrees below horizontal (and the forearm's bend forward)."""
    from training.data.synth.traits import sample_traits
    from training.infer.pose import t_pose_transforms

    char_id = next(c for c in character_ids(1, 8) if sample_traits(np.random.default_rng(int(c))).pose == "t_pose")
    mesh = build_character(char_id, "body")
    transforms, _ = t_pose_transforms(estimate_rig(mesh.positions, mesh.faces))
    for bone in ("leftUpperArm", "rightUpperArm", "leftLowerArm", "rightLowerArm"):
        turn = np.degrees(np.arccos(np.clip((np.trace(transforms[BONES.index(bone)][:3, :3]) - 1) / 2, -1, 1)))
        assert turn < 25, (bone, turn)


def test_joints_within_5_percent_on_the_reconstructed_shape(synthetic_avatar):
    a = synthetic_avatar  # marching cubes of a field, simplified: what reconstruct rigs
    truth, height = true_joints(a.char_id)
    error = mean_joint_error(a.avatar.rest_rig.joints, truth, height)
    print(f"joint error on the field's simplified mesh: {error:.2%}")
    assert error <= 0.05


def test_skin_weights_sum_to_one_and_follow_the_bones(synthetic_avatar):
    a = synthetic_avatar.avatar
    assert a.joints.shape == a.weights.shape == (len(a.mesh.vertices), 4)
    assert np.allclose(a.weights.sum(1), 1, atol=1e-6) and (a.weights >= 0).all()
    assert all(len(set(j[w > 0])) == (w > 0).sum() for j, w in zip(a.joints, a.weights))  # no bone twice
    assert (a.joints[a.weights == 0] == 0).all()  # glTF: an unused slot names joint 0
    rest = synthetic_avatar.simple.vertices[synthetic_avatar.source]
    main = np.array(BONES)[a.joints[:, 0]]
    top = rest[:, 1] > a.rest_rig.joints["head"][1] + 0.05
    assert (main[top] == "head").mean() > 0.95
    feet = rest[:, 1] < a.rest_rig.joints["leftFoot"][1]
    assert np.isin(main[feet], ["leftFoot", "rightFoot", "leftLowerLeg", "rightLowerLeg"]).mean() > 0.95


def test_t_pose_puts_the_arms_out_and_keeps_the_rest(synthetic_avatar):
    a = synthetic_avatar.avatar
    for side, name in ((1, "left"), (-1, "right")):
        arm = a.rig.joints[f"{name}Hand"] - a.rig.joints[f"{name}UpperArm"]
        assert arm[0] * side > 0.99 * np.linalg.norm(arm)  # along +-x
        assert np.allclose(a.rig.joints[f"{name}UpperArm"], a.rest_rig.joints[f"{name}UpperArm"])
    rest = synthetic_avatar.simple.vertices[synthetic_avatar.source]
    still = np.isin(np.array(BONES)[a.joints[:, 0]], ["head", "leftFoot", "rightFoot"]) & (a.weights[:, 0] > 0.999)
    assert np.allclose(a.mesh.vertices[still], rest[still], atol=1e-5)
    hands = np.array(BONES)[a.joints[:, 0]] == "leftHand"
    reach = a.mesh.vertices[hands, 0] - a.rig.joints["leftUpperArm"][0]
    assert reach.min() > 0 and np.abs(a.mesh.vertices[hands, 1] - a.rig.joints["leftHand"][1]).max() < 0.1


def vrm_json(path) -> dict:
    data = path.read_bytes()
    length, _ = struct.unpack_from("<II", data, 12)
    return json.loads(data[20:20 + length])


@pytest.mark.parametrize("version", ["1.0", "0"])
def test_vrm_reads_back_with_its_humanoid_map(synthetic_avatar, tmp_path, version):
    a = synthetic_avatar.avatar
    path = write_vrm(a.mesh, a.rig, a.joints, a.weights, tmp_path / "avatar.vrm",
                     AvatarMeta(name="test", license="cc-by", version=version), height_m=1.5)
    model = load_model(path)
    assert model.kind == {"1.0": "vrm1", "0": "vrm0"}[version]
    expected = to_avatar_frame(a.mesh.vertices, a.rig, a.mesh.vertices, 1.5)  # our frame: 0.x is turned back
    (prim,) = model.primitives
    assert np.allclose(prim.positions, expected, atol=1e-5)  # skinned at rest = the bind pose
    assert np.allclose(model.head, to_avatar_frame(a.rig.joints["head"], a.rig, a.mesh.vertices, 1.5), atol=1e-5)
    assert np.ptp(prim.positions[:, 1]) == pytest.approx(1.5, rel=1e-5)
    material = model.materials[prim.material]  # 1.0: MToon; 0.x: unlit (the shade colour is the colour)
    assert material.texture is not None and (material.mtoon if version == "1.0" else material.shade is not None)
    doc = vrm_json(path)
    if version == "1.0":
        vrm = doc["extensions"]["VRMC_vrm"]
        assert set(vrm["humanoid"]["humanBones"]) == set(BONES)
        assert vrm["meta"]["otherLicenseUrl"] == "https://creativecommons.org/licenses/by/4.0/"
    else:
        vrm = doc["extensions"]["VRM"]
        assert {b["bone"] for b in vrm["humanoid"]["humanBones"]} == set(BONES)
        assert vrm["meta"]["licenseName"] == "CC_BY"
        hand = next(b["node"] for b in vrm["humanoid"]["humanBones"] if b["bone"] == "leftHand")
        assert sum(doc["nodes"][n]["translation"][0] for n in _chain(doc, hand)) < 0  # 0.x faces -z: left is -x


def _chain(doc: dict, node: int) -> list[int]:
    """node and its ancestors."""
    parents = {c: p for p, n in enumerate(doc["nodes"]) for c in n.get("children", [])}
    chain = [node]
    while chain[-1] in parents:
        chain.append(parents[chain[-1]])
    return chain


def test_bad_meta_is_refused(synthetic_avatar, tmp_path):
    a = synthetic_avatar.avatar
    with pytest.raises(ValueError, match="unknown licence"):
        write_vrm(a.mesh, a.rig, a.joints, a.weights, tmp_path / "a.vrm", AvatarMeta(license="mine"))
