"""Multi-core batched entry points over the compiled kernels of :mod:`dtd_ik.solver.kernels.kinematics`.

The kernels there evaluate one configuration; these loops spread a batch over all cores with
numba's ``prange`` (each iteration owns its scratch arrays, so the loop is race-free). They add no
maths of their own: FK, Jacobian and pair distances are the solver's kernels, on the same
constants. For float64 numpy batches on the CPU; the torch modules remain the differentiable path.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from dtd_ik.solver.kernels.kinematics import (CompiledRobot, chain_fk, collision_distances, geometric_jacobian,
                                  joint_axes_world, tip_pose)


@njit(parallel=True, cache=True)
def _forward_and_jacobian(Q, M0, M1, M2, axes, index, offset, R_out, p_out, J_out):
    n = Q.shape[1]
    for b in prange(Q.shape[0]):
        F, A = np.empty((n + 1, 3, 4)), np.empty((n, 3))
        chain_fk(Q[b], M0, M1, M2, F)
        tip_pose(F, index, offset, R_out[b], p_out[b])
        joint_axes_world(F, axes, A)
        geometric_jacobian(F, A, index, p_out[b], J_out[b])


#: Pairs whose bounding spheres are this far apart [m] first get a lower bound instead of their
#: exact distance; the minimum is exact whenever it falls below (otherwise recomputed exactly).
CULL_DISTANCE = 0.05


@njit(parallel=True, cache=True)
def _min_distance(Q, robot, n_pairs, cull, d_out, pair_out):
    n = Q.shape[1]
    for b in prange(Q.shape[0]):
        F, A = np.empty((n + 1, 3, 4)), np.empty((n, 3))
        W = np.empty((robot.cap_frame.shape[0], 2, 3))
        D, G = np.empty(n_pairs), np.empty((n_pairs, n))
        chain_fk(Q[b], robot.M0, robot.M1, robot.M2, F)
        joint_axes_world(F, robot.axes, A)
        # culled pairs hold lower bounds >= cull, so a minimum below cull is an exact distance
        k = collision_distances(Q[b], F, A, W, robot, cull, -np.inf, D, G)  # -inf: no gradients
        if D[k] >= cull:
            k = collision_distances(Q[b], F, A, W, robot, np.inf, -np.inf, D, G)
        d_out[b], pair_out[b] = D[k], k


class BatchKinematics:
    """FK + Jacobian and minimum self-collision distance of (B, n) float64 joint batches."""

    def __init__(self, robot: CompiledRobot | None = None):
        self.robot = robot if robot is not None else CompiledRobot.from_model()

    def _joints(self, q: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(q, dtype=np.float64).reshape(-1, self.robot.dof)

    def forward_and_jacobian(self, q: np.ndarray, tip: str
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(B, n) joints [rad] -> R (B, 3, 3), p (B, 3) [m], J (B, 6, n) of frame ``tip``."""
        r, Q = self.robot, self._joints(q)
        index, offset = r.frame(tip)
        R, p, J = np.empty((len(Q), 3, 3)), np.empty((len(Q), 3)), np.empty((len(Q), 6, r.dof))
        a = r.arrays
        _forward_and_jacobian(Q, a.M0, a.M1, a.M2, a.axes, index, offset, R, p, J)
        return R, p, J

    def min_distance(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, n) joints [rad] -> (minimum pair distance (B,) [m], index of that pair (B,)),
        pairs ordered as :attr:`CompiledRobot.pair_names`."""
        r, Q = self.robot, self._joints(q)
        d, k = np.empty(len(Q)), np.empty(len(Q), dtype=np.int64)
        _min_distance(Q, r.arrays, len(r.pair_names), CULL_DISTANCE, d, k)
        return d, k


__all__ = ["BatchKinematics"]
