"""Joint placement error of an estimated skeleton: the mean distance between estimated and true bone
positions, as a fraction of the character's height (so characters of any size compare)."""
from __future__ import annotations

import numpy as np


def joint_errors(estimated: dict[str, np.ndarray], truth: dict[str, np.ndarray], height: float) -> dict[str, float]:
    """Per bone of truth: |estimated - true| / height."""
    missing = sorted(set(truth) - set(estimated))
    if missing:
        raise KeyError(f"no estimate for bone(s) {', '.join(missing)}")
    return {b: float(np.linalg.norm(np.asarray(estimated[b]) - truth[b]) / height) for b in truth}


def mean_joint_error(estimated: dict[str, np.ndarray], truth: dict[str, np.ndarray], height: float) -> float:
    """The mean of joint_errors: 0.05 is a mean error of 5 % of the height."""
    return float(np.mean(list(joint_errors(estimated, truth, height).values())))
