"""Cameras: poses from angles, EG3D's 25-float label, rays and projection.

World frame, used everywhere in this project:
    y is up; the character stands around the origin and faces +z, so the front camera sits on +z
    looking towards -z. Azimuth turns about +y: 0 = front, 90 = the character's left side (+x),
    180 = back, -90 = its right side. Positive elevation puts the camera above, looking down.
Camera frame: OpenCV (x right, y down, z forward); cam2world columns are right, down, forward and
    the camera position. This is the frame of the NOVA-Human release, so its labels match ours.
Intrinsics are normalised by the image size: a camera point (x, y, z) lands at
    u = fx * x / z + cx (perspective) or u = |fx| * x + cx (orthographic), u in [0, 1], and pixel i
    of an R-pixel row covers u in [i / R, (i + 1) / R]. An orthographic camera is flagged by a
    negative focal, fx = fy = -1 / width, and casts parallel rays over a width x width square
    (the preset's box width), starting on the plane through the camera position.
Label: cam2world (16, row-major) followed by the intrinsics (9, row-major), as in EG3D.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch

LABEL_DIM = 25


def camera_pose(elev: torch.Tensor, azim: torch.Tensor, dist: torch.Tensor,
                target: torch.Tensor | None = None) -> torch.Tensor:
    """cam2world (..., 4, 4) of a camera at (elev, azim) degrees and distance dist, looking at target.

    Built from the angles directly (not from an up vector), so straight-down views are well defined.
    """
    elev, azim, dist = torch.broadcast_tensors(*(torch.as_tensor(v, dtype=torch.float64) for v in (elev, azim, dist)))
    e, a = torch.deg2rad(elev), torch.deg2rad(azim)
    ce, se, ca, sa = torch.cos(e), torch.sin(e), torch.cos(a), torch.sin(a)
    zero = torch.zeros_like(e)
    back = torch.stack([ce * sa, se, ce * ca], -1)  # unit vector from target to camera
    right = torch.stack([ca, zero, -sa], -1)
    forward = -back
    down = torch.linalg.cross(forward, right)
    position = back * dist[..., None]
    if target is not None:
        position = position + torch.as_tensor(target, dtype=torch.float64)
    pose = torch.zeros(*e.shape, 4, 4, dtype=torch.float64)
    pose[..., :3, 0], pose[..., :3, 1], pose[..., :3, 2], pose[..., :3, 3] = right, down, forward, position
    pose[..., 3, 3] = 1
    return pose.float()


def intrinsics(fov: float, ortho_width: float | None = None) -> torch.Tensor:
    """Normalised 3x3 intrinsics: perspective for fov > 0 (degrees), orthographic (width given) for fov < 0."""
    if fov > 0:
        focal = 0.5 / math.tan(math.radians(fov) / 2)
    else:
        if ortho_width is None or ortho_width <= 0:
            raise ValueError("an orthographic camera (fov < 0) needs a positive ortho_width (the box width)")
        focal = -1.0 / ortho_width
    return torch.tensor([[focal, 0.0, 0.5], [0.0, focal, 0.5], [0.0, 0.0, 1.0]])


def make_label(cam2world: torch.Tensor, intr: torch.Tensor) -> torch.Tensor:
    """(..., 4, 4) and (..., 3, 3) -> (..., 25)."""
    batch = torch.broadcast_shapes(cam2world.shape[:-2], intr.shape[:-2])
    return torch.cat([cam2world.expand(*batch, 4, 4).flatten(-2), intr.expand(*batch, 3, 3).flatten(-2)], -1)


def split_label(label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., 25) -> cam2world (..., 4, 4), intrinsics (..., 3, 3)."""
    if label.shape[-1] != LABEL_DIM:
        raise ValueError(f"a camera label has {LABEL_DIM} values, got {label.shape[-1]}")
    return label[..., :16].unflatten(-1, (4, 4)), label[..., 16:].unflatten(-1, (3, 3))


def is_ortho(label: torch.Tensor) -> torch.Tensor:
    """Boolean (...,): True where the label is an orthographic camera (negative focal)."""
    return label[..., 16] < 0


def mirror_label(label: torch.Tensor) -> torch.Tensor:
    """The camera that sees the world mirrored in x = 0 as the horizontally flipped image."""
    cam2world, intr = split_label(label)
    flip4 = torch.diag(torch.tensor([-1.0, 1.0, 1.0, 1.0], dtype=label.dtype, device=label.device))
    cam2world = flip4 @ cam2world @ flip4  # world x -> -x, camera x -> -x
    intr = intr.clone()
    intr[..., 0, 2] = 1 - intr[..., 0, 2]
    return make_label(cam2world, intr)


def ray_bundle(label: torch.Tensor, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays through the pixel centres, row-major: origins and unit directions, each (B, R*R, 3).

    Perspective rays start at the camera position; orthographic rays start on the plane through it.
    """
    cam2world, intr = split_label(label.reshape(-1, LABEL_DIM).float())
    centres = (torch.arange(resolution, dtype=torch.float32, device=label.device) + 0.5) / resolution
    v, u = torch.meshgrid(centres, centres, indexing="ij")
    u, v = u.reshape(1, -1), v.reshape(1, -1)
    fx, fy = intr[:, 0, 0, None], intr[:, 1, 1, None]
    cx, cy, skew = intr[:, 0, 2, None], intr[:, 1, 2, None], intr[:, 0, 1, None]
    ortho = (fx < 0)[:, :, None]
    y = (v - cy) / fy.abs()
    x = (u - cx - skew * y) / fx.abs()
    rot, position = cam2world[:, None, :3, :3], cam2world[:, None, :3, 3]
    lateral = (rot[..., :2] @ torch.stack([x, y], -1)[..., None])[..., 0]  # (B, P, 3)
    forward = rot[..., 2].expand_as(lateral)
    directions = torch.where(ortho, forward, torch.nn.functional.normalize(lateral + forward, dim=-1))
    origins = torch.where(ortho, position + lateral, position.expand_as(lateral))
    return origins, directions


def project(points: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """World points (B, N, 3) -> normalised image coordinates (B, N, 2) in [0, 1] and depth (B, N).

    Depth is the distance along the view axis from the camera (perspective z, or from the ortho plane).
    """
    cam2world, intr = split_label(label.reshape(-1, LABEL_DIM).float())
    world2cam = torch.linalg.inv(cam2world)
    cam = (world2cam[:, None, :3, :3] @ points[..., None])[..., 0] + world2cam[:, None, :3, 3]
    depth = cam[..., 2]
    ortho = (intr[:, 0, 0] < 0)[:, None]
    scale = torch.where(ortho, torch.ones_like(depth), depth)
    xn, yn = cam[..., 0] / scale, cam[..., 1] / scale
    fx, fy = intr[:, 0, 0, None].abs(), intr[:, 1, 1, None].abs()
    u = fx * xn + intr[:, 0, 1, None] * yn + intr[:, 0, 2, None]
    v = fy * yn + intr[:, 1, 2, None]
    return torch.stack([u, v], -1), depth


def sample_views(n: int, generator: torch.Generator, elev_std: float = 20.0,
                 elev_clip: float = 60.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random views on the sphere: elevation ~ elev_std * N(0, 1) clipped, azimuth ~ U[0, 360)."""
    elev = (torch.randn(n, generator=generator, dtype=torch.float64) * elev_std).clamp(-elev_clip, elev_clip)
    azim = torch.rand(n, generator=generator, dtype=torch.float64) * 360.0
    return elev, azim


@dataclass(frozen=True)
class RenderParams:
    """One view as the NOVA-Human meta json records it (angles and fov in degrees; fov < 0: ortho)."""

    elev: float
    azim: float
    dist: float
    fov: float
    near: float
    far: float
    boxwarp: float

    @property
    def ortho(self) -> bool:
        return self.fov < 0

    def label(self) -> torch.Tensor:
        pose = camera_pose(torch.tensor(self.elev), torch.tensor(self.azim), torch.tensor(self.dist))
        return make_label(pose, intrinsics(self.fov, self.boxwarp))

    def to_meta(self) -> dict:
        return {k: float(v) for k, v in asdict(self).items()}

    @classmethod
    def from_meta(cls, meta: dict) -> "RenderParams":
        """Build from a meta entry (missing, non-numeric or non-finite fields raise ValueError naming them)."""
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in meta]
        if missing:
            raise ValueError(f"render_params lacks {', '.join(missing)}")
        try:
            values = {n: float(meta[n]) for n in names}
        except (TypeError, ValueError):
            raise ValueError(f"render_params has a non-numeric value: {meta}") from None
        bad = [f"{n}={v}" for n, v in values.items() if not math.isfinite(v)]
        if bad:
            raise ValueError(f"render_params has a non-finite value: {', '.join(bad)}")
        return cls(**values)
