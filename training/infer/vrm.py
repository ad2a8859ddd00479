"""The avatar file: a textured mesh, its skeleton and skin weights as a VRM (1.0, or 0.x on request).

Layout (both versions): node 0 the skinned mesh, nodes 1.. one per humanoid bone (training/geometry/
humanoid.py) with translations only (bind pose = rest pose: the inverse bind matrices are translations
too), the skin over them, and the humanoid map naming each bone's node. The material shows the baked
texture without lighting, as the drawings are coloured: VRM 1.0 writes MToon (VRMC_materials_mtoon) with
the shade colour equal to the lit colour (so toon shading changes nothing), VRM 0.x its unlit texture
shader ("VRM/UnlitTexture", with KHR_materials_unlit for plain glTF viewers).

Frames: VRM 1.0 faces +z as our world does; VRM 0.x faces -z, so a 0.x file holds the character
turned 180 degrees about y (its left bones then lie at -x). Units: metres; the box-relative world units
are scaled so the avatar is height_m tall, its feet on y = 0 and its axis on x = z = 0.

Licence: one flag value (LICENSES) fills VRM 1.0's meta (the VRM Public License URL with the permission
fields it implies, and the Creative Commons deed as otherLicenseUrl) and VRM 0.x's licenseName.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dnnlib.files import atomic_path
from training.data import glb
from training.geometry.humanoid import BONES, PARENTS
from training.infer.mesh import Mesh, gltf_material, gltf_primitive
from training.infer.rig import Rig

VRM1_LICENSE_URL = "https://vrm.dev/licenses/1.0/"
# flag value -> (VRM 0.x licenseName, Creative Commons deed or "", commercial use, redistribution, modification)
LICENSES = {
    "redistribution-prohibited": ("Redistribution_Prohibited", "", "personalNonProfit", False, "prohibited"),
    "cc0": ("CC0", "https://creativecommons.org/publicdomain/zero/1.0/", "corporation", True,
            "allowModificationRedistribution"),
    "cc-by": ("CC_BY", "https://creativecommons.org/licenses/by/4.0/", "corporation", True,
              "allowModificationRedistribution"),
    "cc-by-sa": ("CC_BY_SA", "https://creativecommons.org/licenses/by-sa/4.0/", "corporation", True,
                 "allowModificationRedistribution"),
    "cc-by-nd": ("CC_BY_ND", "https://creativecommons.org/licenses/by-nd/4.0/", "corporation", True, "prohibited"),
    "cc-by-nc": ("CC_BY_NC", "https://creativecommons.org/licenses/by-nc/4.0/", "personalNonProfit", True,
                 "allowModificationRedistribution"),
    "cc-by-nc-sa": ("CC_BY_NC_SA", "https://creativecommons.org/licenses/by-nc-sa/4.0/", "personalNonProfit", True,
                    "allowModificationRedistribution"),
    "cc-by-nc-nd": ("CC_BY_NC_ND", "https://creativecommons.org/licenses/by-nc-nd/4.0/", "personalNonProfit", True,
                    "prohibited"),
}
TURN = np.diag([-1.0, 1.0, -1.0])  # 180 degrees about y: VRM 0.x faces -z


@dataclass
class AvatarMeta:
    """What the meta block says: the model's name, authors, and the licence (a LICENSES key)."""

    name: str = "NOVA-3D avatar"
    authors: tuple[str, ...] = ("NOVA-3D",)
    license: str = "redistribution-prohibited"
    version: str = "1.0"
    """VRM version: '1.0' or '0' (0.x)."""


def to_avatar_frame(points: np.ndarray, rig: Rig, vertices: np.ndarray, height_m: float) -> np.ndarray:
    """World units -> metres with the feet on y = 0 and the hips' x, z on the axis."""
    scale = height_m / max(float(np.ptp(vertices[:, 1])), 1e-9)
    hips = rig.joints["hips"]
    origin = np.array([hips[0], vertices[:, 1].min(), hips[2]])
    return (np.asarray(points, np.float64) - origin) * scale


def _material(buffer: glb.GltfBuffer, mesh: Mesh, version: str) -> dict:
    material = gltf_material(buffer, mesh)
    texture = material["pbrMetallicRoughness"].get("baseColorTexture")
    if version == "1.0" and texture is not None:
        material["extensions"] = {"VRMC_materials_mtoon": {
            "specVersion": "1.0", "shadeColorFactor": [1.0, 1.0, 1.0], "shadeMultiplyTexture": {"index": texture["index"]},
            "shadingShiftFactor": 0.0, "shadingToonyFactor": 0.9, "giEqualizationFactor": 0.9}}
    elif version == "0":
        material["extensions"] = {"KHR_materials_unlit": {}}  # what glTF viewers show of "VRM/UnlitTexture"
    return material


def _vrm1(meta: AvatarMeta, nodes: dict[str, int]) -> dict:
    _, deed, commercial, redistribution, modification = LICENSES[meta.license]
    meta_block = {"name": meta.name, "authors": list(meta.authors), "licenseUrl": VRM1_LICENSE_URL,
                  "avatarPermission": "everyone" if redistribution else "onlyAuthor", "commercialUsage": commercial,
                  "creditNotation": "unnecessary" if meta.license == "cc0" else "required",
                  "allowRedistribution": redistribution, "modification": modification,
                  "allowExcessivelyViolentUsage": False, "allowExcessivelySexualUsage": False,
                  "allowPoliticalOrReligiousUsage": False, "allowAntisocialOrHateUsage": False}
    if deed:
        meta_block["otherLicenseUrl"] = deed
    return {"specVersion": "1.0", "meta": meta_block,
            "humanoid": {"humanBones": {bone: {"node": node} for bone, node in nodes.items()}}}


def _vrm0(meta: AvatarMeta, nodes: dict[str, int], material: dict, texture: int | None) -> dict:
    name, deed, commercial, _, _ = LICENSES[meta.license]
    meta_block = {"title": meta.name, "version": "1.0", "author": ", ".join(meta.authors),
                  "allowedUserName": "OnlyAuthor", "violentUssageName": "Disallow", "sexualUssageName": "Disallow",
                  "commercialUssageName": "Allow" if commercial == "corporation" else "Disallow",
                  "licenseName": name, "otherLicenseUrl": deed}
    properties = {"name": material["name"], "renderQueue": 2000, "floatProperties": {}, "vectorProperties": {},
                  "keywordMap": {}, "tagMap": {"RenderType": "Opaque"},
                  "shader": "VRM/UnlitTexture" if texture is not None else "VRM_USE_GLTFSHADER",
                  "textureProperties": {"_MainTex": texture} if texture is not None else {}}
    return {"exporterVersion": "NOVA-3D", "specVersion": "0.0", "meta": meta_block,
            "humanoid": {"humanBones": [{"bone": bone, "node": node, "useDefaultValues": True}
                                        for bone, node in nodes.items()]},
            "firstPerson": {"firstPersonBone": nodes["head"], "firstPersonBoneOffset": {"x": 0, "y": 0.06, "z": 0},
                            "meshAnnotations": [{"mesh": 0, "firstPersonFlag": "Auto"}], "lookAtTypeName": "Bone"},
            "blendShapeMaster": {"blendShapeGroups": []},
            "secondaryAnimation": {"boneGroups": [], "colliderGroups": []},
            "materialProperties": [properties]}


def write_vrm(mesh: Mesh, rig: Rig, joints: np.ndarray, weights: np.ndarray, path: Path,
              meta: AvatarMeta = AvatarMeta(), height_m: float = 1.6) -> Path:
    """The avatar as path (.vrm): mesh textured (training/infer/texture.py), joints/weights (V, 4) per
    vertex over BONES (training/infer/skin.py)."""
    if meta.version not in ("1.0", "0"):
        raise ValueError(f"VRM version must be '1.0' or '0', got {meta.version!r}")
    if meta.license not in LICENSES:
        raise ValueError(f"unknown licence {meta.license!r}; choose from {', '.join(LICENSES)}")
    turn = TURN if meta.version == "0" else np.eye(3)

    def place(points: np.ndarray) -> np.ndarray:
        return to_avatar_frame(points, rig, mesh.vertices, height_m) @ turn.T

    body = Mesh(vertices=place(mesh.vertices).astype(np.float32), faces=mesh.faces,
                normals=(mesh.normals @ turn.T).astype(np.float32), colors=mesh.colors, uvs=mesh.uvs,
                texture=mesh.texture)
    bones = place(rig.positions())
    document = {"asset": {"version": "2.0", "generator": "NOVA-3D training/infer/vrm.py"}, "scene": 0,
                "scenes": [{"nodes": [0, 1]}]}
    buffer = glb.GltfBuffer(document)
    material = _material(buffer, body, meta.version)
    primitive = gltf_primitive(buffer, body, 0)
    primitive["attributes"]["JOINTS_0"] = buffer.accessor(joints.astype(np.uint8))
    primitive["attributes"]["WEIGHTS_0"] = buffer.accessor(weights.astype(np.float32))
    index = {bone: 1 + k for k, bone in enumerate(BONES)}
    nodes = [{"name": "body", "mesh": 0, "skin": 0}]
    for k, bone in enumerate(BONES):
        parent = PARENTS[bone]
        local = bones[k] - (bones[BONES.index(parent)] if parent else 0.0)
        node = {"name": bone, "translation": [float(v) for v in local]}
        children = [index[c] for c in BONES if PARENTS[c] == bone]
        if children:
            node["children"] = children
        nodes.append(node)
    inverse_bind = np.tile(np.eye(4, dtype=np.float32), (len(BONES), 1, 1))
    inverse_bind[:, :3, 3] = -bones
    document.update({
        "nodes": nodes, "meshes": [{"name": "body", "primitives": [primitive]}], "materials": [material],
        "skins": [{"joints": [index[b] for b in BONES], "skeleton": index["hips"],
                   "inverseBindMatrices": buffer.accessor(inverse_bind, target=None)}]})
    texture = material["pbrMetallicRoughness"].get("baseColorTexture", {}).get("index")
    if meta.version == "1.0":
        document["extensionsUsed"] = ["VRMC_vrm"] + (["VRMC_materials_mtoon"] if texture is not None else [])
        document["extensions"] = {"VRMC_vrm": _vrm1(meta, index)}
    else:
        document["extensionsUsed"] = ["VRM", "KHR_materials_unlit"]
        document["extensions"] = {"VRM": _vrm0(meta, index, material, texture)}
    with atomic_path(path) as tmp:  # whole or not at all (dnnlib/files.py)
        buffer.write(tmp)
    return Path(path)
