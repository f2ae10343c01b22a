"""Spatial maths in numpy: quaternions (x-y-z-w, as in ROS) and rigid (4, 4) transforms [m], for
the solver, its kernels and the ROS layer, none of which may need torch.

The torch versions in :mod:`dtd_ik.kinematics.rotations` serve training and batched tensors (and
are the tests' reference for these); these avoid torch's per-call overhead on the single-goal
paths. No message types here: :mod:`dtd_ik.ros.conversions` turns messages into these arrays.
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


def checked_pose(
    position: Sequence[float], quaternion: Sequence[float], what: str = "pose"
) -> tuple[np.ndarray, np.ndarray]:
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
            "send a unit quaternion, e.g. w=1 for no rotation"
        )
    return np.array(position, dtype=np.float64), np.array([c / length for c in scaled])


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) unit quaternions x-y-z-w -> (..., 3, 3) rotation matrices."""
    q = np.asarray(q, dtype=np.float64)
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack(
        [
            1 - 2 * (y * y + z * z),
            2 * (x * y - w * z),
            2 * (x * z + w * y),
            2 * (x * y + w * z),
            1 - 2 * (x * x + z * z),
            2 * (y * z - w * x),
            2 * (x * z - w * y),
            2 * (y * z + w * x),
            1 - 2 * (x * x + y * y),
        ],
        axis=-1,
    ).reshape(q.shape[:-1] + (3, 3))


def matrix_to_quaternion(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions x-y-z-w with w >= 0.

    Shepperd's method, as :func:`dtd_ik.kinematics.rotations.matrix_to_quaternion`: each matrix
    takes the formula whose pivot (4w^2, 4x^2, 4y^2 or 4z^2) is largest, so no division by a
    small number occurs; at w == 0 the first non-zero of x, y, z is made positive.
    """
    R = np.asarray(R, dtype=np.float64)
    m00, m01, m02 = R[..., 0, 0], R[..., 0, 1], R[..., 0, 2]
    m10, m11, m12 = R[..., 1, 0], R[..., 1, 1], R[..., 1, 2]
    m20, m21, m22 = R[..., 2, 0], R[..., 2, 1], R[..., 2, 2]
    pivots = np.stack(
        [1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22],
        axis=-1,
    )
    candidates = np.stack(
        [  # (..., 4 pivots, 4) rows 4 * (x, y, z, w) * the pivot's component
            np.stack([m21 - m12, m02 - m20, m10 - m01, pivots[..., 0]], axis=-1),
            np.stack([pivots[..., 1], m01 + m10, m02 + m20, m21 - m12], axis=-1),
            np.stack([m01 + m10, pivots[..., 2], m12 + m21, m02 - m20], axis=-1),
            np.stack([m02 + m20, m12 + m21, pivots[..., 3], m10 - m01], axis=-1),
        ],
        axis=-2,
    )
    best = pivots.argmax(axis=-1)[..., None, None]
    q = np.take_along_axis(candidates, best, axis=-2)[..., 0, :]
    q = q / np.sqrt((q * q).sum(axis=-1, keepdims=True))
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    tie = np.where(x != 0, x, np.where(y != 0, y, z))
    flip = (w < 0) | ((w == 0) & (tie < 0))
    return np.where(flip[..., None], -q, q)


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
            f"{what} must be [x, y, z, qx, qy, qz, qw], got {len(values)} numbers"
        )
    return transform_matrix(*checked_pose(values[:3], values[3:], what))


def rodrigues_constants(
    origins: np.ndarray, axes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Constants of revolute joints' local transforms: ``origins`` (n, 4, 4) parent->child at
    q = 0 [m], unit ``axes`` (n, 3) in the child frame -> M0, M1, M2 (n, 4, 4) with

        T_i(q_i) = origin_i Rot(axis_i, q_i) = M0_i + sin(q_i) M1_i + (1 - cos(q_i)) M2_i

    (Rodrigues: Rot = I + sin(q) K + (1 - cos q) K^2, K the cross-product matrix of the axis);
    M1 and M2 are zero outside their rotation block.
    """
    K = np.zeros(axes.shape[:-1] + (3, 3))
    K[..., 0, 1], K[..., 0, 2], K[..., 1, 2] = -axes[..., 2], axes[..., 1], -axes[..., 0]
    K = K - np.swapaxes(K, -1, -2)
    M1, M2 = np.zeros_like(origins), np.zeros_like(origins)
    M1[..., :3, :3] = origins[..., :3, :3] @ K
    M2[..., :3, :3] = origins[..., :3, :3] @ K @ K
    return np.array(origins, dtype=np.float64), M1, M2


__all__ = [
    "MIN_QUATERNION_NORM",
    "checked_pose",
    "invert_transform",
    "matrix_to_quaternion",
    "quaternion_norms",
    "quaternion_to_matrix",
    "rodrigues_constants",
    "transform_matrix",
    "xyz_quat_to_matrix",
]
