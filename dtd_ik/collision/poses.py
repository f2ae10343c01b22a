"""Rigid transforms for the collision library: checked (4, 4) matrices and their FCL form."""

from __future__ import annotations

import fcl
import numpy as np

from dtd_ik.collision.exceptions import InvalidShapeError
from dtd_ik.robot.spatial import quaternion_norms, quaternion_to_matrix

#: How far a pose's rotation block may be from orthonormal (max |R^T R - I|) before it is refused.
ROTATION_TOLERANCE = 1e-6


def rigid_transform(pose, what: str = "pose") -> np.ndarray:
    """``pose`` as a float64 (4, 4) rigid transform [m]; ``None`` is the identity.

    Raises :class:`InvalidShapeError` naming ``what`` for a wrong shape, NaN/inf, a rotation
    block that is not a rotation or a bottom row other than (0, 0, 0, 1).
    """
    if pose is None:
        return np.eye(4)
    try:
        T = np.array(pose, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidShapeError(f"{what}: must be a numeric (4, 4) transform") from exc
    if T.shape != (4, 4):
        raise InvalidShapeError(f"{what}: must be a (4, 4) transform, got shape {T.shape}")
    if not np.isfinite(T).all():
        raise InvalidShapeError(f"{what}: contains NaN or inf")
    R = T[:3, :3]
    if (
        np.abs(R.T @ R - np.eye(3)).max() > ROTATION_TOLERANCE
        or np.linalg.det(R) < 0
        or np.abs(T[3] - (0, 0, 0, 1)).max() > 0
    ):
        raise InvalidShapeError(f"{what}: not a rigid transform (rotation block or bottom row)")
    return T


def pose_matrix(position, quaternion_xyzw) -> np.ndarray:
    """(4, 4) transform from a position (3,) [m] and a quaternion x-y-z-w (4,), normalised.

    Raises :class:`InvalidShapeError` for NaN/inf or a zero quaternion.
    """
    p = np.asarray(position, dtype=np.float64)
    norm, unit = quaternion_norms(np.asarray(quaternion_xyzw, dtype=np.float64))
    if p.shape != (3,) or unit.shape != (4,):
        raise InvalidShapeError("pose: position must be (3,) and quaternion (4,)")
    if not (np.isfinite(p).all() and np.isfinite(norm)) or norm == 0:
        raise InvalidShapeError("pose: non-finite position or zero/non-finite quaternion")
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = quaternion_to_matrix(unit), p
    return T


def fcl_transform(T: np.ndarray) -> fcl.Transform:
    """The FCL form of a (4, 4) rigid transform."""
    return fcl.Transform(T[:3, :3], T[:3, 3])


__all__ = ["ROTATION_TOLERANCE", "fcl_transform", "pose_matrix", "rigid_transform"]
