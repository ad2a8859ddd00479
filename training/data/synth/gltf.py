"""glTF 2.0 / VRM loader for the character renderer: triangles in the bind pose, in our world frame.

Reads .glb/.vrm and .gltf files through gltf_document.Document (container, buffers, accessors,
images, the compression and texture extensions). What comes out is what an unlit renderer needs:
world positions and normals of every triangle primitive of the default scene, uv, vertex colours
and one material each.

- Bind pose: node TRS/matrix rest transforms; a skinned primitive is placed by linear blend skinning
  with its joints at their rest transforms (so a model whose bind pose differs from its rest pose
  shows the rest pose, a T-pose for VRM); morph targets and animations are ignored.
- Facing: the world faces +z (training.geometry.camera). glTF and VRM 1.0 face +Z already; VRM 0.x faces -Z
  and is turned 180 degrees about y.
- Colours are display (sRGB) values in [0, 1], alpha is linear: glTF's linear factors and vertex
  colours are converted, VRM 0.x MToon colours are stored in sRGB already. The texture stays as
  stored (sRGB bytes). MToon ignores vertex colours, so MToon primitives get none.
- A file that cannot be used raises GltfError, one line naming the file and the reason.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from training.data.synth.gltf_document import Document, Unusable

TURN_VRM0 = np.diag([-1.0, 1.0, -1.0])  # 180 degrees about y
MTOON0_SHADE = (0.97, 0.81, 0.86)  # VRM 0.x MToon's default _ShadeColor (sRGB)


class GltfError(ValueError):
    """An unusable file; the message is one line: '<file>: <reason>'."""


@dataclass
class Material:
    """color: display RGB + linear alpha; shade: the MToon shade colour (display RGB), equal to color
    for unlit materials, None for plain glTF materials (the renderer chooses); texture RGBA uint8;
    mtoon: an MToon material (it ignores vertex colours)."""

    name: str
    color: np.ndarray
    shade: np.ndarray | None = None
    texture: np.ndarray | None = None
    alpha_mode: str = "OPAQUE"
    alpha_cutoff: float = 0.5
    double_sided: bool = False
    mtoon: bool = False


@dataclass
class Primitive:
    """World positions and unit normals (V, 3), faces (F, 3) wound counter-clockwise seen from the
    front, uv (V, 2) already through the texture transform, vertex colours (V, 4) or None."""

    positions: np.ndarray
    normals: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray | None
    colors: np.ndarray | None
    material: int


@dataclass
class Model:
    """A loaded character: kind is 'gltf', 'vrm0' or 'vrm1'; head is the humanoid head bone's world
    position (None without one); notes list what was skipped."""

    path: Path
    kind: str
    primitives: list[Primitive]
    materials: list[Material]
    head: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)


def srgb(linear: np.ndarray) -> np.ndarray:
    """Linear -> sRGB-encoded values in [0, 1] (IEC 61966-2-1)."""
    x = np.clip(np.asarray(linear, np.float64), 0, 1)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def _node_matrix(node: dict) -> np.ndarray:
    if "matrix" in node:
        return np.asarray(node["matrix"], np.float64).reshape(4, 4).T  # stored column-major
    q = np.asarray(node.get("rotation", (0, 0, 0, 1)), np.float64)
    x, y, z, w = q / max(np.linalg.norm(q), 1e-12)
    rot = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                    [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                    [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    m = np.eye(4)
    m[:3, :3] = rot * np.asarray(node.get("scale", (1, 1, 1)), np.float64)
    m[:3, 3] = node.get("translation", (0, 0, 0))
    return m


def _vertex_normals(positions: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals, for primitives without NORMAL."""
    tri = positions[faces]
    face_n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals = np.zeros_like(positions)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_n)
    return normals


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _vrm0_properties(doc: dict, index: int) -> dict:
    """VRM 0.x materialProperties of material index: the entry at that index, or the one of that name."""
    props, name = doc["extensions"]["VRM"].get("materialProperties", []), doc["materials"][index].get("name")
    if index < len(props) and props[index].get("name") == name:
        return props[index]
    return next((p for p in props if p.get("name") == name), props[index] if index < len(props) else {})


def _material(doc: Document, index: int, kind: str) -> tuple[Material, int, np.ndarray | None]:
    """A material with the texCoord set and uv transform of its base colour texture."""
    spec = doc.doc["materials"][index]
    pbr, ext = spec.get("pbrMetallicRoughness", {}), spec.get("extensions", {})
    factor = np.asarray(pbr.get("baseColorFactor", (1, 1, 1, 1)), np.float64)
    color, shade, mtoon = np.append(srgb(factor[:3]), factor[3]), None, False
    texture, tex_coord, transform = doc.texture(pbr.get("baseColorTexture"))
    if "KHR_materials_unlit" in ext:
        shade = color[:3]
    if kind == "vrm1" and "VRMC_materials_mtoon" in ext:  # takes precedence over unlit
        shade, mtoon = srgb(ext["VRMC_materials_mtoon"].get("shadeColorFactor", (0, 0, 0))), True
    prop = _vrm0_properties(doc.doc, index) if kind == "vrm0" else {}
    if prop.get("shader") == "VRM/MToon":  # VRM 0.x keeps these colours in sRGB
        vectors = prop.get("vectorProperties", {})
        color = np.asarray(vectors.get("_Color", color), np.float64)[:4]
        shade, mtoon = np.asarray(vectors.get("_ShadeColor", MTOON0_SHADE), np.float64)[:3], True
    mode = spec.get("alphaMode", "OPAQUE")
    if mode not in ("OPAQUE", "MASK", "BLEND"):
        raise Unusable(f"material {index} has unknown alphaMode {mode!r}")
    return (Material(spec.get("name", f"material{index}"), color, shade, texture, mode,
                     float(spec.get("alphaCutoff", 0.5)), bool(spec.get("doubleSided", False)), mtoon),
            tex_coord, transform)


class _Loader:
    def __init__(self, path: Path):
        self.d = Document(path)
        doc = self.d.doc
        ext = doc.get("extensions", {})
        self.kind = "vrm1" if "VRMC_vrm" in ext else "vrm0" if "VRM" in ext else "gltf"
        self.notes: list[str] = []
        self.parents: dict[int, int] = {}
        for parent, node in enumerate(doc.get("nodes", [])):
            for child in node.get("children", []):
                if child in self.parents:
                    raise Unusable(f"node {child} has two parents")
                self.parents[child] = parent
        self._world: dict[int, np.ndarray] = {}
        self.materials = [_material(self.d, i, self.kind) for i in range(len(doc.get("materials", [])))]

    def world(self, node: int, seen: frozenset = frozenset()) -> np.ndarray:
        if node not in self._world:
            if node in seen:
                raise Unusable(f"node {node} is its own ancestor")
            local = _node_matrix(self.d.doc["nodes"][node])
            parent = self.parents.get(node)
            self._world[node] = local if parent is None else self.world(parent, seen | {node}) @ local
        return self._world[node]

    def scene_nodes(self) -> list[int]:
        """Every node of the default scene (scene, else the first, else all roots), depth first."""
        doc, roots = self.d.doc, None
        if doc.get("scenes"):
            roots = doc["scenes"][doc.get("scene", 0)].get("nodes", [])
        if roots is None:
            roots = [i for i in range(len(doc.get("nodes", []))) if i not in self.parents]
        order, stack = [], list(reversed(roots))
        while stack:
            node = stack.pop()
            order.append(node)
            stack += reversed(doc["nodes"][node].get("children", []))
        return order

    def head(self) -> np.ndarray | None:
        ext = self.d.doc.get("extensions", {})
        if self.kind == "vrm1":
            node = ext["VRMC_vrm"].get("humanoid", {}).get("humanBones", {}).get("head", {}).get("node")
        elif self.kind == "vrm0":
            bones = ext["VRM"].get("humanoid", {}).get("humanBones", [])
            node = next((b.get("node") for b in bones if b.get("bone") == "head"), None)
        else:
            return None
        return None if node is None else self.world(node)[:3, 3]

    def skin_matrices(self, node: dict) -> np.ndarray | None:
        """Per-joint rest matrices (J, 4, 4) of the node's skin, or None without one."""
        if "skin" not in node:
            return None
        skin = self.d.doc["skins"][node["skin"]]
        joints = skin["joints"]
        inverse = (self.d.accessor(skin["inverseBindMatrices"]).reshape(-1, 4, 4).transpose(0, 2, 1)
                   if "inverseBindMatrices" in skin else np.broadcast_to(np.eye(4), (len(joints), 4, 4)))
        return np.stack([self.world(j) @ inv for j, inv in zip(joints, inverse)])

    def primitive(self, node_index: int, mesh_index: int, k: int, spec: dict) -> Primitive | None:
        mode = spec.get("mode", 4)
        if mode != 4:
            self.notes.append(f"mesh {mesh_index} primitive {k}: mode {mode} is not triangles, skipped")
            return None
        attrs, d = spec["attributes"], self.d
        if "POSITION" not in attrs:
            raise Unusable(f"mesh {mesh_index} primitive {k} has no POSITION")
        positions = d.accessor(attrs["POSITION"]).astype(np.float64)
        faces = d.accessor(spec["indices"])[:, 0].astype(np.int64) if "indices" in spec else np.arange(len(positions))
        if len(faces) % 3 or (faces.size and (faces.max() >= len(positions) or faces.min() < 0)):
            raise Unusable(f"mesh {mesh_index} primitive {k}: indices are not triangles over its vertices")
        faces = faces.reshape(-1, 3)
        normals = (d.accessor(attrs["NORMAL"]).astype(np.float64) if "NORMAL" in attrs
                   else _vertex_normals(positions, faces))
        world, joints = self.world(node_index), self.skin_matrices(d.doc["nodes"][node_index])
        if joints is not None and "JOINTS_0" in attrs and "WEIGHTS_0" in attrs:
            index = d.accessor(attrs["JOINTS_0"]).astype(np.int64)
            if index.max(initial=0) >= len(joints):
                raise Unusable(f"mesh {mesh_index} primitive {k}: JOINTS_0 refers past the skin's joints")
            weights = d.accessor(attrs["WEIGHTS_0"]).astype(np.float64)
            weights[~np.isfinite(weights)] = 0  # NaN weights (some FBX2glTF exports) count as none
            total = weights.sum(1, keepdims=True)
            blend = np.einsum("vk,vkij->vij", weights / np.where(total > 0, total, 1), joints[index])
            blend[total[:, 0] <= 0] = world
        else:
            blend = np.broadcast_to(world, (len(positions), 4, 4))
        positions = np.einsum("vij,vj->vi", blend[:, :3, :3], positions) + blend[:, :3, 3]
        normals = np.einsum("vij,vj->vi", np.linalg.inv(blend[:, :3, :3]).transpose(0, 2, 1), normals)
        if np.linalg.det(blend[:, :3, :3]).mean() < 0:  # a mirroring transform turns the winding over
            faces = faces[:, ::-1]
        material = spec.get("material", -1)
        mat, tex_coord, transform = self.materials[material] if material >= 0 else (None, 0, None)
        uvs = None
        if mat is not None and mat.texture is not None and f"TEXCOORD_{tex_coord}" in attrs:
            uvs = d.accessor(attrs[f"TEXCOORD_{tex_coord}"]).astype(np.float64)
            if transform is not None:
                uvs = uvs @ transform[:, :2].T + transform[:, 2]
        colors = None
        if "COLOR_0" in attrs and (mat is None or not mat.mtoon):
            raw = d.accessor(attrs["COLOR_0"]).astype(np.float64)
            colors = np.concatenate([srgb(raw[:, :3]), raw[:, 3:] if raw.shape[1] == 4 else np.ones((len(raw), 1))], 1)
        return Primitive(positions, _unit(normals), faces, uvs, colors, material)

    def load(self) -> Model:
        prims = []
        for node_index in self.scene_nodes():
            mesh_index = self.d.doc["nodes"][node_index].get("mesh")
            if mesh_index is None:
                continue
            for k, spec in enumerate(self.d.doc["meshes"][mesh_index]["primitives"]):
                prim = self.primitive(node_index, mesh_index, k, spec)
                if prim is not None and len(prim.faces):
                    prims.append(prim)
        if not prims:
            raise Unusable("no triangles in the default scene")
        head = self.head()
        if self.kind == "vrm0":
            for prim in prims:
                prim.positions, prim.normals = prim.positions @ TURN_VRM0, prim.normals @ TURN_VRM0
            head = None if head is None else head @ TURN_VRM0
        materials = [m for m, _, _ in self.materials]
        if any(p.material < 0 for p in prims):  # glTF's default material: white, opaque, single-sided
            materials.append(Material("default", np.ones(4)))
            for prim in prims:
                prim.material = prim.material if prim.material >= 0 else len(materials) - 1
        return Model(self.d.path, self.kind, prims, materials, head, self.notes)


def load_model(path: str | Path) -> Model:
    """Load a .vrm/.glb/.gltf file; any problem with it raises GltfError naming the file."""
    path = Path(path)
    try:
        return _Loader(path).load()
    except Unusable as exc:
        raise GltfError(f"{path}: {exc}") from None
    except OSError as exc:
        raise GltfError(f"{path}: unreadable ({exc.strerror or exc})") from None
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, struct.error, np.linalg.LinAlgError) as exc:
        raise GltfError(f"{path}: malformed glTF ({type(exc).__name__}: {exc})") from None
