"""Compiled (numba) FK, geometric Jacobian and capsule distances for the refinement solver.

The same maths as :mod:`dtd_ik.kinematics.forward` and :mod:`dtd_ik.kinematics.capsules`, on the
same constants, without torch: :class:`CompiledRobot` builds the Rodrigues matrices ``M0, M1, M2``
(:func:`dtd_ik.robot.spatial.rodrigues_constants`), the capsules, the checked pairs and the
distance maps from the :class:`~dtd_ik.robot.model.RobotModel`, so nothing here is a second robot
description. The torch code stays the differentiable, batched, GPU-capable version (training,
reference); these kernels are scalar loops over one configuration, for the solver's inner loop
where eager torch costs microseconds per op (see docs/solver.md). Tests compare both against each
other, pybullet and finite differences.

Layouts (float64, one configuration): chain frames ``F`` (n + 1, 3, 4) = [R | p] of base->link i
(index 0 the base); Jacobian (6, n), rows linear [m/rad] then angular [1]; capsule end points ``W``
(C, 2, 3) [m] in the base frame; pair distances (P + K,) [m] (P capsule pairs, then K pairs
measured by a distance map, as in :class:`~dtd_ik.kinematics.capsules.CapsuleModel`), < 0 means
overlap. Batches of configurations: :mod:`dtd_ik.solver.kernels.batch`.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import cos, sin, sqrt
from typing import NamedTuple

import numpy as np
from numba import njit

from dtd_ik.exceptions import ConfigError
from dtd_ik.robot.distance_table import load_distance_table
from dtd_ik.robot.model import RobotModel, load_robot_model
from dtd_ik.robot.spatial import rodrigues_constants

# Same thresholds as dtd_ik.kinematics.capsules.segment_closest_points.
_DEGENERATE = 1e-12
_TINY = 1e-30


class RobotArrays(NamedTuple):
    """The robot constants as contiguous float64/int64 arrays, the kernels' ``robot`` argument
    (a NamedTuple, so numba types it and the kernels read its fields by name)."""

    M0: np.ndarray  # (n, 4, 4) joint origins
    M1: np.ndarray  # (n, 4, 4) origin @ K (rotation block), zero elsewhere
    M2: np.ndarray  # (n, 4, 4) origin @ K^2 (rotation block), zero elsewhere
    axes: np.ndarray  # (n, 3) joint axes in their child frames
    lower: np.ndarray  # (n,) [rad]
    upper: np.ndarray  # (n,) [rad]
    cap_frame: np.ndarray  # (C,) int64 chain-frame index each capsule is fixed to
    cap_ends: np.ndarray  # (C, 2, 3) capsule end points in that chain frame [m]
    cap_half: np.ndarray  # (C,) half-lengths of the capsule segments [m]
    pairs: np.ndarray  # (P, 2) int64 capsule indices, ordered as CapsuleModel.pair_names
    radius_sum: np.ndarray  # (P,) [m]
    map_tables: np.ndarray  # (K, S, S) distance maps [m] (lower bounds)
    map_joints: np.ndarray  # (K, 2) int64 the two joints each map is tabulated over
    map_grid: np.ndarray  # (K, 2) start angle [rad] and step [rad] of each map's grid


@dataclass(frozen=True)
class CompiledRobot:
    """A :class:`RobotModel` made ready for the kernels: its :class:`RobotArrays` and the names
    of the checked pairs (P capsule pairs, then K distance maps)."""

    arrays: RobotArrays
    pair_names: tuple[tuple[str, str], ...]  # (P + K,) as CapsuleModel.pair_names
    model: RobotModel

    @property
    def dof(self) -> int:
        return self.arrays.lower.shape[0]

    @property
    def lower(self) -> np.ndarray:
        """(n,) lower joint limits [rad]."""
        return self.arrays.lower

    @property
    def upper(self) -> np.ndarray:
        """(n,) upper joint limits [rad]."""
        return self.arrays.upper

    def frame(self, name: str) -> tuple[int, np.ndarray]:
        """(chain index, (4, 4) float64 offset) of a named frame; raises UnknownFrameError."""
        index, offset = self.model.frame(name)
        return index, np.ascontiguousarray(offset, dtype=np.float64)

    @classmethod
    def from_model(cls, model: RobotModel | None = None) -> CompiledRobot:
        model = model if model is not None else load_robot_model()
        M0, M1, M2 = rodrigues_constants(model.joint_origins, model.joint_axes)
        cap_frame, cap_ends = [], []
        for capsule in model.capsules:
            index, offset = model.frame(capsule.link)
            cap_frame.append(index)
            cap_ends.append([(offset @ np.append(e, 1.0))[:3] for e in (capsule.a, capsule.b)])
        # same pairs and order as CapsuleModel: capsule pairs not covered by a map, then maps
        pairs_arr, capsule_names = model.capsule_pairs()
        names = list(capsule_names)
        tables, map_joints, grid = [], [], []
        for spec in model.distance_maps:
            table = load_distance_table(spec.file)
            tables.append(table.table)
            map_joints.append(spec.joints)
            grid.append((table.start, table.step))
            names.append((spec.link, "|".join(spec.links)))
        if len({t.shape for t in tables}) > 1:
            raise ConfigError(
                f"{model.source}: the compiled solver needs distance maps of one size"
            )
        radii = np.array([c.radius for c in model.capsules], dtype=np.float64)

        def f64(x):
            return np.ascontiguousarray(x, dtype=np.float64)

        arrays = RobotArrays(
            M0=f64(M0),
            M1=f64(M1),
            M2=f64(M2),
            axes=f64(model.joint_axes),
            lower=f64(model.lower),
            upper=f64(model.upper),
            cap_frame=np.array(cap_frame, dtype=np.int64).reshape(-1),
            cap_ends=f64(np.array(cap_ends).reshape(-1, 2, 3)),
            cap_half=f64(np.array([np.linalg.norm(c.b - c.a) / 2 for c in model.capsules])),
            pairs=pairs_arr,
            radius_sum=f64(
                radii[pairs_arr[:, 0]] + radii[pairs_arr[:, 1]] if len(pairs_arr) else np.zeros(0)
            ),
            map_tables=f64(
                np.array(tables).reshape(len(tables), *(tables[0].shape if tables else (1, 1)))
            ),
            map_joints=np.array(map_joints, dtype=np.int64).reshape(-1, 2),
            map_grid=f64(np.array(grid).reshape(-1, 2)),
        )
        return cls(arrays=arrays, pair_names=tuple(names), model=model)


@njit(cache=True)
def chain_fk(q, M0, M1, M2, F):
    """Fill ``F`` (n + 1, 3, 4) with base->link transforms of joints ``q`` (n,) [rad]."""
    n = q.shape[0]
    F[0, :, :] = 0.0
    F[0, 0, 0] = F[0, 1, 1] = F[0, 2, 2] = 1.0
    for i in range(n):
        s, c = sin(q[i]), 1.0 - cos(q[i])
        for k in range(4):  # column k of the local transform, then of F[i] @ local
            l0 = M0[i, 0, k] + s * M1[i, 0, k] + c * M2[i, 0, k]
            l1 = M0[i, 1, k] + s * M1[i, 1, k] + c * M2[i, 1, k]
            l2 = M0[i, 2, k] + s * M1[i, 2, k] + c * M2[i, 2, k]
            for r in range(3):
                acc = F[i, r, 0] * l0 + F[i, r, 1] * l1 + F[i, r, 2] * l2
                if k == 3:
                    acc += F[i, r, 3]
                F[i + 1, r, k] = acc


@njit(cache=True)
def tip_pose(F, index, offset, R, p):
    """Fill ``R`` (3, 3) and ``p`` (3,) [m] with the pose of ``F[index] @ offset`` (4, 4)."""
    for r in range(3):
        for k in range(3):
            R[r, k] = (
                F[index, r, 0] * offset[0, k]
                + F[index, r, 1] * offset[1, k]
                + F[index, r, 2] * offset[2, k]
            )
        p[r] = (
            F[index, r, 0] * offset[0, 3]
            + F[index, r, 1] * offset[1, 3]
            + F[index, r, 2] * offset[2, 3]
            + F[index, r, 3]
        )


@njit(cache=True)
def joint_axes_world(F, axes, A):
    """Fill ``A`` (n, 3) with every joint axis in the base frame (joint j's child frame j + 1)."""
    for j in range(axes.shape[0]):
        for r in range(3):
            A[j, r] = (
                F[j + 1, r, 0] * axes[j, 0]
                + F[j + 1, r, 1] * axes[j, 1]
                + F[j + 1, r, 2] * axes[j, 2]
            )


@njit(cache=True)
def geometric_jacobian(F, A, index, p, J):
    """Fill ``J`` (6, n): column j = [a_j x (p - o_j); a_j] for the joints that move chain frame
    ``index``.

    ``A`` (n, 3) world axes from :func:`joint_axes_world`, ``p`` (3,) the tip position [m].
    """
    n = A.shape[0]
    for j in range(n):
        if j + 1 > index:  # joint j does not move frames before its child
            for r in range(6):
                J[r, j] = 0.0
            continue
        dx, dy, dz = p[0] - F[j + 1, 0, 3], p[1] - F[j + 1, 1, 3], p[2] - F[j + 1, 2, 3]
        ax, ay, az = A[j, 0], A[j, 1], A[j, 2]
        J[0, j] = ay * dz - az * dy
        J[1, j] = az * dx - ax * dz
        J[2, j] = ax * dy - ay * dx
        J[3, j], J[4, j], J[5, j] = ax, ay, az


@njit(cache=True)
def _clamp01(x):
    return 0.0 if x < 0.0 else (1.0 if x > 1.0 else x)


@njit(cache=True, inline="always")
def segment_params(p1x, p1y, p1z, q1x, q1y, q1z, p2x, p2y, p2z, q2x, q2y, q2z):
    """Closest-point parameters (s, t) in [0, 1] of segments p1-q1, p2-q2 (Ericson 5.1.9).

    A scalar port of :func:`dtd_ik.kinematics.capsules.segment_closest_points` (same branches).
    """
    d1x, d1y, d1z = q1x - p1x, q1y - p1y, q1z - p1z
    d2x, d2y, d2z = q2x - p2x, q2y - p2y, q2z - p2z
    rx, ry, rz = p1x - p2x, p1y - p2y, p1z - p2z
    a = d1x * d1x + d1y * d1y + d1z * d1z
    e = d2x * d2x + d2y * d2y + d2z * d2z
    b = d1x * d2x + d1y * d2y + d1z * d2z
    c = d1x * rx + d1y * ry + d1z * rz
    f = d2x * rx + d2y * ry + d2z * rz
    a_ok, e_ok = a > _DEGENERATE, e > _DEGENERATE
    a_safe = a if a_ok else 1.0
    e_safe = e if e_ok else 1.0
    denom = a * e - b * b
    s = _clamp01((b * f - c * e) / denom) if denom > _DEGENERATE * a * e else 0.0
    t = (b * s + f) / e_safe
    if t < 0.0:
        s = _clamp01(-c / a_safe)
    elif t > 1.0:
        s = _clamp01((b - c) / a_safe)
    t = _clamp01(t)
    if not a_ok:
        s, t = 0.0, _clamp01(f / e_safe)
    if not e_ok:
        s, t = _clamp01(-c / a_safe), 0.0
    return s, t


@njit(cache=True)
def capsule_ends_world(F, cap_frame, cap_ends, W):
    """Fill ``W`` (C, 2, 3) with every capsule's end points in the base frame [m]."""
    for c in range(cap_frame.shape[0]):
        f = cap_frame[c]
        for e in range(2):
            for r in range(3):
                W[c, e, r] = (
                    F[f, r, 0] * cap_ends[c, e, 0]
                    + F[f, r, 1] * cap_ends[c, e, 1]
                    + F[f, r, 2] * cap_ends[c, e, 2]
                    + F[f, r, 3]
                )


@njit(cache=True)
def capsule_pair_distances(
    F, A, cap_frame, cap_half, W, pairs, radius_sum, exact_below, grad_below, D, G
):
    """Signed distance of every checked capsule pair and, below ``grad_below`` [m], its gradient.

    Fills ``D`` (P,) [m] and, for pairs with ``D < grad_below``, row ``G[k]`` (n,) = dD_k/dq
    [m/rad] (other rows are left untouched). A pair whose bounding spheres (segment midpoint,
    half-length ``cap_half`` (C,) + radius) are ``exact_below`` or farther apart gets that lower
    bound in ``D`` instead of its exact distance (``exact_below = inf``: every distance exact);
    ``grad_below`` should not exceed ``exact_below``.
    The gradient moves both closest points with the joints that carry them:
    dD/dq_j = u . (a_j x (c1 - o_j)) - u . (a_j x (c2 - o_j)), u the unit vector c2 -> c1; exact
    by the envelope theorem, zero where the segments touch. Returns the index of the smallest
    entry of ``D`` (-1 if there is none).
    """
    best, best_k = np.inf, -1
    n = A.shape[0]
    for k in range(pairs.shape[0]):
        i, j = pairs[k, 0], pairs[k, 1]
        a0x, a0y, a0z = W[i, 0, 0], W[i, 0, 1], W[i, 0, 2]
        a1x, a1y, a1z = W[i, 1, 0], W[i, 1, 1], W[i, 1, 2]
        b0x, b0y, b0z = W[j, 0, 0], W[j, 0, 1], W[j, 0, 2]
        b1x, b1y, b1z = W[j, 1, 0], W[j, 1, 1], W[j, 1, 2]
        mx = 0.5 * (a0x + a1x - b0x - b1x)
        my = 0.5 * (a0y + a1y - b0y - b1y)
        mz = 0.5 * (a0z + a1z - b0z - b1z)
        bound = sqrt(mx * mx + my * my + mz * mz) - cap_half[i] - cap_half[j] - radius_sum[k]
        if bound >= exact_below:
            D[k] = bound
            if bound < best:
                best, best_k = bound, k
            continue
        s, t = segment_params(a0x, a0y, a0z, a1x, a1y, a1z, b0x, b0y, b0z, b1x, b1y, b1z)
        c1x, c1y, c1z = a0x + s * (a1x - a0x), a0y + s * (a1y - a0y), a0z + s * (a1z - a0z)
        c2x, c2y, c2z = b0x + t * (b1x - b0x), b0y + t * (b1y - b0y), b0z + t * (b1z - b0z)
        ux, uy, uz = c1x - c2x, c1y - c2y, c1z - c2z
        sq = ux * ux + uy * uy + uz * uz
        norm = sqrt(sq) if sq > _TINY else 0.0
        d = norm - radius_sum[k]
        D[k] = d
        if d < best:
            best, best_k = d, k
        if d < grad_below:
            inv = 1.0 / norm if norm > 0.0 else 0.0
            ux, uy, uz = ux * inv, uy * inv, uz * inv
            fi, fj = cap_frame[i], cap_frame[j]
            for jj in range(n):
                g = 0.0
                ox, oy, oz = F[jj + 1, 0, 3], F[jj + 1, 1, 3], F[jj + 1, 2, 3]
                ax, ay, az = A[jj, 0], A[jj, 1], A[jj, 2]
                if jj + 1 <= fi:  # (a x r) . u
                    rx, ry, rz = c1x - ox, c1y - oy, c1z - oz
                    g += (
                        (ay * rz - az * ry) * ux
                        + (az * rx - ax * rz) * uy
                        + (ax * ry - ay * rx) * uz
                    )
                if jj + 1 <= fj:
                    rx, ry, rz = c2x - ox, c2y - oy, c2z - oz
                    g -= (
                        (ay * rz - az * ry) * ux
                        + (az * rx - ax * rz) * uy
                        + (ax * ry - ay * rx) * uz
                    )
                G[k, jj] = g
    return best_k


@njit(cache=True)
def map_distance(q, table, ja, jb, start, step, grad_below, G_row):
    """Bilinear lower bound of a mapped pair's distance [m] at joints ``q`` (the torch
    :meth:`dtd_ik.kinematics.distance_map.DistanceMap.distance`, periodic in both angles); below
    ``grad_below`` also fills ``G_row`` (n,) with its gradient [m/rad]."""
    n = table.shape[0]
    two_pi = 2.0 * np.pi
    ua = ((q[ja] - start) % two_pi) / step
    ub = ((q[jb] - start) % two_pi) / step
    fa, fb = np.floor(ua), np.floor(ub)
    ta, tb = ua - fa, ub - fb
    ia0, ib0 = int(fa) % n, int(fb) % n
    ia1, ib1 = (ia0 + 1) % n, (ib0 + 1) % n
    d00, d01, d10, d11 = table[ia0, ib0], table[ia0, ib1], table[ia1, ib0], table[ia1, ib1]
    d = (1 - ta) * ((1 - tb) * d00 + tb * d01) + ta * ((1 - tb) * d10 + tb * d11)
    if d < grad_below:
        for j in range(G_row.shape[0]):
            G_row[j] = 0.0
        G_row[ja] = ((1 - tb) * (d10 - d00) + tb * (d11 - d01)) / step
        G_row[jb] = ((1 - ta) * (d01 - d00) + ta * (d11 - d10)) / step
    return d


@njit(cache=True)
def collision_distances(q, F, A, W, robot, exact_below, grad_below, D, G):
    """Every checked pair's distance into ``D`` (P + K,) [m] (capsule pairs, then distance maps)
    and, below ``grad_below``, its gradient into ``G`` (P + K, n); capsule pairs farther than
    ``exact_below`` may get a lower bound instead (see :func:`capsule_pair_distances`). ``F``
    from :func:`chain_fk`, ``A`` from :func:`joint_axes_world`; ``W`` (C, 2, 3) scratch. Returns
    the closest pair's index (-1 if there is none)."""
    # fields read once into locals: numba re-references a NamedTuple field at every use
    cap_frame, cap_ends, cap_half = robot.cap_frame, robot.cap_ends, robot.cap_half
    pairs, radius_sum, map_tables = robot.pairs, robot.radius_sum, robot.map_tables
    map_joints, map_grid = robot.map_joints, robot.map_grid
    capsule_ends_world(F, cap_frame, cap_ends, W)
    best_k = capsule_pair_distances(
        F, A, cap_frame, cap_half, W, pairs, radius_sum, exact_below, grad_below, D, G
    )
    best = D[best_k] if best_k >= 0 else np.inf
    P = pairs.shape[0]
    for m in range(map_joints.shape[0]):
        d = map_distance(
            q,
            map_tables[m],
            map_joints[m, 0],
            map_joints[m, 1],
            map_grid[m, 0],
            map_grid[m, 1],
            grad_below,
            G[P + m],
        )
        D[P + m] = d
        if d < best:
            best, best_k = d, P + m
    return best_k


__all__ = [
    "RobotArrays",
    "CompiledRobot",
    "chain_fk",
    "tip_pose",
    "joint_axes_world",
    "geometric_jacobian",
    "segment_params",
    "capsule_ends_world",
    "capsule_pair_distances",
    "map_distance",
    "collision_distances",
]
