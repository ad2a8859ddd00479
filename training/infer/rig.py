"""A humanoid skeleton placed from a reconstructed character's mesh, for the VRM export.

The character stands in the rest pose the data has (training/geometry/camera.py's frame: y up, facing
+z, its left towards +x), so the bones can be placed from landmarks of the shape, measured on points
sampled over the surface, and anatomical proportions in between:

- the floor and the top of the hair (the height, y0..y1);
- the neck: the lowest point of the front profile (the front-most surface along the body's axis)
  between the face and the chest, as the side silhouette shows it; the head's size u follows from the
  neck-to-top distance (about 2.55 head radii with the hair), and the shoulder line lies just below
  the neck, the head bone just above it;
- the arms, at whatever angle they hold (T-pose, A-pose or hanging): on each side the hand's outer end
  is the surface point furthest from the axis between the hips and the shoulder line. A tip that drops
  less than a third of an arm's length below the shoulder belongs to a raised (T-pose) arm, whose
  shoulder joint lies just outside the torso's half width at the chest (the run of surface from the
  axis outwards, which the raised arm crosses apart from), the wrist 0.4 head radii back from the tip
  along the shoulder-to-tip line. A lower arm's shoulder joint lies inside the outermost surface just
  below the shoulder line (the upper arm), its wrist a little inside the tip. The elbow is halfway.
- the feet: the centroid of the lowest points on each side, the ankle above the heel;
- the depth of the body's axis: the middle of the front and back of the legs and hips (2nd and 98th
  percentiles);
- the hip joints: each shin's centre line (two rows low on the leg, under most skirts) carried up to
  the hip height; legs stand straight or lean outwards;
- hips, spine, chest, knees at the usual fractions of the shoulder-to-floor and hip-to-floor heights,
  the legs' share growing from chibi to realistic (heads tall = height / the head's size).

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

MAX_HEADS_TALL = 10.0  # the generator's characters are 2.5-8 heads tall
NECK_TO_TOP = 2.55  # head radii from the neck's narrowest point to the top of the hair
LEG_FRACTION = (0.42, 0.58)  # hip height / shoulder height (floor at 0), chibi .. realistic
HEAD_Y = 1.06  # a head's half height / its radius u
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
    """Height of the neck: the front profile's minimum between the face and 0.2 heights below it; 0.8 of
    the height where the profile has no such dip. The face is the profile's topmost local maximum (below
    the top 3%, the hair's crown) that the profile falls from by 2% of the height within 0.15 heights:
    not the top quarter's most forward point, which on a tall character is the chest. A face whose neck
    would make the character over MAX_HEADS_TALL heads tall is a hat's brim: the next one down is tried."""
    height = y1 - y0
    bins = 200
    heights, profile = front_profile(points, axis_x, 0.04 * height, y0, y1, bins)
    smooth = np.convolve(np.nan_to_num(profile, nan=-np.inf), np.ones(3) / 3, mode="same")
    step = height / bins
    for i in np.flatnonzero((heights > y0 + 0.5 * height) & (heights < y1 - 0.03 * height))[::-1]:
        near = smooth[max(i - 2, 0):i + 3]
        below = smooth[max(i - int(0.15 * height / step), 0):i]
        if not (np.isfinite(smooth[i]) and smooth[i] >= near.max() and np.isfinite(below).any()
                and smooth[i] - below[np.isfinite(below)].min() > 0.02 * height):
            continue
        window = (heights < heights[i] - 0.03 * height) & (heights > heights[i] - 0.2 * height) & np.isfinite(smooth)
        if not window.any():
            continue
        neck = float(heights[window][np.argmin(smooth[window])])
        # a hat's brim juts out like a face; the dip under it leaves a head too small for the body
        if height / (2 * (y1 - neck) / NECK_TO_TOP) <= MAX_HEADS_TALL:
            return neck
    return y0 + 0.8 * height


def _side(points: np.ndarray, axis_x: float, side: float) -> np.ndarray:
    return points[(points[:, 0] - axis_x) * side > 0]


def torso_half_width(points: np.ndarray, axis_x: float, side: float, u: float) -> float | None:
    """How far the surface runs out from the axis without a gap (wider than 0.1 head radii) on one side:
    the torso's half width in a row that a raised arm crosses apart from it; None without points."""
    lateral = np.sort((points[:, 0] - axis_x) * side)
    lateral = lateral[lateral > 0]
    if not len(lateral):
        return None
    gaps = np.flatnonzero(np.diff(lateral) > 0.1 * u)
    return float(lateral[gaps[0]] if len(gaps) else lateral[-1])


def _arm(front: np.ndarray, axis_x: float, side: float, shoulder_y: float, hip_y: float, y0: float, u: float,
         lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(shoulder joint, wrist) of the arm on side -1 or 1, whatever its angle (module docstring)."""
    joint_y = shoulder_y - 0.15 * u
    arm = _side(front[(front[:, 1] < shoulder_y + 0.1 * u) & (front[:, 1] > hip_y)], axis_x, side)
    if not len(arm):
        shoulder = np.array([axis_x + side * 0.15 * (hi[0] - lo[0]), joint_y, 0.0])
        return shoulder, shoulder + [side * 0.5 * u, -(shoulder_y - hip_y) * 0.7, 0]
    lateral = np.abs(arm[:, 0] - axis_x)
    tip = arm[lateral > lateral.max() - 0.1 * u].mean(0)  # the hand's outer end (or side, hanging)
    # the arm's length is about 0.36 of the shoulder's height: a tip that drops less than a third of it
    # belongs to a raised (T-pose) arm, whose row also spans the whole arm, shoulder to hand
    raised = joint_y - tip[1] < 0.12 * (shoulder_y - y0)
    if raised:
        chest = _side(front[np.abs(front[:, 1] - (joint_y - 0.35 * (shoulder_y - hip_y))) < 0.1 * u], axis_x, side)
        width = torso_half_width(chest, axis_x, side, u)
        reach = 1.08 * width if width is not None else 0.2 * (hi[0] - lo[0])
        shoulder = np.array([axis_x + side * reach, joint_y, 0.0])
    else:
        band = _side(front[(front[:, 1] < shoulder_y - 0.3 * u) & (front[:, 1] > shoulder_y - 0.6 * u)], axis_x, side)
        reach = float(np.abs(band[:, 0] - axis_x).max()) if len(band) else 0.25 * (hi[0] - lo[0])
        shoulder = np.array([axis_x + side * max(reach - 0.3 * u, 0.5 * u), joint_y, 0.0])
    direction = tip - shoulder
    direction /= max(np.linalg.norm(direction), 1e-12)
    # the hand reaches ~0.45 head radii past the wrist along the forearm; a hanging arm's tip is the
    # hand's side, 0.2 head radii out from the wrist
    wrist = tip - 0.4 * u * direction if raised else np.array([tip[0] - side * 0.2 * u, tip[1], tip[2]])
    return shoulder, wrist


def _leg_top(points: np.ndarray, axis_x: float, side: float, ankle_y: float, hip_y: float, u: float) -> float | None:
    """x where the leg on one side meets the hips: the shin's centre line (mid-rows of the surface at a
    fifth and two fifths of the way from the ankle up to the hips, under most skirts) carried up to the
    hips; the legs stand straight or lean outwards. None without both rows."""
    centres = []
    for f in (0.2, 0.4):
        y = ankle_y + f * (hip_y - ankle_y)
        row = _side(points[np.abs(points[:, 1] - y) < 0.1 * u], axis_x, side)
        if not len(row):
            return None
        centres.append((y, (row[:, 0].min() + row[:, 0].max()) / 2))
    (ya, xa), (yb, xb) = centres
    return float(xa + (xb - xa) * (hip_y - ya) / (yb - ya))


def estimate_rig(vertices: np.ndarray, faces: np.ndarray) -> Rig:
    """The skeleton of a character mesh in the rest pose (module docstring)."""
    points = surface_points(vertices, faces)
    y0, y1 = float(points[:, 1].min()), float(points[:, 1].max())
    lo, hi = points.min(0), points.max(0)
    axis_x = float(np.median(points[:, 0]))
    neck_y = find_neck(points, axis_x, y0, y1)
    u = (y1 - neck_y) / NECK_TO_TOP  # head radius
    shoulder_y = neck_y - 0.2 * u
    # the legs' share of the shoulder height grows from chibi (2.5 heads tall) to realistic (8 heads)
    realism = np.clip(((y1 - y0) / (2 * HEAD_Y * u) - 2.5) / 5.5, 0, 1)
    hip_y = y0 + (LEG_FRACTION[0] + realism * (LEG_FRACTION[1] - LEG_FRACTION[0])) * (shoulder_y - y0)
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
        shoulder, wrist = _arm(front, axis_x, side, shoulder_y, hip_y, y0, u, lo, hi)
        foot = _side(feet, axis_x, side)
        foot_x = float(foot[:, 0].mean()) if len(foot) else axis_x + side * 0.1 * (hi[0] - lo[0])
        foot_z = float(foot[:, 2].mean()) - 0.22 * u if len(foot) else axis_z
        spread = foot_x - axis_x
        hip_x = _leg_top(points, axis_x, side, y0 + 0.3 * u, hip_y, u)
        lean = 0.5 if hip_x is None else float(np.clip((hip_x - axis_x) / spread, 0.25, 1.2)) if spread else 1.0
        hip_x = axis_x + lean * spread  # between a quarter of the foot's offset and a little beyond it
        shoulder[2] = axis_z
        joints.update({f"{name}UpperArm": shoulder, f"{name}LowerArm": (shoulder + wrist) / 2, f"{name}Hand": wrist,
                       f"{name}UpperLeg": (hip_x, hip_y, axis_z),
                       f"{name}LowerLeg": ((hip_x + foot_x) / 2, knee_y, (axis_z + foot_z) / 2),
                       f"{name}Foot": (foot_x, y0 + 0.3 * u, foot_z)})
    return Rig({b: np.asarray(joints[b], np.float64) for b in BONES})
