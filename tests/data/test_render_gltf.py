"""The VRM / glTF renderer: files built here with known geometry and colours, written by pygltflib
(an independent writer), loaded and rendered through the real CLI into the NOVA-Human layout."""
from __future__ import annotations

import contextlib
import io
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pygltflib
import pytest
import torch
from PIL import Image

from _scripts.data import render
from training.data.glb import write_glb
from training.data.checks import check_dataset
from training.data.synth import from_files
from training.data.synth.gltf import GltfError, load_model, srgb
from training.data.synth.layout_writer import decode_xyza
from training.geometry.camera import RenderParams, project
from training.data.layout import DTYPE_GROUPS, MASK_THRESHOLD, PRESETS, SPLITS, Renderset, read_split, split_path
from training.data.dataset import DatasetConfig, NovaHumanDataset

RES = 64
BODY, HEAD = PRESETS["body"], PRESETS["head"]
QUANT = BODY.boxwarp / 510  # half an 8-bit xyza step
RED, BLUE, GREY = (1.0, 0.0, 0.0, 1.0), (0.0, 0.0, 1.0, 1.0), (0.5, 0.5, 0.5, 1.0)


class Builder:
    """A glTF document and its binary buffer, written through pygltflib."""

    def __init__(self, extensions: dict | None = None):
        self.doc: dict = {"asset": {"version": "2.0"}, "buffers": [], "bufferViews": [], "accessors": [],
                          "meshes": [], "nodes": [], "materials": [], "scenes": [{"nodes": []}], "scene": 0}
        if extensions:
            self.doc["extensions"], self.doc["extensionsUsed"] = extensions, list(extensions)
        self.blob = bytearray()

    def view(self, data: bytes) -> int:
        self.blob += b"\0" * (-len(self.blob) % 4)
        self.doc["bufferViews"].append({"buffer": 0, "byteOffset": len(self.blob), "byteLength": len(data)})
        self.blob += data
        return len(self.doc["bufferViews"]) - 1

    def accessor(self, array: np.ndarray, component: int = 5126, kind: str = "VEC3", **extra) -> int:
        dtype = {5126: np.float32, 5125: np.uint32, 5121: np.uint8, 5123: np.uint16}[component]
        array = np.ascontiguousarray(array, dtype)
        entry = {"bufferView": self.view(array.tobytes()), "componentType": component, "count": len(array),
                 "type": kind, **extra}
        if kind == "VEC3" and component == 5126:
            entry["min"], entry["max"] = array.min(0).tolist(), array.max(0).tolist()
        self.doc["accessors"].append(entry)
        return len(self.doc["accessors"]) - 1

    def texture(self, rgba: np.ndarray) -> int:
        png = io.BytesIO()
        Image.fromarray(rgba).save(png, format="PNG")
        self.doc.setdefault("images", []).append({"bufferView": self.view(png.getvalue()), "mimeType": "image/png"})
        self.doc.setdefault("textures", []).append({"source": len(self.doc["images"]) - 1})
        return len(self.doc["textures"]) - 1

    def material(self, color=(1, 1, 1, 1), texture: int | None = None, **extra) -> int:
        pbr = {"baseColorFactor": list(color)}
        if texture is not None:
            pbr["baseColorTexture"] = {"index": texture}
        self.doc["materials"].append({"name": f"m{len(self.doc['materials'])}", "pbrMetallicRoughness": pbr, **extra})
        return len(self.doc["materials"]) - 1

    def node(self, parent: int | None = None, **fields) -> int:
        self.doc["nodes"].append(fields)
        index = len(self.doc["nodes"]) - 1
        if parent is None:
            self.doc["scenes"][0]["nodes"].append(index)
        else:
            self.doc["nodes"][parent].setdefault("children", []).append(index)
        return index

    def mesh(self, positions, faces, material: int, parent: int | None = None, uvs=None, colors=None, **node) -> int:
        attrs = {"POSITION": self.accessor(positions)}
        if uvs is not None:
            attrs["TEXCOORD_0"] = self.accessor(uvs, kind="VEC2")
        if colors is not None:
            attrs["COLOR_0"] = self.accessor(colors, kind="VEC4")
        prim = {"attributes": attrs, "indices": self.accessor(np.ravel(faces), 5125, "SCALAR"), "material": material}
        self.doc["meshes"].append({"primitives": [prim]})
        return self.node(parent, mesh=len(self.doc["meshes"]) - 1, **node)

    def gltf2(self) -> pygltflib.GLTF2:
        self.doc["buffers"] = [{"byteLength": len(self.blob)}]
        gltf = pygltflib.GLTF2.from_json(json.dumps(self.doc))
        gltf.set_binary_blob(bytes(self.blob))
        return gltf

    def save_glb(self, path: Path) -> Path:
        self.gltf2().save_binary(str(path))
        return path

    def save_gltf(self, path: Path) -> Path:
        """Text glTF with every buffer and image inlined as a data URI."""
        gltf = self.gltf2()
        gltf.convert_buffers(pygltflib.BufferFormat.DATAURI)
        gltf.save_json(str(path))
        return path


def quad(width: float = 1.0, height: float = 1.0, z: float = 0.0, y: float = 0.0):
    """A quad facing +z (counter-clockwise seen from the front); uv (0, 0) at its top left corner."""
    x, h = width / 2, height / 2
    positions = np.array([[-x, y - h, z], [x, y - h, z], [x, y + h, z], [-x, y + h, z]])
    return positions, np.array([[0, 1, 2], [0, 2, 3]]), np.array([[0, 1], [1, 1], [1, 0], [0, 0]])


def box_faces(lo, hi):
    """The six faces of an axis-aligned box, each as (name, positions, faces) wound outwards."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    out = []
    for axis, name in enumerate("xyz"):
        for sign in (1, -1):
            u, v = [(axis + 1) % 3, (axis + 2) % 3][:: sign]
            corners = []
            for du, dv in ((0, 0), (1, 0), (1, 1), (0, 1)):
                p = np.where(sign > 0, hi, lo).astype(float).copy()
                p[u] = (lo, hi)[du][u]
                p[v] = (lo, hi)[dv][v]
                corners.append(p)
            out.append((("+" if sign > 0 else "-") + name, np.array(corners), np.array([[0, 1, 2], [0, 2, 3]])))
    return out


# --- the test characters --------------------------------------------------------------------------

def make_box(folder: Path) -> Path:
    """A unit cube, front (+z) red, back blue, the rest grey; one material per face (plain glTF)."""
    b = Builder()
    colours = {"+z": RED, "-z": BLUE}
    for name, positions, faces in box_faces([-0.5] * 3, [0.5] * 3):
        b.mesh(positions, faces, b.material(colours.get(name, GREY)))
    return b.save_glb(folder / "box.glb")


QUADRANTS = np.array([[[255, 0, 0, 255], [0, 255, 0, 255]], [[0, 0, 255, 255], [255, 255, 255, 255]]], np.uint8)


def make_textured_quad(folder: Path) -> Path:
    """A double-sided 1x1 quad with a 2x2-quadrant texture (red top left in the image), as a text
    .gltf whose buffer and image are files next to it (the image's name needs URI escaping)."""
    b = Builder()
    png = folder / "quad tex.png"
    Image.fromarray(QUADRANTS.repeat(8, 0).repeat(8, 1)).save(png)
    b.doc["images"] = [{"uri": "quad%20tex.png"}]
    b.doc["textures"] = [{"source": 0}]
    positions, faces, uvs = quad()
    b.mesh(positions, faces, b.material(texture=0, doubleSided=True), uvs=uvs)
    (folder / "quad.bin").write_bytes(bytes(b.blob))
    b.doc["buffers"] = [{"uri": "quad.bin", "byteLength": len(b.blob)}]
    path = folder / "1234567890.gltf"
    path.write_text(json.dumps(b.doc))
    return path


def make_masked_quad(folder: Path) -> Path:
    """A single-sided yellow quad whose texture alpha is 0.2 on the left half and 0.9 on the right,
    alphaMode MASK (cutoff 0.5); a data-URI .gltf."""
    texels = np.full((16, 16, 4), 255, np.uint8)
    texels[:, :8, 3], texels[:, 8:, 3] = 51, 230
    b = Builder()
    positions, faces, uvs = quad()
    b.mesh(positions, faces, b.material((1, 1, 0, 1), b.texture(texels), alphaMode="MASK", alphaCutoff=0.5), uvs=uvs)
    return b.save_gltf(folder / "masked.gltf")


def make_blend(folder: Path) -> Path:
    """An opaque red 1x1 quad and, 0.2 in front of it, a blue BLEND quad (alpha 0.5), 2 wide, 0.4 tall."""
    b = Builder()
    positions, faces, _ = quad()
    b.mesh(positions, faces, b.material(RED))
    positions, faces, _ = quad(2.0, 0.4, z=0.2)
    b.mesh(positions, faces, b.material((0, 0, 1, 0.5), alphaMode="BLEND", doubleSided=True))
    return b.save_glb(folder / "blend.glb")


DOLL_BODY, DOLL_HEAD = ([-0.3, 0.0, -0.15], [0.3, 1.2, 0.15]), ([-0.2, 1.2, -0.2], [0.2, 1.6, 0.2])
HEAD_BONE_Y = 1.2
GREEN, FACE, HAIR = (0.0, 0.5, 0.0, 1.0), (1.0, 0.6, 0.5, 1.0), (0.3, 0.15, 0.05, 1.0)  # linear
SHADE = (0.1, 0.05, 0.2)  # linear


def make_doll(path: Path, version: int) -> Path:
    """A body box and a head box (face on its front) under a node hierarchy with the humanoid head
    bone at y = 1.2; MToon materials. VRM 1 faces +z; VRM 0 is the same doll turned to face -z."""
    turn = np.array([1.0, 1.0, 1.0]) if version == 1 else np.array([-1.0, 1.0, -1.0])
    b = Builder()
    root = b.node(name="root")
    hips = b.node(root, name="hips", translation=[0.0, 0.8, 0.0])
    head = b.node(hips, name="head", translation=[0.0, 0.4, 0.0])
    colours = []
    shift = np.array([0.05, 0.1, 0.02])  # the meshes' parent node moves them; their vertices move back
    mesh_parent = b.node(root, name="meshes", translation=list(turn * shift))
    for (lo, hi), tone in ((DOLL_BODY, "body"), (DOLL_HEAD, "head")):
        for name, positions, faces in box_faces(lo, hi):
            colour = GREEN if tone == "body" else FACE if name == "+z" else HAIR
            positions = (positions - shift) * turn
            mtoon = {"VRMC_materials_mtoon": {"specVersion": "1.0", "shadeColorFactor": list(SHADE)}}
            b.mesh(positions, faces, b.material(colour, extensions=mtoon if version == 1 else {}), mesh_parent)
            colours.append(colour)
    if version == 1:
        bones = {"hips": {"node": hips}, "head": {"node": head}}
        b.doc["extensions"] = {"VRMC_vrm": {"specVersion": "1.0", "meta": {"name": "doll"},
                                            "humanoid": {"humanBones": bones}}}
    else:
        props = [{"name": m["name"], "shader": "VRM/MToon",
                  "vectorProperties": {"_Color": [*srgb(c[:3]).tolist(), c[3]],
                                       "_ShadeColor": [*srgb(SHADE).tolist(), 1.0]}}
                 for m, c in zip(b.doc["materials"], colours)]
        b.doc["extensions"] = {"VRM": {"specVersion": "0.0", "materialProperties": props,
                                       "humanoid": {"humanBones": [{"bone": "hips", "node": hips},
                                                                   {"bone": "head", "node": head}]}}}
    b.doc["extensionsUsed"] = list(b.doc["extensions"])
    return b.save_glb(path)


# --- one batch through the CLI --------------------------------------------------------------------

BATCH_ARGS = ["--preset", "body", "--res", str(RES), "--views", "2", "--workers", "1"]


def run_render(source: Path, out: Path, *args: str) -> tuple[int, list[str]]:
    """render.main's exit code and its output lines, stderr then stdout (progress bar redraws split off)."""
    err, std = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):
        rc = render.main(["--in", str(source), "--out", str(out), *args])
    return rc, [line for line in (err.getvalue() + std.getvalue()).replace("\r", "\n").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Every test character plus a corrupt .vrm, rendered (body preset) in one run."""
    src = tmp_path_factory.mktemp("characters")
    for make in (make_box, make_textured_quad, make_masked_quad, make_blend):
        make(src)
    make_doll(src / "doll_vrm0.vrm", 0)
    make_doll(src / "doll_vrm1.vrm", 1)
    (src / "broken.vrm").write_bytes(b"glTF" + bytes(range(200)))
    out = tmp_path_factory.mktemp("renders")
    rc, err = run_render(src, out, *BATCH_ARGS)
    return src, out, rc, err


def image(root: Path, dtype: str, char_id: str, view: str, preset=BODY) -> np.ndarray:
    return np.asarray(Image.open(Renderset(root, preset.renderset).path(dtype, char_id, view)))


def pixel(point, params: RenderParams) -> tuple[int, int]:
    """(row, column) of the pixel a world point projects into."""
    uv, _ = project(torch.from_numpy(np.asarray(point, np.float32).reshape(1, 1, 3)), params.label()[None])
    u, v = uv[0, 0].tolist()
    return int(v * RES), int(u * RES)


def body_fit(lo, hi):
    """scale, offset of the documented body placement: 0.88 bw tall (or |x|, |z| <= 0.46 bw), feet
    at -0.46 bw, centred in x and z."""
    lo, hi, bw = np.asarray(lo, float), np.asarray(hi, float), BODY.boxwarp
    centre = (lo + hi) / 2
    scale = min(0.88 * bw / (hi[1] - lo[1]), 0.46 * bw / max(hi[0] - centre[0], hi[2] - centre[2]))
    return scale, np.array([-centre[0] * scale, -0.46 * bw - lo[1] * scale, -centre[2] * scale])


def test_corrupt_file_is_one_line_and_the_batch_goes_on(batch):
    src, out, rc, err = batch
    assert rc == 1
    named = [line for line in err if "broken.vrm" in line]
    assert len(named) == 1 and named[0].startswith(str(src / "broken.vrm")) and "Traceback" not in "".join(err)
    meta = json.loads(Renderset(out, BODY.renderset).meta_path.read_text())
    ids = {key.split("/")[3] for key in meta}
    assert ids == {"box", "1234567890", "masked", "blend", "doll_vrm0", "doll_vrm1"}
    listed = [i for s in SPLITS for i in read_split(split_path(out, BODY.subset, s))]
    assert sorted(listed) == sorted(ids)


def test_summary_counts_failures(tmp_path):
    make_box(tmp_path)
    (tmp_path / "empty.glb").write_bytes(b"")
    rc, lines = run_render(tmp_path, tmp_path / "out", *BATCH_ARGS, "--splits", "1,0,0")
    assert rc == 1 and sum("empty.glb" in line for line in lines) == 1
    assert lines[-1] == "render: 1 rendered, 0 already complete, 1 failed"


def test_check_passes_and_the_dataset_reads_it(batch):
    _, out, _, _ = batch
    problems, summary = check_dataset(out, "body", progress=False)
    assert problems == [] and "OK, 6 characters" in summary
    ds = NovaHumanDataset(DatasetConfig(root=str(out), preset="body", split="train", resolution=32, cond_resolution=64))
    item = ds[0]
    assert item["cond_front"].shape == (3, 64, 64) and item["ortho_xyz"].shape[0] == 4
    assert torch.isfinite(item["views_xyz"]).all()


def test_box_front_is_red_back_is_blue_and_the_mask_is_the_square(batch):
    _, out, _, _ = batch
    front, back, left = (image(out, "ortho", "box", v) for v in ("front", "back", "left"))
    scale, offset = body_fit([-0.5] * 3, [0.5] * 3)
    params = BODY.ortho_params("front")
    centre = pixel(offset, params)
    assert tuple(front[centre]) == (255, 0, 0, 255) and tuple(back[centre]) == (0, 0, 255, 255)
    grey = round(255 * float(srgb(0.5)))
    assert tuple(left[centre]) == (grey, grey, grey, 255)  # linear 0.5 shown in sRGB
    mask = image(out, "ortho_mask", "box", "front") > MASK_THRESHOLD
    # pixel centres inside the square (corners lo, hi) are foreground; only pixels the edge crosses may differ
    centres = (np.arange(RES) + 0.5) / RES * BODY.boxwarp - BODY.boxwarp / 2
    x, y = centres[None, :], -centres[:, None]
    lo, hi = -0.5 * scale + offset, 0.5 * scale + offset
    inside = (x > lo[0]) & (x < hi[0]) & (y > lo[1]) & (y < hi[1])
    margin = BODY.boxwarp / RES
    edge = ((np.minimum(np.abs(x - lo[0]), np.abs(x - hi[0])) < margin)
            | (np.minimum(np.abs(y - lo[1]), np.abs(y - hi[1])) < margin))
    assert inside.sum() > 2000 and not ((mask != inside) & ~edge).any()


def test_xyza_lies_on_the_box_and_projects_onto_its_pixel(batch):
    _, out, _, _ = batch
    scale, offset = body_fit([-0.5] * 3, [0.5] * 3)
    meta = json.loads(Renderset(out, BODY.renderset).meta_path.read_text())
    views = [(k.split("/")[1], k.split("/")[4], v) for k, v in meta.items() if k.split("/")[3] == "box"]
    assert {"ortho", "rgb"} <= {d for d, _, _ in views}
    for dtype, view, value in views:
        params = RenderParams.from_meta(value["render_params"])
        xyza = image(out, DTYPE_GROUPS[dtype][1], "box", view)
        rows, cols = np.nonzero(xyza[..., 3] > MASK_THRESHOLD)
        points, _ = decode_xyza(xyza[rows, cols], BODY.boxwarp)
        local = np.abs((points - offset) / scale)  # in the unit cube's frame: one coordinate is 0.5
        assert len(points) > 100 and np.abs(local.max(1) - 0.5).max() < 2 * QUANT / scale, view
        uv, _ = project(torch.from_numpy(points)[None], params.label()[None])
        err = np.linalg.norm(uv[0].numpy() * RES - np.stack([cols + 0.5, rows + 0.5], -1), axis=-1)
        assert err.max() < 0.75, view


def test_texture_lands_the_right_way_up(batch):
    _, out, _, _ = batch
    scale, offset = body_fit([-0.5, -0.5, 0], [0.5, 0.5, 0])
    front, back = image(out, "ortho", "1234567890", "front"), image(out, "ortho", "1234567890", "back")
    p = BODY.ortho_params("front")
    quarter = 0.25 * scale
    top_left, top_right = pixel(offset + [-quarter, quarter, 0], p), pixel(offset + [quarter, quarter, 0], p)
    bottom_left, bottom_right = pixel(offset + [-quarter, -quarter, 0], p), pixel(offset + [quarter, -quarter, 0], p)
    assert tuple(front[top_left]) == (255, 0, 0, 255) and tuple(front[top_right]) == (0, 255, 0, 255)
    assert tuple(front[bottom_left]) == (0, 0, 255, 255) and tuple(front[bottom_right]) == (255, 255, 255, 255)
    assert tuple(back[top_left]) == (0, 255, 0, 255)  # double-sided: its back shows the mirror image


def test_alpha_mask_cuts_out_and_single_sided_is_culled(batch):
    _, out, _, _ = batch
    scale, offset = body_fit([-0.5, -0.5, 0], [0.5, 0.5, 0])
    front, back = image(out, "ortho", "masked", "front"), image(out, "ortho", "masked", "back")
    mask = image(out, "ortho_mask", "masked", "front")
    p = BODY.ortho_params("front")
    left, right = pixel(offset + [-0.25 * scale, 0, 0], p), pixel(offset + [0.25 * scale, 0, 0], p)
    assert front[left][3] == 0 and mask[left] == 0
    assert tuple(front[right]) == (255, 255, 0, 255) and mask[right] == 255
    assert back[..., 3].max() == 0  # seen from behind, a single-sided quad is culled


def test_blend_is_semi_transparent(batch):
    _, out, _, _ = batch
    scale, offset = body_fit([-1.0, -0.5, 0.0], [1.0, 0.5, 0.2])
    front, xyza = image(out, "ortho", "blend", "front"), image(out, "ortho_xyza", "blend", "front")
    mask = image(out, "ortho_mask", "blend", "front")
    p = BODY.ortho_params("front")
    over_red, alone, red_only = (pixel(offset + np.array(q) * scale, p)
                                 for q in ([0, 0, 0.2], [0.8, 0, 0.2], [0, 0.4, 0]))
    assert np.abs(front[over_red].astype(int) - (128, 0, 128, 255)).max() <= 2  # half blue over red
    assert abs(int(front[alone][3]) - 128) <= 2 and front[alone][2] >= 250 and mask[alone] == 0
    assert tuple(front[red_only]) == (255, 0, 0, 255)
    point, _ = decode_xyza(xyza[over_red], BODY.boxwarp)
    assert abs(point[2] - (0.2 * scale + offset[2])) < 2 * QUANT  # xyz of the blended surface (alpha 0.5)


@pytest.mark.parametrize("view", ["front", "back", "left", "right", "top"])
def test_vrm0_and_vrm1_render_alike(batch, view):
    _, out, _, _ = batch
    a, b = image(out, "ortho", "doll_vrm0", view), image(out, "ortho", "doll_vrm1", view)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    if view == "front":  # the face is on the front (VRM 0.x was turned), in sRGB
        scale, offset = body_fit([-0.3, 0, -0.2], [0.3, 1.6, 0.2])
        face = tuple(round(255 * float(c)) for c in srgb(FACE[:3]))
        assert tuple(a[pixel(offset + np.array([0, 1.4, 0.2]) * scale, BODY.ortho_params("front"))][:3]) == face


def test_head_preset_crops_at_the_head_bone(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    make_doll(src / "doll_vrm0.vrm", 0)
    make_doll(src / "doll_vrm1.vrm", 1)
    rc, _ = run_render(src, tmp_path, "--preset", "head", "--res", str(RES), "--views", "2", "--workers", "1",
                       "--splits", "1,0,0")
    assert rc == 0
    # kept: the head (1.2..1.6) and a neck a quarter of its height (0.1) of the body: x 0.6, y 0.5, z 0.4
    cut, scale = HEAD_BONE_Y - 0.1, 0.85 * HEAD.boxwarp / 0.6
    centre = np.array([0, (cut + 1.6) / 2, 0])
    fronts = [image(tmp_path, "ortho", i, "front", HEAD) for i in ("doll_vrm0", "doll_vrm1")]
    assert np.abs(fronts[0].astype(int) - fronts[1].astype(int)).max() <= 1
    rows, cols = np.nonzero(fronts[1][..., 3] > MASK_THRESHOLD)
    px = RES / HEAD.boxwarp
    assert abs(cols.max() - cols.min() + 1 - 0.6 * scale * px) <= 2
    assert abs(rows.max() - rows.min() + 1 - 0.5 * scale * px) <= 2
    rs = Renderset(tmp_path, HEAD.renderset)
    meta = json.loads(rs.meta_path.read_text())
    for key in meta:  # nothing below the cut in any view
        _, dtype, _, char_id, view = key.split("/")
        xyza = image(tmp_path, DTYPE_GROUPS[dtype][1], char_id, view, HEAD)
        points, alpha = decode_xyza(xyza, HEAD.boxwarp)
        assert points[alpha > MASK_THRESHOLD / 255][:, 1].min() > (cut - centre[1]) * scale - HEAD.boxwarp / 255


def test_shading_mixes_lit_and_shade_colours(tmp_path):
    """MToon: side faces take the lit colour, faces looking down the shade colour (sRGB); plain glTF
    shades to 75%."""
    model = load_model(make_doll(tmp_path / "doll.vrm", 1))
    meshes = from_files.build_meshes(model, from_files.placement(model, "body"))
    face_mesh = next(m for m in meshes if np.allclose(m.colors[:, :3].max(0), srgb(FACE[:3]), atol=1e-6))
    assert np.allclose(face_mesh.colors[:, :3], srgb(FACE[:3]))
    down = [m for m in meshes if np.ptp(m.positions[:, 1]) < 1e-6 and np.allclose(m.colors[:, :3], srgb(SHADE))]
    assert len(down) == 2  # the bottoms of the body and the head
    box = load_model(make_box(tmp_path))
    colours = np.concatenate([m.colors for m in from_files.build_meshes(box, from_files.placement(box, "body"))])
    assert np.isclose(colours[:, :3], 0.75 * srgb(0.5)).all(1).sum() == 4  # the bottom face's vertices


# --- the loader on its own ------------------------------------------------------------------------

def _garbage(folder: Path) -> Path:
    (folder / "noise.vrm").write_bytes(bytes(range(256)) * 4)
    return folder / "noise.vrm"


def _truncated(folder: Path) -> Path:
    path = make_box(folder)
    path.write_bytes(path.read_bytes()[:300])
    return path


def _missing_buffer(folder: Path) -> Path:
    path = make_textured_quad(folder)
    (folder / "quad.bin").unlink()
    return path


def _draco(folder: Path) -> Path:
    b = Builder()
    positions, faces, _ = quad()
    b.mesh(positions, faces, b.material())
    b.doc["extensionsRequired"] = b.doc["extensionsUsed"] = ["KHR_draco_mesh_compression"]
    return b.save_glb(folder / "draco.glb")


def _bad_index(folder: Path) -> Path:
    b = Builder()
    positions, _, _ = quad()
    b.mesh(positions, [[0, 1, 7]], b.material())
    return b.save_glb(folder / "bad_index.glb")


def _gltf1(folder: Path) -> Path:
    write_glb(folder / "old.glb", {"asset": {"version": "1.0"}})
    return folder / "old.glb"


@pytest.mark.parametrize("make,reason", [(_garbage, "neither a binary glTF"), (_truncated, "truncated"),
                                         (_missing_buffer, "cannot read 'quad.bin'"),
                                         (_draco, "KHR_draco_mesh_compression"), (_bad_index, "indices"),
                                         (_gltf1, "not glTF 2.0")])
def test_unusable_files_raise_one_line_naming_them(tmp_path, make, reason):
    path = make(tmp_path)
    with pytest.raises(GltfError) as info:
        load_model(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and reason in message and "\n" not in message


def test_node_transforms_skinning_and_accessor_encodings(tmp_path):
    """TRS and matrix nodes under a parent; a skinned mesh placed by its joint's rest pose (its own
    node's transform ignored); sparse positions; normalized uint8 uv through KHR_texture_transform;
    a non-triangle primitive skipped with a note."""
    b = Builder()
    tri = np.array([[1.0, 0, 0], [0, 1, 0], [0, 0, 1]])
    parent = b.node(translation=[0.0, 1.0, 0.0])
    s = math.sqrt(0.5)
    b.mesh(tri, [[0, 1, 2]], b.material(), parent, rotation=[0.0, s, 0.0, s], scale=[2.0, 2.0, 2.0],
           translation=[1.0, 0.0, 0.0])
    b.mesh(tri, [[0, 1, 2]], b.material(), parent, matrix=[1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 5, 1])
    joint = b.node(rotation=[0.0, 0.0, s, s])  # 90 degrees about z
    skinned = b.mesh(tri, [[0, 1, 2]], b.material(), translation=[100.0, 0.0, 0.0])
    prim = b.doc["meshes"][-1]["primitives"][0]
    prim["attributes"]["JOINTS_0"] = b.accessor(np.zeros((3, 4)), 5121, "VEC4")
    prim["attributes"]["WEIGHTS_0"] = b.accessor(np.tile([1.0, 0, 0, 0], (3, 1)), kind="VEC4")
    b.doc["nodes"][skinned]["skin"] = 0
    b.doc["skins"] = [{"joints": [joint]}]
    texture = b.texture(np.full((4, 4, 4), 255, np.uint8))
    info = {"index": texture, "extensions": {"KHR_texture_transform": {"offset": [0.5, 0.0], "scale": [0.5, 1.0]}}}
    material = b.material()
    b.doc["materials"][material]["pbrMetallicRoughness"]["baseColorTexture"] = info
    b.mesh(tri, [[0, 1, 2]], material)
    uv_prim = b.doc["meshes"][-1]["primitives"][0]
    uv_prim["attributes"]["TEXCOORD_0"] = b.accessor(np.array([[255, 0], [0, 255], [255, 255]]), 5121, "VEC2",
                                                      normalized=True)
    b.doc["accessors"][uv_prim["attributes"]["POSITION"]]["sparse"] = {
        "count": 1, "indices": {"bufferView": b.view(np.array([2], np.uint16).tobytes()), "componentType": 5123},
        "values": {"bufferView": b.view(np.array([0, 0, 3], np.float32).tobytes())}}
    b.doc["meshes"][-1]["primitives"].append({"attributes": {"POSITION": uv_prim["attributes"]["POSITION"]}, "mode": 1})
    model = load_model(b.save_glb(tmp_path / "nodes.glb"))
    trs, matrix, skin, sparse = (p.positions for p in model.primitives)
    # scale 2, turn 90 degrees about y (x -> -z, z -> x), move by (1, 0, 0), then the parent's (0, 1, 0)
    assert np.allclose(trs, [[1, 1, -2], [1, 3, 0], [3, 1, 0]])
    assert np.allclose(matrix, tri + [0, 1, 5])
    assert np.allclose(skin, [[0, 1, 0], [-1, 0, 0], [0, 0, 1]])
    assert np.allclose(sparse, [[1, 0, 0], [0, 1, 0], [0, 0, 3]])
    assert np.allclose(model.primitives[3].uvs, [[1.0, 0], [0.5, 1], [1.0, 1]])  # u' = 0.5 u + 0.5
    assert np.allclose(np.linalg.norm(model.primitives[0].normals, axis=1), 1)
    assert len(model.notes) == 1 and "mode 1" in model.notes[0]


def test_vrm_kinds_head_bone_and_turn(tmp_path):
    vrm0, vrm1 = (load_model(make_doll(tmp_path / f"d{v}.vrm", v)) for v in (0, 1))
    assert (vrm0.kind, vrm1.kind) == ("vrm0", "vrm1")
    assert np.allclose(vrm0.head, [0, HEAD_BONE_Y, 0]) and np.allclose(vrm1.head, [0, HEAD_BONE_Y, 0])
    for a, b in zip(vrm0.primitives, vrm1.primitives):
        assert np.array_equal(a.positions, b.positions) and np.allclose(a.normals, b.normals)
    assert load_model(make_box(tmp_path)).head is None


def test_ids_are_stems_or_stable_digits(tmp_path):
    assert from_files.character_id("1234567890") == "1234567890" and from_files.character_id("alicia_v2") == "alicia_v2"
    derived = from_files.character_id("My Character (1)")
    assert derived.isdigit() and len(derived) == 16 and derived == from_files.character_id("My Character (1)")
    make_box(tmp_path)
    shutil.copy(make_masked_quad(tmp_path), tmp_path / "box.gltf")  # the same id as box.glb
    rc, lines = run_render(tmp_path, tmp_path / "out", *BATCH_ARGS, "--splits", "1,0,0")
    assert rc == 1 and any(line.startswith(f"{tmp_path / 'box.gltf'}: its id box is taken by") for line in lines)


def test_shards_and_merge_equal_one_run(tmp_path, monkeypatch):
    src = tmp_path / "in"
    src.mkdir()
    for make in (make_box, make_masked_quad, make_blend):
        make(src)
    args = ["--preset", "body", "--res", "32", "--views", "1", "--workers", "1"]
    assert run_render(src, tmp_path / "one", *args)[0] == 0
    sharded = tmp_path / "sharded"
    assert run_render(src, sharded, *args, "--shard", "0/2")[0] == 0
    assert render.main(["merge", "--out", str(sharded), "--preset", "body"]) == 2  # shard 1/2 missing
    assert run_render(src, sharded, *args, "--shard", "1/2")[0] == 0
    assert render.main(["merge", "--out", str(sharded), "--preset", "body"]) == 0

    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
                if p.is_file() and ".shard-" not in p.name}
    assert files(sharded) == files(tmp_path / "one")

    def fail(*_args):
        raise AssertionError("a complete character was rendered again")
    monkeypatch.setattr(from_files, "load_model", fail)
    rc, lines = run_render(src, sharded, *args, "--shard", "1/2")
    assert rc == 0 and lines[-1] == "render: 0 rendered, 1 already complete, 0 failed"


def test_bench_render_runs_the_real_path():
    from _scripts.bench import BenchContext, bench_render

    result = bench_render(BenchContext(torch.device("cpu"), "tiny", 1, 0))
    assert result["characters_per_min"] > 0 and result["sizes"]["views"] == 21 and result["failed"] == 0


def test_missing_egl_is_one_line(tmp_path, monkeypatch):
    from training.data.synth import gl_render

    def no_egl():
        raise gl_render.RendererUnavailable(f"cannot start a headless OpenGL (EGL) context; {gl_render.EGL_HINT}")
    monkeypatch.setattr(gl_render, "create_context", no_egl)
    monkeypatch.setattr(gl_render, "_renderer", None)  # the per-process renderer synth and render share
    rc, lines = run_render(make_box(tmp_path), tmp_path / "out", *BATCH_ARGS, "--splits", "1,0,0")
    assert rc == 1 and lines[-1].startswith("render: error: cannot start") and "libegl1" in lines[-1]
    assert not any("Traceback" in line for line in lines)
