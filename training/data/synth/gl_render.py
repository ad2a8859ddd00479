"""Headless mesh renderer (moderngl + EGL, works on Mesa llvmpipe without a display).

Synthetic characters and real VRM/glTF characters go through this one class, so both datasets share
cameras and xyza. The projection is built from the 25-float label of training.geometry.camera, so a surface
point rasterised at a pixel centre projects (camera.project) back onto that pixel centre.

Antialiasing: the scene is drawn once at an odd supersampling factor s. Colour and alpha are the
mean of each s x s block; world xyz is the block's central sample, which lies exactly on the pixel
centre. The foreground mask is "alpha above the mask threshold and the centre sample covered", and
alpha is capped at the threshold where the centre is not covered, so the mask always agrees with
the alpha written to the PNGs.

Materials (glTF's alpha modes): a mesh has its own alpha cutoff (0 keeps every fragment: OPAQUE), may
cull its back faces, or be alpha-blended. Blended meshes are drawn after all others without writing
depth, meshes and triangles sorted back to front for each view (an approximation where blended
triangles intersect or interleave between meshes); their xyz is the nearest blended surface with
alpha >= 0.5 in front of the opaque ones, drawn in a second pass that writes depth and xyz only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from training.geometry.camera import split_label
from training.data.layout import MASK_THRESHOLD

EGL_HINT = ("install the system packages libegl1 libgl1-mesa-dri (Debian/Ubuntu) "
            "or mesalib libglvnd (conda)")

_VERTEX_SHADER = """
#version 330
uniform mat4 world2clip;
uniform vec4 clip_plane;
in vec3 in_pos;
in vec4 in_color;
in vec2 in_uv;
out vec3 v_pos;
out vec4 v_color;
out vec2 v_uv;
void main() {
    v_pos = in_pos;
    v_color = in_color;
    v_uv = in_uv;
    gl_Position = world2clip * vec4(in_pos, 1.0);
    gl_ClipDistance[0] = dot(clip_plane, vec4(in_pos, 1.0));
}
"""

_FRAGMENT_SHADER = """
#version 330
uniform sampler2D tex;
uniform float alpha_cutoff;
uniform bool blend;
in vec3 v_pos;
in vec4 v_color;
in vec2 v_uv;
layout(location = 0) out vec4 out_color;
layout(location = 1) out vec4 out_xyz;
void main() {
    vec4 color = v_color * texture(tex, v_uv);
    if (color.a < alpha_cutoff) discard;
    out_color = vec4(color.rgb, blend ? color.a : 1.0);
    out_xyz = vec4(v_pos, 1.0);
}
"""


_RESOLVE_VERTEX_SHADER = """
#version 330
void main() {
    vec2 corner = vec2((gl_VertexID << 1) & 2, gl_VertexID & 2);  // one triangle covering the viewport
    gl_Position = vec4(corner * 2.0 - 1.0, 0.0, 1.0);
}
"""

# Resolves each s x s block: mean colour of the covered samples, coverage, and the centre sample's xyz.
# The samples hold premultiplied colour (opaque fragments have alpha 1, blending composites over them).
_RESOLVE_FRAGMENT_SHADER = """
#version 330
uniform sampler2D color_ss;
uniform sampler2D xyz_ss;
uniform int s;
layout(location = 0) out vec4 out_color;
layout(location = 1) out vec4 out_xyz;
void main() {
    ivec2 base = ivec2(gl_FragCoord.xy) * s;
    vec3 sum = vec3(0.0);
    float coverage = 0.0;
    for (int j = 0; j < s; ++j) {
        for (int i = 0; i < s; ++i) {
            vec4 c = texelFetch(color_ss, base + ivec2(i, j), 0);
            sum += c.rgb;
            coverage += c.a;
        }
    }
    out_color = vec4(coverage > 0.0 ? sum / coverage : vec3(0.0), coverage / float(s * s));
    out_xyz = texelFetch(xyz_ss, base + ivec2(s / 2), 0);
}
"""


GL_CLIP_DISTANCE0 = 0x3000
BLEND_XYZ_CUTOFF = 0.5  # a blended surface gives the pixel its xyz where its alpha reaches this


class RendererUnavailable(RuntimeError):
    """No headless OpenGL context could be created; the message is one line naming what to install."""


@dataclass
class Mesh:
    """A triangle mesh: positions (V, 3), faces (F, 3), colours (V, 4) in [0, 1], optional uv (V, 2)
    and one RGBA uint8 texture (H, W, 4) whose texels multiply the vertex colours. Texture row 0 is
    v = 0, which is glTF's convention for an image uploaded as stored. Fragments whose alpha is
    below alpha_cutoff (None: the renderer's) are cut out (alpha-masked hair cards); 0 keeps them all.
    blend: alpha-blended (semi-transparent) instead. double_sided False culls the faces whose back
    is seen (front faces wind counter-clockwise, as in glTF). Meshes may share one texture array:
    it is uploaded once."""

    positions: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    uvs: np.ndarray | None = None
    texture: np.ndarray | None = None
    alpha_cutoff: float | None = None
    blend: bool = False
    double_sided: bool = True


@dataclass
class _Drawable:
    mesh: Mesh
    vao: object
    texture: object
    index: object
    centre: np.ndarray


@dataclass
class Render:
    """One view: rgba uint8 (R, R, 4) with straight alpha = coverage, world xyz float32 (R, R, 3) at
    the pixel centres, hit (R, R): the surface covers the pixel centre (xyz is zero elsewhere), and
    the foreground mask (R, R), always inside hit."""

    rgba: np.ndarray
    xyz: np.ndarray
    hit: np.ndarray
    mask: np.ndarray


def gl_projection(label: torch.Tensor | np.ndarray, near: float, far: float) -> np.ndarray:
    """world -> clip 4x4 for an OpenCV-frame label, mapping normalised image coords u, v in [0, 1]
    to NDC 2u - 1, 2v - 1 (so framebuffer row i, read bottom-up, is image row i) and camera depth
    near..far to NDC z -1..1. Orthographic labels (negative focal) give an affine map."""
    cam2world, intr = (np.asarray(t, dtype=np.float64) for t in split_label(torch.as_tensor(label).reshape(25)))
    fx, fy, skew, cx, cy = abs(intr[0, 0]), abs(intr[1, 1]), intr[0, 1], intr[0, 2], intr[1, 2]
    span = far - near
    if intr[0, 0] < 0:
        cam2clip = np.array([[2 * fx, 2 * skew, 0, 2 * cx - 1],
                             [0, 2 * fy, 0, 2 * cy - 1],
                             [0, 0, 2 / span, -(far + near) / span],
                             [0, 0, 0, 1]])
    else:
        cam2clip = np.array([[2 * fx, 2 * skew, 2 * cx - 1, 0],
                             [0, 2 * fy, 2 * cy - 1, 0],
                             [0, 0, (far + near) / span, -2 * far * near / span],
                             [0, 0, 1, 0]])
    return cam2clip @ np.linalg.inv(cam2world)


def create_context():
    """A standalone EGL context, or RendererUnavailable with a one-line hint."""
    try:
        import moderngl
        return moderngl.create_standalone_context(backend="egl")
    except Exception as exc:  # moderngl/glcontext raise bare Exceptions for a missing libEGL
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise RendererUnavailable(f"cannot start a headless OpenGL (EGL) context ({reason}); {EGL_HINT}") from None


class MeshRenderer:
    """Renders meshes with a camera label into rgba, xyz and mask at one resolution.

    One instance owns one GL context: create it inside the process (worker) that uses it.
    """

    def __init__(self, resolution: int, supersample: int = 3, alpha_cutoff: float = 0.5):
        if supersample < 1 or supersample % 2 == 0:
            raise ValueError(f"supersample must be odd so a sample sits on each pixel centre, got {supersample}")
        self.resolution, self.supersample = resolution, supersample
        self.ctx = create_context()
        self.program = self.ctx.program(vertex_shader=_VERTEX_SHADER, fragment_shader=_FRAGMENT_SHADER)
        self.alpha_cutoff = alpha_cutoff
        size = (resolution * supersample,) * 2
        self.samples = [self.ctx.texture(size, 4, dtype="f1"), self.ctx.texture(size, 4, dtype="f4")]
        for texture in self.samples:
            texture.filter = (self.ctx.NEAREST, self.ctx.NEAREST)
        self.fbo = self.ctx.framebuffer(color_attachments=self.samples, depth_attachment=self.ctx.depth_renderbuffer(size))
        self.resolve = self.ctx.program(vertex_shader=_RESOLVE_VERTEX_SHADER, fragment_shader=_RESOLVE_FRAGMENT_SHADER)
        self.resolve["color_ss"].value, self.resolve["xyz_ss"].value, self.resolve["s"].value = 1, 2, supersample
        self.resolve_vao = self.ctx.vertex_array(self.resolve, [])
        self.out = self.ctx.framebuffer(color_attachments=[self.ctx.renderbuffer((resolution,) * 2, 4, dtype="f4")
                                                           for _ in range(2)])
        self.white = self.ctx.texture((1, 1), 4, bytes([255] * 4))
        self._uploaded: tuple[list[Mesh], list, list] | None = None

    def release(self) -> None:
        """Free the GL context (and everything in it)."""
        self.ctx.release()

    def render(self, meshes: Mesh | Sequence[Mesh], label: torch.Tensor | np.ndarray,
               near: float, far: float, clip_plane: Sequence[float] | None = None) -> Render:
        """Draw the meshes (unlit, depth tested) from the camera of a 25-float label.

        clip_plane (a, b, c, d) keeps only the geometry where a x + b y + c z + d >= 0 (a head cut
        from its body). Passing the same Mesh objects again reuses their uploaded buffers and
        textures (a character is seen from many views), so do not modify a Mesh in place between renders.
        """
        ctx = self.ctx
        self.fbo.use()
        self.fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        ctx.enable(ctx.DEPTH_TEST)
        ctx.enable_direct(GL_CLIP_DISTANCE0)
        ctx.front_face = "cw"  # gl_projection flips image rows, which turns the winding over
        ctx.cull_face = "back"
        self.program["world2clip"].write(gl_projection(label, near, far).astype("f4").T.tobytes())
        self.program["clip_plane"].value = tuple(float(v) for v in (clip_plane or (0, 0, 0, 1)))
        self.program["tex"].value = 0
        drawables = self._upload([meshes] if isinstance(meshes, Mesh) else list(meshes))
        for item in drawables:
            if not item.mesh.blend:
                self._draw(item, self.alpha_cutoff if item.mesh.alpha_cutoff is None else item.mesh.alpha_cutoff)
        blended = [item for item in drawables if item.mesh.blend]
        if blended:
            self._draw_blended(blended, label)
        ctx.disable_direct(GL_CLIP_DISTANCE0)
        return self._read()

    def _draw(self, item: _Drawable, cutoff: float, blend: bool = False) -> None:
        if item.mesh.double_sided:
            self.ctx.disable(self.ctx.CULL_FACE)
        else:
            self.ctx.enable(self.ctx.CULL_FACE)
        self.program["alpha_cutoff"].value = cutoff
        self.program["blend"].value = blend
        item.texture.use(0)
        item.vao.render()

    def _draw_blended(self, items: list[_Drawable], label: torch.Tensor | np.ndarray) -> None:
        """Colour composited back to front without depth writes, then depth + xyz of the solid parts."""
        ctx, fbo = self.ctx, self.fbo
        cam2world = np.asarray(split_label(torch.as_tensor(label).reshape(25))[0], np.float64)
        forward, eye = cam2world[:3, 2], cam2world[:3, 3]
        items = sorted(items, key=lambda item: -float((item.centre - eye) @ forward))
        for item in items:
            depth = (item.mesh.positions[item.mesh.faces].mean(1) - eye) @ forward
            item.index.write(np.ascontiguousarray(item.mesh.faces[np.argsort(-depth, kind="stable")], "i4").tobytes())
        ctx.enable(ctx.BLEND)
        ctx.blend_func = (ctx.SRC_ALPHA, ctx.ONE_MINUS_SRC_ALPHA, ctx.ONE, ctx.ONE_MINUS_SRC_ALPHA)
        fbo.depth_mask, fbo.color_mask = False, ((True,) * 4, (False,) * 4)
        for item in items:
            self._draw(item, 1 / 255, blend=True)
        ctx.disable(ctx.BLEND)
        fbo.depth_mask, fbo.color_mask = True, ((False,) * 4, (True,) * 4)
        for item in items:
            self._draw(item, BLEND_XYZ_CUTOFF)
        fbo.color_mask = ((True,) * 4, (True,) * 4)

    def _upload(self, meshes: list[Mesh]) -> list[_Drawable]:
        """Vertex array, texture and index buffer per mesh, cached for the last list of meshes drawn."""
        if self._uploaded is not None and len(self._uploaded[0]) == len(meshes) and all(
                a is b for a, b in zip(self._uploaded[0], meshes)):
            return self._uploaded[1]
        if self._uploaded is not None:
            for obj in self._uploaded[2]:
                obj.release()
        ctx, drawables, owned, textures = self.ctx, [], [], {}
        for mesh in meshes:
            uvs = mesh.uvs if mesh.uvs is not None else np.zeros((len(mesh.positions), 2))
            buffers = [ctx.buffer(np.ascontiguousarray(a, dtype="f4").tobytes()) for a in (mesh.positions, mesh.colors, uvs)]
            index = ctx.buffer(np.ascontiguousarray(mesh.faces, dtype="i4").tobytes())
            vao = ctx.vertex_array(self.program, [(buffers[0], "3f", "in_pos"), (buffers[1], "4f", "in_color"),
                                                  (buffers[2], "2f", "in_uv")], index_buffer=index, index_element_size=4)
            texture = self.white
            if mesh.texture is not None and id(mesh.texture) not in textures:
                height, width = mesh.texture.shape[:2]
                textures[id(mesh.texture)] = ctx.texture((width, height), 4,
                                                         np.ascontiguousarray(mesh.texture, dtype="u1").tobytes())
                textures[id(mesh.texture)].build_mipmaps()
                owned.append(textures[id(mesh.texture)])
            if mesh.texture is not None:
                texture = textures[id(mesh.texture)]
            drawables.append(_Drawable(mesh, vao, texture, index, np.asarray(mesh.positions, np.float64).mean(0)))
            owned += [vao, index, *buffers]
        self._uploaded = (meshes, drawables, owned)  # holding the meshes keeps their identities unique
        return drawables

    def _read(self) -> Render:
        """Resolve the samples on the GL side (only R x R pixels come back), then quantise."""
        ctx, r = self.ctx, self.resolution
        self.out.use()
        ctx.disable(ctx.DEPTH_TEST | ctx.CULL_FACE)
        self.samples[0].use(1)
        self.samples[1].use(2)
        self.resolve_vao.render(vertices=3)
        color, centre = (np.frombuffer(self.out.read(components=4, attachment=i, dtype="f4"), np.float32).reshape(r, r, 4)
                         for i in range(2))
        hit = centre[..., 3] > 0.5
        rgba = np.rint(color * 255).clip(0, 255).astype(np.uint8)
        rgba[..., 3] = np.where(hit, rgba[..., 3], np.minimum(rgba[..., 3], MASK_THRESHOLD))
        xyz = np.where(hit[..., None], centre[..., :3], 0).astype(np.float32)
        return Render(rgba=rgba, xyz=xyz, hit=hit, mask=rgba[..., 3] > MASK_THRESHOLD)


_renderer: MeshRenderer | None = None


def get_renderer(res: int) -> MeshRenderer:
    """This process's renderer (the synthetic and the character-file runs share it), created on first
    use so a missing EGL surfaces as the task's error (a failing Pool initializer would be restarted
    forever); kept while the resolution is the same."""
    global _renderer
    if _renderer is not None and _renderer.resolution != res:
        _renderer.release()
        _renderer = None
    if _renderer is None:
        _renderer = MeshRenderer(res)
    return _renderer
