"""Helpers shared by the data tests."""
from __future__ import annotations

import numpy as np

from training.data.layout import MASK_THRESHOLD


def mirrored_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean abs RGB difference (composited on white, in [0, 1]) of a and b flipped left-right, over
    the union of their masks."""
    b = b[:, ::-1]
    union = (a[..., 3] > MASK_THRESHOLD) | (b[..., 3] > MASK_THRESHOLD)
    a, b = (x.astype(np.float64) / 255 for x in (a, b))
    a, b = (x[..., :3] * x[..., 3:] + 1 - x[..., 3:] for x in (a, b))
    return float(np.abs(a - b)[union].mean())
