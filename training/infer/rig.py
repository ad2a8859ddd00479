"""A humanoid skeleton placed from a reconstructed character's mesh, for the VRM export.

The character stands in the rest pose the data has (training/geometry/camera.py's frame: y up, facing
+z, its left towards +x), so the bones can be placed from landmarks of the shape, measured on points
sampled over the surface, and anatomical proportions in between:

- the floor and the top of the hair (the height, y0..y1);
- the neck: the lowest point of the front profile (the front-most surface along the body's axis)
  between the face and the chest, as the side silhouette shows it; the head's size u follows from the
  neck-to-top distance (about 2.55 head radii with the hair), and the shoulder line lies just below
  the neck, the head bone just above it;
- the hands: on each side, the surface points furthest from the axis between the shoulders and the hips
  (the arms hang outwards in the rest pose), the wrist a little inside them; the elbow halfway up;
- the feet: the centroid of the lowest points on each side, the ankle above the heel;
- the shoulder joints: inside the outermost surface just below the shoulder line;
- the depth of the body's axis: the middle of the front and back of the legs and hips (2nd and 98th
  percentiles);
- hips, spine, chest, knees at the usual fractions of the shoulder-to-floor and hip-to-floor heights.

Only the front half of the body (points in front of the axis) is used for the arms, so hair and a
backpack behind never pass for a hand. Everything falls back to proportions of the bounding box where
a landmark is missing, so any mesh gets a skeleton. The ratios are those of the synthetic characters
(training/data/synth/skeleton.py), whose joints training/data/synth/joints.py knows; tests measure
the result against them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.geometry.humanoid import BONES

NECK_TO_TOP = 2.55  # head radii from the neck's narrowest point to the top of the hair
LEG_FRACTION = 0.54  # hip height / shoulder height (floor at 0)
WAIST_FRACTION = 0.45  # waist between hips (0) and shoulders (1)
SAMPLES = 60_000


@dataclass
class Rig:
    """Bone head positions (world units) by VRM humanoid bone name, in BONES order."""

    joints: dict[str, np.ndarray]

    def positions(self) -> np.ndarray:
        """(len(BONES), 3) in BONES order."""
        return np.stack([self.joints[b] for b in BONES])


def surface_points(vertices: np.ndarray, faces: np.ndarray, n: int = SAMPLES, seed: int = 0) -> np.ndarray:
    """n points spread over the surface by area (deterministic), plus the vertices."""
    tri = vertices[faces].astype(np.float64)
    area = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    if not area.sum() > 0:
        return vertices.astype(np.float64)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(faces), n, p=area / area.sum())
    bary = rng.dirichlet(np.ones(3), n)
    return np.concatenate([np.einsum("kc,kcd->kd", bary, tri[pick]), vertices.astype(np.float64)])


def _rows(y: np.ndarray, lo: float, hi: float, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Row index of each point's height in bins over [lo, hi], and the rows' centre heights."""
    index = np.clip(((y - lo) / max(hi - lo, 1e-12) * bins).astype(int), 0, bins - 1)
    return index, lo + (np.arange(bins) + 0.5) * (hi - lo) / bins


def front_profile(points: np.ndarray, axis_x: float, half_width: float, lo: float, hi: float,
                  bins: int) -> tuple[np.ndarray, np.ndarray]:
    """(row heights, the largest z per row of the points within half_width of x = axis_x; nan if none)."""
    near = np.abs(points[:, 0] - axis_x) < half_width
    index, heights = _rows(points[near, 1], lo, hi, bins)
    profile = np.full(bins, -np.inf)
    np.maximum.at(profile, index, points[near, 2])
    return heights, np.where(np.isfinite(profile), profile, np.nan)


def find_neck(points: np.ndarray, axis_x: float, y0: float, y1: float) -> float:
    """Height of the neck: the front profile's minimum between the face (its maximum in the top quarter)
    and 0.2 heights below it; 0.8 of the height where the profile has no dip."""
    height = y1 - y0
    bins = 200
    heights, profile = front_profile(points, axis_x, 0.04 * height, y0, y1, bins)
    smooth = np.convolve(np.nan_to_num(profile, nan=-np.inf), np.ones(3) / 3, mode="same")
    top = heights > y1 - 0.25 * height
    if not np.isfinite(smooth[top]).any():
        return y0 + 0.8 * height
    face = heights[top][np.nanargmax(np.where(np.isfinite(smooth[top]), smooth[top], -np.inf))]
    window = (heights < face - 0.03 * height) & (heights > face - 0.2 * height) & np.isfinite(smooth)
    if not window.any():
        return y0 + 0.8 * height
    return float(heights[window][np.argmin(smooth[window])])


def _side(points: np.ndarray, axis_x: float, side: float) -> np.ndarray:
    return points[(points[:, 0] - axis_x) * side > 0]


def estimate_rig(vertices: np.ndarray, faces: np.ndarray) -> Rig:
    """The skeleton of a character mesh in the rest pose (module docstring)."""
    points = surface_points(vertices, faces)
    y0, y1 = float(points[:, 1].min()), float(points[:, 1].max())
    lo, hi = points.min(0), points.max(0)
    axis_x = float(np.median(points[:, 0]))
    neck_y = find_neck(points, axis_x, y0, y1)
    u = (y1 - neck_y) / NECK_TO_TOP  # head radius
    shoulder_y = neck_y - 0.2 * u
    hip_y = y0 + LEG_FRACTION * (shoulder_y - y0)
    knee_y = y0 + 0.5 * (hip_y - y0)
    waist_y = hip_y + WAIST_FRACTION * (shoulder_y - hip_y)
    legs = points[(points[:, 1] > knee_y) & (points[:, 1] < hip_y)]
    # percentiles: a stray sliver of surface (a fold of the field, a strand of hair) does not move the axis
    axis_z = float(np.percentile(legs[:, 2], [2, 98]).mean()) if len(legs) else float((lo[2] + hi[2]) / 2)
    joints = {"hips": (axis_x, hip_y, axis_z), "spine": (axis_x, waist_y, axis_z),
              "chest": (axis_x, (waist_y + shoulder_y) / 2, axis_z), "neck": (axis_x, shoulder_y, axis_z),
              "head": (axis_x, neck_y + 0.45 * u, axis_z - 0.1 * u)}
    front = points[points[:, 2] > axis_z]
    feet = points[points[:, 1] < y0 + 0.3 * u]
    for side, name in ((1.0, "left"), (-1.0, "right")):
        band = _side(front[(front[:, 1] < shoulder_y - 0.3 * u) & (front[:, 1] > shoulder_y - 0.6 * u)], axis_x, side)
        reach = float(np.abs(band[:, 0] - axis_x).max()) if len(band) else 0.25 * (hi[0] - lo[0])
        shoulder = np.array([axis_x + side * max(reach - 0.3 * u, 0.5 * u), shoulder_y - 0.15 * u, axis_z])
        arm = _side(front[(front[:, 1] < shoulder_y - 0.6 * u) & (front[:, 1] > hip_y)], axis_x, side)
        if len(arm):
            lateral = np.abs(arm[:, 0] - axis_x)
            tip = arm[lateral > lateral.max() - 0.1 * u].mean(0)
            wrist = np.array([tip[0] - side * 0.2 * u, tip[1], tip[2]])
        else:
            wrist = shoulder + [side * 0.5 * u, -(shoulder_y - hip_y) * 0.7, 0]
        foot = _side(feet, axis_x, side)
        foot_x = float(foot[:, 0].mean()) if len(foot) else axis_x + side * 0.1 * (hi[0] - lo[0])
        foot_z = float(foot[:, 2].mean()) - 0.22 * u if len(foot) else axis_z
        spread = foot_x - axis_x
        joints.update({f"{name}UpperArm": shoulder, f"{name}LowerArm": (shoulder + wrist) / 2, f"{name}Hand": wrist,
                       f"{name}UpperLeg": (axis_x + 1.19 * spread, hip_y, axis_z),
                       f"{name}LowerLeg": (axis_x + 1.07 * spread, knee_y, (axis_z + foot_z) / 2),
                       f"{name}Foot": (foot_x, y0 + 0.3 * u, foot_z)})
    return Rig({b: np.asarray(joints[b], np.float64) for b in BONES})
