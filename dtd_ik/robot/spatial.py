"""Quaternion helpers in numpy (x-y-z-w, as in ROS) for the solver's and the ROS layer's inputs.

The torch versions in :mod:`dtd_ik.kinematics.rotations` serve training and batched tensors; these avoid
torch's per-call overhead on the single-goal paths.
"""
from __future__ import annotations

import numpy as np

#: A quaternion whose norm is below this is no rotation at all: refused instead of normalised.
MIN_QUATERNION_NORM = 1e-6


def quaternion_norms(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., 4) quaternions -> (norm (...,), unit quaternions (..., 4)).

    Each is scaled by its largest component before squaring, so components up to the float64
    maximum neither overflow nor lose the direction; a zero quaternion gives norm 0 (and zeros).
    """
    q = np.asarray(q, dtype=np.float64)
    scale = np.abs(q).max(axis=-1, keepdims=True)
    scaled = q / np.where(scale > 0, scale, 1.0)
    length = np.sqrt((scaled * scaled).sum(axis=-1, keepdims=True))
    unit = scaled / np.where(length > 0, length, 1.0)
    return (scale * length)[..., 0], unit


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) unit quaternions x-y-z-w -> (..., 3, 3) rotation matrices."""
    q = np.asarray(q, dtype=np.float64)
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], axis=-1).reshape(q.shape[:-1] + (3, 3))


__all__ = ["MIN_QUATERNION_NORM", "quaternion_norms", "quaternion_to_matrix"]
