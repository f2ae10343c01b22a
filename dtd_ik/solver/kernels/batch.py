"""Batches of configurations through the per-configuration kernels of
:mod:`dtd_ik.solver.kernels.kinematics`: FK, Jacobian and pair distances of (B, n) float64 joints.

They add no maths of their own (the same kernels, on the same constants). Every operation has a
serial loop and a parallel one over all cores (numba ``prange``; each row owns its scratch
arrays, so the loop is race-free); :class:`CompiledKinematics` picks one by batch size. Two loops,
not one function compiled twice: numba's on-disk cache is keyed by the Python function, not by
the parallel flag. For float64 numpy batches on the CPU; the torch modules remain the
differentiable path.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from dtd_ik.solver.kernels.kinematics import (
    CompiledRobot,
    chain_fk,
    collision_distances,
    geometric_jacobian,
    joint_axes_world,
    tip_pose,
)

#: Batches this large run on all cores (numba ``prange``) unless told otherwise.
PARALLEL_MIN_ROWS = 8
#: Pairs whose bounding spheres are this far apart [m] first get a lower bound instead of their
#: exact distance; the minimum is exact whenever it falls below (otherwise recomputed exactly).
CULL_DISTANCE = 0.05


@njit(cache=True, inline="always")
def _scratch(robot, n):
    """Per-configuration scratch: chain frames F, joint axes A, capsule ends W, pair distances D
    and gradients G (a loop allocates it once, a parallel loop once per row)."""
    P = robot.pairs.shape[0] + robot.map_joints.shape[0]
    return (
        np.empty((n + 1, 3, 4)),
        np.empty((n, 3)),
        np.empty((robot.cap_frame.shape[0], 2, 3)),
        np.empty(P),
        np.empty((P, n)),
    )


@njit(cache=True, inline="always")
def _pose_row(b, Q, M0, M1, M2, axes, index, offset, F, A, R_out, p_out, J_out):
    """Row ``b``: pose of chain frame ``index`` @ ``offset`` and, unless ``J_out`` has no rows,
    its geometric Jacobian. The robot's arrays come unpacked: a NamedTuple field read costs a
    reference at every use, so the loops read them once."""
    chain_fk(Q[b], M0, M1, M2, F)
    tip_pose(F, index, offset, R_out[b], p_out[b])
    if J_out.shape[0] > 0:
        joint_axes_world(F, axes, A)
        geometric_jacobian(F, A, index, p_out[b], J_out[b])


@njit(cache=True)
def _poses_serial(Q, robot, index, offset, R_out, p_out, J_out):
    M0, M1, M2, axes = robot.M0, robot.M1, robot.M2, robot.axes
    F, A, _, _, _ = _scratch(robot, Q.shape[1])
    for b in range(Q.shape[0]):
        _pose_row(b, Q, M0, M1, M2, axes, index, offset, F, A, R_out, p_out, J_out)


@njit(cache=True, parallel=True)
def _poses_parallel(Q, robot, index, offset, R_out, p_out, J_out):
    M0, M1, M2, axes = robot.M0, robot.M1, robot.M2, robot.axes
    n = Q.shape[1]
    for b in prange(Q.shape[0]):
        F, A = np.empty((n + 1, 3, 4)), np.empty((n, 3))
        _pose_row(b, Q, M0, M1, M2, axes, index, offset, F, A, R_out, p_out, J_out)


@njit(cache=True, inline="always")
def _pair_distance_row(b, Q, robot, F, A, W, D_out, G_out):
    """Row ``b``: every pair's exact distance and its gradient."""
    M0, M1, M2, axes = robot.M0, robot.M1, robot.M2, robot.axes
    chain_fk(Q[b], M0, M1, M2, F)
    joint_axes_world(F, axes, A)
    collision_distances(Q[b], F, A, W, robot, np.inf, np.inf, D_out[b], G_out[b])


@njit(cache=True)
def _pair_distances_serial(Q, robot, D_out, G_out):
    F, A, W, _, _ = _scratch(robot, Q.shape[1])
    for b in range(Q.shape[0]):
        _pair_distance_row(b, Q, robot, F, A, W, D_out, G_out)


@njit(cache=True, parallel=True)
def _pair_distances_parallel(Q, robot, D_out, G_out):
    for b in prange(Q.shape[0]):
        F, A, W, _, _ = _scratch(robot, Q.shape[1])
        _pair_distance_row(b, Q, robot, F, A, W, D_out, G_out)


@njit(cache=True, inline="always")
def _min_distance_row(b, Q, robot, cull, F, A, W, D, G, d_out, pair_out):
    """Row ``b``: the smallest pair distance and its pair, far pairs culled first."""
    M0, M1, M2, axes = robot.M0, robot.M1, robot.M2, robot.axes
    chain_fk(Q[b], M0, M1, M2, F)
    joint_axes_world(F, axes, A)
    # culled pairs hold lower bounds >= cull, so a minimum below cull is an exact distance
    k = collision_distances(Q[b], F, A, W, robot, cull, -np.inf, D, G)  # -inf: no gradients
    if D[k] >= cull:
        k = collision_distances(Q[b], F, A, W, robot, np.inf, -np.inf, D, G)
    d_out[b], pair_out[b] = D[k], k


@njit(cache=True)
def _min_distances_serial(Q, robot, cull, d_out, pair_out):
    F, A, W, D, G = _scratch(robot, Q.shape[1])
    for b in range(Q.shape[0]):
        _min_distance_row(b, Q, robot, cull, F, A, W, D, G, d_out, pair_out)


@njit(cache=True, parallel=True)
def _min_distances_parallel(Q, robot, cull, d_out, pair_out):
    for b in prange(Q.shape[0]):
        F, A, W, D, G = _scratch(robot, Q.shape[1])
        _min_distance_row(b, Q, robot, cull, F, A, W, D, G, d_out, pair_out)


class CompiledKinematics:
    """FK, Jacobians and pair distances of (B, n) float64 joint batches through the compiled
    kernels (the solver's FK, seed tables, tests and benchmarks); batches of at least
    ``parallel_min_rows`` run on all cores."""

    def __init__(
        self, robot: CompiledRobot | None = None, parallel_min_rows: int = PARALLEL_MIN_ROWS
    ):
        self.robot = robot if robot is not None else CompiledRobot.from_model()
        self.parallel_min_rows = parallel_min_rows

    def _joints(self, q: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(q, dtype=np.float64).reshape(-1, self.robot.dof)

    def _parallel(self, Q: np.ndarray) -> bool:
        return Q.shape[0] >= self.parallel_min_rows

    def _poses(self, q: np.ndarray, tip: str, jacobian: bool):
        r, Q = self.robot, self._joints(q)
        index, offset = r.frame(tip)
        R, p = np.empty((len(Q), 3, 3)), np.empty((len(Q), 3))
        J = np.empty((len(Q) if jacobian else 0, 6, r.dof))
        kernel = _poses_parallel if self._parallel(Q) else _poses_serial
        kernel(Q, r.arrays, index, offset, R, p, J)
        return R, p, J

    def forward(self, q: np.ndarray, tip: str) -> tuple[np.ndarray, np.ndarray]:
        """(B, n) joints [rad] -> (R (B, 3, 3), p (B, 3) [m]) of frame ``tip``."""
        R, p, _ = self._poses(q, tip, jacobian=False)
        return R, p

    def forward_and_jacobian(
        self, q: np.ndarray, tip: str
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(B, n) joints [rad] -> R (B, 3, 3), p (B, 3) [m], J (B, 6, n) of frame ``tip``
        (rows linear [m/rad], then angular [1])."""
        return self._poses(q, tip, jacobian=True)

    def jacobian(self, q: np.ndarray, tip: str) -> np.ndarray:
        """(B, n) joints [rad] -> (B, 6, n) geometric Jacobian of frame ``tip``."""
        return self._poses(q, tip, jacobian=True)[2]

    def pair_distances(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, n) joints -> (pair distances (B, P + K) [m], gradients (B, P + K, n) [m/rad]),
        columns as :attr:`CompiledRobot.pair_names`."""
        r, Q = self.robot, self._joints(q)
        P = len(r.pair_names)
        D, G = np.empty((len(Q), P)), np.zeros((len(Q), P, r.dof))
        kernel = _pair_distances_parallel if self._parallel(Q) else _pair_distances_serial
        kernel(Q, r.arrays, D, G)
        return D, G

    def min_distance(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, n) joints [rad] -> (minimum pair distance (B,) [m] (the collision margin), index
        of that pair (B,)), pairs ordered as :attr:`CompiledRobot.pair_names`."""
        r, Q = self.robot, self._joints(q)
        d, k = np.empty(len(Q)), np.empty(len(Q), dtype=np.int64)
        kernel = _min_distances_parallel if self._parallel(Q) else _min_distances_serial
        kernel(Q, r.arrays, CULL_DISTANCE, d, k)
        return d, k


__all__ = ["CULL_DISTANCE", "PARALLEL_MIN_ROWS", "CompiledKinematics"]
