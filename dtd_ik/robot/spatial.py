"""Spatial maths in numpy: quaternions (x-y-z-w, as in ROS) and rigid (4, 4) transforms [m].

The solver's and the ROS layer's single-goal paths use these; the torch versions in
:mod:`dtd_ik.kinematics.rotations` serve training and batched tensors. No message types here:
:mod:`dtd_ik.ros.conversions` turns messages into these arrays.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from dtd_ik.exceptions import InvalidInputError

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


def checked_pose(position: Sequence[float], quaternion: Sequence[float],
                 what: str = "pose") -> tuple[np.ndarray, np.ndarray]:
    """One pose from plain numbers -> (position (3,) [m], unit quaternion (4,) x-y-z-w).

    Raises InvalidInputError for NaN/inf or a quaternion of norm below
    :data:`MIN_QUATERNION_NORM`; any other quaternion is normalised (clients often send slightly
    non-unit quaternions). ``what`` names the pose in the error.
    """
    # Scalar maths (as quaternion_norms does for arrays): one pose per request, where numpy's
    # per-call cost would be most of the work. Scaled by the largest component first, so that
    # components up to the float64 maximum keep their direction.
    position, quat = tuple(position), tuple(quaternion)
    if not all(map(math.isfinite, position + quat)):
        raise InvalidInputError(f"{what} contains NaN or inf")
    scale = max(map(abs, quat))
    scaled = [c / scale for c in quat] if scale > 0 else [0.0] * 4
    length = math.hypot(*scaled)
    if scale * length < MIN_QUATERNION_NORM:
        raise InvalidInputError(
            f"{what} has a zero orientation quaternion (norm {scale * length:.1e}); "
            "send a unit quaternion, e.g. w=1 for no rotation")
    return np.array(position, dtype=np.float64), np.array([c / length for c in scaled])


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) unit quaternions x-y-z-w -> (..., 3, 3) rotation matrices."""
    q = np.asarray(q, dtype=np.float64)
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], axis=-1).reshape(q.shape[:-1] + (3, 3))


def matrix_to_quaternion(R: np.ndarray) -> np.ndarray:
    """(3, 3) rotation -> (4,) unit quaternion x-y-z-w with w >= 0 (Shepperd's method)."""
    trace = R[0, 0] + R[1, 1] + R[2, 2]
    if trace > 0:
        s = 2.0 * math.sqrt(1.0 + trace)
        q = [(R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s, s / 4]
    else:  # from the largest diagonal entry i, the stable branch near 180 degrees
        i = int(np.argmax(np.diag(R)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * math.sqrt(max(1.0 + R[i, i] - R[j, j] - R[k, k], 1e-300))
        q = [0.0, 0.0, 0.0, (R[k, j] - R[j, k]) / s]
        q[i] = s / 4
        q[j] = (R[j, i] + R[i, j]) / s
        q[k] = (R[k, i] + R[i, k]) / s
    q = np.asarray(q)
    q /= np.linalg.norm(q)
    return -q if q[3] < 0 else q


def transform_matrix(position: np.ndarray, quaternion: np.ndarray) -> np.ndarray:
    """(3,) position [m] and (4,) unit quaternion x-y-z-w -> (4, 4) transform."""
    T = np.eye(4)
    T[:3, :3] = quaternion_to_matrix(quaternion)
    T[:3, 3] = position
    return T


def invert_transform(T: np.ndarray) -> np.ndarray:
    """Inverse of a rigid (4, 4) transform."""
    inv = np.eye(4)
    inv[:3, :3] = T[:3, :3].T
    inv[:3, 3] = -T[:3, :3].T @ T[:3, 3]
    return inv


def xyz_quat_to_matrix(values: Sequence[float], what: str) -> np.ndarray:
    """[x, y, z, qx, qy, qz, qw] (e.g. a parameter) -> (4, 4) transform; the checks of
    :func:`checked_pose`, and InvalidInputError for a list of another length."""
    values = [float(v) for v in values]
    if len(values) != 7:
        raise InvalidInputError(
            f"{what} must be [x, y, z, qx, qy, qz, qw], got {len(values)} numbers")
    return transform_matrix(*checked_pose(values[:3], values[3:], what))


__all__ = ["MIN_QUATERNION_NORM", "checked_pose", "invert_transform", "matrix_to_quaternion",
           "quaternion_norms", "quaternion_to_matrix", "transform_matrix", "xyz_quat_to_matrix"]
