"""A table of collision-free configurations and their poses: nearest-pose seeds for the solver.

Without a network (or when its seed fails), a configuration whose tip pose is near the goal's is
a far better start for Levenberg-Marquardt than a uniform random one. The table is sampled at
load time, deterministically from the solver's ``random_seed``, with the compiled kernels, and
bucketed in a uniform grid over positions; :func:`nearest_table_entries` (compiled) finds a
goal's nearest entries by scanning grid shells outwards.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from dtd_ik.exceptions import ConfigError
from dtd_ik.robot.spatial import matrix_to_quaternion
from dtd_ik.solver.kernels.batch import CompiledKinematics

#: Configurations sampled per round while filling the table.
_CHUNK = 4096
#: Rounds before giving up on a margin that (almost) no configuration meets.
_MAX_ROUNDS = 64
#: Edge of a grid cell [m].
CELL = 0.15


class SeedTable(NamedTuple):
    """K configurations and the poses of one chain frame, bucketed in a grid of cubic cells
    numbered (i * ny + j) * nz + k; the kernels take it as it is (a NamedTuple)."""

    q: np.ndarray  # (K, n) joints [rad], ordered by grid cell
    pose: np.ndarray  # (K, 7) position [m] then unit quaternion x-y-z-w, rows as q
    cell_start: np.ndarray  # (cells + 1,) int64 the first row of every cell
    origin: np.ndarray  # (3,) corner of cell (0, 0, 0) [m]
    cell: float  # edge of a cell [m]
    dims: np.ndarray  # (3,) int64 cells along x, y, z

    @classmethod
    def from_samples(
        cls, q: np.ndarray, p: np.ndarray, quat: np.ndarray, cell: float = CELL
    ) -> SeedTable:
        """Bucket configurations (K, n) with positions (K, 3) [m] and quaternions (K, 4)."""
        K = len(q)
        origin = p.min(axis=0) - 1e-9 if K else np.zeros(3)
        dims = (
            np.floor((p.max(axis=0) - origin) / cell).astype(np.int64) + 1
            if K
            else np.ones(3, dtype=np.int64)
        )
        ijk = np.minimum(np.floor((p - origin) / cell).astype(np.int64), dims - 1)
        cell_id = (ijk[:, 0] * dims[1] + ijk[:, 1]) * dims[2] + ijk[:, 2]
        order = np.argsort(cell_id, kind="stable")
        counts = np.bincount(cell_id, minlength=int(np.prod(dims)))
        cell_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        pose = np.concatenate([p, quat], axis=1)[order]
        return cls(
            np.ascontiguousarray(q[order], dtype=np.float64),
            np.ascontiguousarray(pose, dtype=np.float64),
            cell_start,
            np.ascontiguousarray(origin, dtype=np.float64),
            float(cell),
            dims,
        )

    @classmethod
    def empty(cls, dof: int) -> SeedTable:
        """A table without entries (``seed_table_size: 0``)."""
        return cls.from_samples(np.zeros((0, dof)), np.zeros((0, 3)), np.zeros((0, 4)))

    @classmethod
    def build(
        cls,
        kinematics: CompiledKinematics,
        index: int,
        size: int,
        min_margin: float,
        random_seed: int,
    ) -> SeedTable:
        """``size`` uniform configurations, every checked pair >= ``min_margin`` [m] apart, and
        the poses of chain frame ``index``."""
        robot = kinematics.robot
        if size <= 0:
            return cls.empty(robot.dof)
        rng = np.random.default_rng([random_seed, index])
        kept: list[np.ndarray] = []
        count = 0
        for _ in range(_MAX_ROUNDS):
            Q = rng.uniform(robot.lower, robot.upper, (_CHUNK, robot.dof))
            Q = Q[kinematics.min_distance(Q)[0] >= min_margin]
            kept.append(Q)
            count += len(Q)
            if count >= size:
                break
        else:
            raise ConfigError(
                f"seed table: only {count} of {size} sampled configurations have a "
                f"margin >= {min_margin} m"
            )
        Q = np.ascontiguousarray(np.concatenate(kept)[:size])
        R, p = kinematics.forward(Q, robot.model.chain_links[index])
        quat = matrix_to_quaternion(R)
        return cls.from_samples(Q, p, quat)


@njit(cache=True)
def _scan_cell(pose, first, last, gx, gy, gz, qx, qy, qz, qw, w4, best, out):
    """Insert the entries first..last-1 that beat the k-th best into (best, out)."""
    k = out.shape[0]
    for i in range(first, last):
        dx, dy, dz = pose[i, 0] - gx, pose[i, 1] - gy, pose[i, 2] - gz
        d = dx * dx + dy * dy + dz * dz
        if d >= best[k - 1]:  # the position alone is too far
            continue
        dot = pose[i, 3] * qx + pose[i, 4] * qy + pose[i, 5] * qz + pose[i, 6] * qw
        d += w4 * (1.0 - dot * dot)
        if d >= best[k - 1]:
            continue
        j = k - 1
        while j > 0 and best[j - 1] > d:
            best[j], out[j] = best[j - 1], out[j - 1]
            j -= 1
        best[j], out[j] = d, i


@njit(cache=True)
def nearest_table_entries(table, goal_p, goal_quat, w2, max_ring, out):
    """Rows of the table's ``pose`` nearest to a goal, nearest first, into ``out`` (k,); returns
    how many were found. ``table`` is a :class:`SeedTable`.

    Distance |p - p_i|^2 + 4 w2 (1 - (q . q_i)^2) [m^2], i.e. |p - p_i|^2 + w2 |R - R_i|_F^2 / 2
    (sign-free in the quaternions). Grid shells r = 0, 1, ... around the goal's cell (of the
    goal projected into the grid's box, which brings no entry closer) are scanned until every
    entry of shell r lies at least ((r - 1) * cell)^2 away, beyond the k-th best (exact), or
    until shell ``max_ring`` is done (approximate: only entries within about ``max_ring`` cells
    of the goal's position compete; a seed needs to be good, not the very nearest). If those
    shells hold fewer than k entries, further shells are scanned until k are found.
    """
    pose, cell_start, origin, dims = table.pose, table.cell_start, table.origin, table.dims
    k, K = out.shape[0], pose.shape[0]
    best = np.full(k, np.inf)
    if K == 0:
        return 0
    gx, gy, gz = goal_p[0], goal_p[1], goal_p[2]
    qx, qy, qz, qw = goal_quat[0], goal_quat[1], goal_quat[2], goal_quat[3]
    w4, h = 4.0 * w2, table.cell
    nx, ny, nz = dims[0], dims[1], dims[2]
    c = np.empty(3, dtype=np.int64)
    for a in range(3):
        v = int(np.floor((goal_p[a] - origin[a]) / h))
        c[a] = 0 if v < 0 else (dims[a] - 1 if v >= dims[a] else v)
    r_max = max(nx, ny, nz)
    for r in range(r_max + 1):
        if r >= 2 and ((r - 1) * h) ** 2 >= best[k - 1]:
            break
        if r > max_ring and best[k - 1] < np.inf:
            break
        for i in range(c[0] - r, c[0] + r + 1):
            if i < 0 or i >= nx:
                continue
            for j in range(c[1] - r, c[1] + r + 1):
                if j < 0 or j >= ny:
                    continue
                side = abs(i - c[0]) == r or abs(j - c[1]) == r
                step = 1 if side else max(2 * r, 1)  # inside the shell's x-y square: only z = +-r
                for kk in range(c[2] - r, c[2] + r + 1, step):
                    if kk < 0 or kk >= nz:
                        continue
                    cell = (i * ny + j) * nz + kk
                    _scan_cell(
                        pose,
                        cell_start[cell],
                        cell_start[cell + 1],
                        gx,
                        gy,
                        gz,
                        qx,
                        qy,
                        qz,
                        qw,
                        w4,
                        best,
                        out,
                    )
    found = 0
    while found < k and best[found] < np.inf:
        found += 1
    return found


__all__ = ["CELL", "SeedTable", "nearest_table_entries"]
