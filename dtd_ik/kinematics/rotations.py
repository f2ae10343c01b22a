"""Rotation utilities on batched torch tensors.

Quaternions are x-y-z-w (the ROS order) everywhere in dtd_ik. Rotation matrices are (..., 3, 3)
and act on column vectors.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

# Squared norms below this count as zero in the safe square roots (keeps gradients finite).
_TINY = 1e-30


def safe_norm(v: Tensor, dim: int = -1) -> Tensor:
    """Euclidean norm along ``dim`` whose gradient is finite (zero) where the norm is zero."""
    sq = (v * v).sum(dim)
    nonzero = sq > _TINY
    return torch.where(
        nonzero, torch.sqrt(torch.where(nonzero, sq, torch.ones_like(sq))), torch.zeros_like(sq)
    )


# The rotation matrix of q = (x, y, z, w), row-major, as quadratic forms in q: entry r is the sum
# of c * q_i * q_j over _MATRIX_TERMS[r]. (1 - 2 (yy + zz) is written ww + xx - yy - zz: the same
# for a unit q, and homogeneous, so R(q) = forms(q) / (q . q) for any q != 0.) One outer product
# and one matrix product then give all nine entries: a handful of tensor ops instead of about
# thirty, which is most of the network's single-query time for its rotation-matrix input.
_X, _Y, _Z, _W = 0, 1, 2, 3
_MATRIX_TERMS = (
    ((_W, _W, 1.0), (_X, _X, 1.0), (_Y, _Y, -1.0), (_Z, _Z, -1.0)),  # R00
    ((_X, _Y, 2.0), (_W, _Z, -2.0)),  # R01 = 2 (xy - wz)
    ((_X, _Z, 2.0), (_W, _Y, 2.0)),  # R02 = 2 (xz + wy)
    ((_X, _Y, 2.0), (_W, _Z, 2.0)),  # R10 = 2 (xy + wz)
    ((_W, _W, 1.0), (_X, _X, -1.0), (_Y, _Y, 1.0), (_Z, _Z, -1.0)),  # R11
    ((_Y, _Z, 2.0), (_W, _X, -2.0)),  # R12 = 2 (yz - wx)
    ((_X, _Z, 2.0), (_W, _Y, -2.0)),  # R20 = 2 (xz - wy)
    ((_Y, _Z, 2.0), (_W, _X, 2.0)),  # R21 = 2 (yz + wx)
    ((_W, _W, 1.0), (_X, _X, -1.0), (_Y, _Y, -1.0), (_Z, _Z, 1.0)),  # R22
)
_BASIS_ROWS = [[0.0] * 9 for _ in range(16)]  # row 4 i + j: the coefficients of q_i q_j
for _r, _terms in enumerate(_MATRIX_TERMS):
    for _i, _j, _c in _terms:
        _BASIS_ROWS[4 * _i + _j][_r] = _c


@functools.cache
def _basis(dtype: torch.dtype, device: torch.device) -> Tensor:
    # made once per dtype and device: the training objective calls quaternion_to_matrix every
    # step, and a fresh host-to-device copy there would stall a GPU step
    return torch.tensor(_BASIS_ROWS, dtype=dtype, device=device)


# TorchScript callers pass the basis (e.g. a module buffer); unused there, and without annotations
# because TorchScript cannot resolve this module's postponed (string) ones on an unused function.
@torch.jit.unused
def quaternion_matrix_basis(like):  # (like: Tensor) -> Tensor
    """(16, 9) B with R(q).flatten() = (q q^T).flatten() @ B / (q . q), q x-y-z-w, in the dtype
    and on the device of ``like``. Shared and cached: clone it before changing it in place."""
    return _basis(like.dtype, like.device)


def quaternion_to_matrix(q: Tensor, basis: Tensor | None = None) -> Tensor:
    """(..., 4) quaternion x-y-z-w of any non-zero norm -> (..., 3, 3) rotation matrix.

    ``basis``: :func:`quaternion_matrix_basis` ``(q)`` (built here when None; TorchScript code
    must pass it). R(q) = R(-q) exactly; a zero q gives NaN.
    """
    if basis is None:
        basis = quaternion_matrix_basis(q)
    products = (q.unsqueeze(-1) * q.unsqueeze(-2)).flatten(-2)  # (..., 16) q_i q_j
    entries = products @ basis / (q * q).sum(-1, keepdim=True)
    return entries.reshape(q.shape[:-1] + (3, 3))


def matrix_to_quaternion(R: Tensor) -> Tensor:
    """(..., 3, 3) rotation matrix -> (..., 4) unit quaternion x-y-z-w with w >= 0.

    Shepperd's method: of the four algebraically equal formulas, each row takes the one whose
    pivot (4w^2, 4x^2, 4y^2 or 4z^2) is largest, so no division by a small number occurs.
    """
    m00, m01, m02 = R[..., 0, 0], R[..., 0, 1], R[..., 0, 2]
    m10, m11, m12 = R[..., 1, 0], R[..., 1, 1], R[..., 1, 2]
    m20, m21, m22 = R[..., 2, 0], R[..., 2, 1], R[..., 2, 2]
    # pivots 4w^2, 4x^2, 4y^2, 4z^2
    pivots = torch.stack(
        [1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22],
        dim=-1,
    )
    # rows: 4 * (w, x, y, z) * (w, x, y, z)[pivot], in x-y-z-w order
    candidates = torch.stack(
        [
            torch.stack([m21 - m12, m02 - m20, m10 - m01, pivots[..., 0]], dim=-1),
            torch.stack([pivots[..., 1], m01 + m10, m02 + m20, m21 - m12], dim=-1),
            torch.stack([m01 + m10, pivots[..., 2], m12 + m21, m02 - m20], dim=-1),
            torch.stack([m02 + m20, m12 + m21, pivots[..., 3], m10 - m01], dim=-1),
        ],
        dim=-2,
    )  # (..., 4, 4)
    best = pivots.argmax(dim=-1, keepdim=True)  # (..., 1)
    q = torch.gather(candidates, -2, best[..., None].expand(best.shape[:-1] + (1, 4)))[..., 0, :]
    return canonical_hemisphere(q / q.norm(dim=-1, keepdim=True))


def canonical_hemisphere(q: Tensor) -> Tensor:
    """(..., 4) x-y-z-w quaternion flipped to w >= 0 (q and -q are the same rotation).

    The network input needs one representative per rotation; at w == 0 the sign of the first
    non-zero of x, y, z decides, so the choice is still unique.
    """
    x, y, z, w = q.unbind(-1)
    tie = torch.where(x != 0, x, torch.where(y != 0, y, z))
    flip = (w < 0) | ((w == 0) & (tie < 0))
    return torch.where(flip[..., None], -q, q)


def geodesic_angle(R_a: Tensor, R_b: Tensor) -> Tensor:
    """(...,) angle [rad, 0..pi] of the rotation between (..., 3, 3) matrices ``R_a`` and ``R_b``.

    Equal to the paper's arccos((trace(R_a R_b^T) - 1) / 2), computed as atan2(sin, cos) of the
    relative rotation so that the gradient stays finite at 0 and at pi (arccos' is infinite there).
    """
    return _relative_angle(R_a @ R_b.transpose(-1, -2))[0]


def _relative_angle(R: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(angle (...,), 2 sin(angle) * axis (..., 3), sin(angle) (...,)) of rotation R
    (..., 3, 3)."""
    cos = (R[..., 0, 0] + R[..., 1, 1] + R[..., 2, 2] - 1) / 2
    axis_times_2sin = torch.stack(
        [R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]],
        dim=-1,
    )
    sin = safe_norm(axis_times_2sin) / 2
    return torch.atan2(sin, cos), axis_times_2sin, sin


def rotation_error_vector(R_goal: Tensor, R: Tensor) -> Tensor:
    """(..., 3) axis * angle [rad] of R_goal R^T in the base frame: the rotation still to go.

    The angular part of the refinement residual; its norm equals :func:`geodesic_angle`.
    """
    R_rel = R_goal @ R.transpose(-1, -2)
    angle, v, sin = _relative_angle(R_rel)
    # angle / (2 sin(angle)) -> 1/2 at angle 0; near pi the axis comes from the symmetric part.
    away_from_0 = sin > 1e-6
    scale = torch.where(
        away_from_0,
        angle / (2 * torch.where(away_from_0, sin, torch.ones_like(sin))),
        torch.full_like(sin, 0.5),
    )
    near_pi = angle > 3.0
    if bool(near_pi.any()):
        # sym(R_rel) - cos I = (1 - cos) a a^T: the axis is its largest-diagonal column
        cos = torch.cos(angle)[..., None, None]
        eye = torch.eye(3, dtype=R.dtype, device=R.device)
        S = (R_rel + R_rel.transpose(-1, -2)) / 2 - cos * eye
        col = torch.diagonal(S, dim1=-2, dim2=-1).argmax(-1)
        a = torch.gather(S, -1, col[..., None, None].expand(S.shape[:-1] + (1,)))[..., 0]
        a = a / safe_norm(a)[..., None].clamp_min(1e-12)
        a = torch.where(((a * v).sum(-1) < 0)[..., None], -a, a)
        v_pi = a * angle[..., None]
        return torch.where(near_pi[..., None], v_pi, v * scale[..., None])
    return v * scale[..., None]
