"""Consistency mode: a sequence of nearby goals (a Cartesian path) solved on one branch.

Waypoint i starts from the first-order prediction ``q_{i-1} + dq_w`` (then from the answer to
waypoint i - 1, then from small perturbations of it) and is accepted only if, besides the usual
success criteria, no joint moved by more than the goal step warrants: ``dq_w``, the first-order
joint motion that the pose step needs (a damped least-squares solve with the Jacobian at the
previous answer), bounds every joint's change by ``jump_factor * max_j |dq_w_j| + jump_slack``.
A branch switch (elbow flip, wrist flip) moves joints by far more and is refused; the waypoint
is then reported with ``success=False``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from dtd_ik.solver.kernels.lm_attempt import (
    cholesky_solve,
    evaluate_seed,
    exact_margin,
    meets,
    monotonic,
    new_workspace,
    pose_residual,
    run_attempt,
)
from dtd_ik.solver.kernels.refinement import _quaternion_matrix, goal_key, hash_uniform, store


class PathParams(NamedTuple):
    """The path settings (config/solver.yaml ``path_*``), besides the solver's own."""

    jump_factor: float  # a joint may move jump_factor x the largest warranted step ...
    jump_slack: float  # [rad] ... plus this
    attempts: int  # attempts per waypoint
    perturb_scale: float  # [rad] half-width of the perturbations of the previous answer
    warrant_damping: float  # damping of the first-order step estimate
    centering: float  # [rad] self-motion per waypoint towards mid-range


@njit(cache=True)
def warranted_step(q, goal_R, goal_p, index, offset, robot, damping, centering, dq, dq_null):
    """First-order joint motion (n,) [rad] into ``dq`` that takes the tip from its pose at ``q``
    to the goal: (J^T J + damping I) dq = J^T [p* - p; log(R* R^T)]; and into ``dq_null`` a
    self-motion (tip still, to first order) of about ``centering`` [rad] that moves the joints
    towards the middle of their ranges: z - J^+ J z with z_j = -centering (q_j - mid_j) / half
    range_j, so a long path does not drift into a joint limit."""
    n = q.shape[0]
    F, A = np.empty((n + 1, 3, 4)), np.empty((n, 3))
    R, p, J, e = np.empty((3, 3)), np.empty(3), np.empty((6, n)), np.empty(6)
    pose_residual(q, goal_R, goal_p, index, offset, robot, F, A, R, p, e, J)
    H, g, L, z, Jz, y = (
        np.empty((n, n)),
        np.empty(n),
        np.zeros((n, n)),
        np.empty(n),
        np.empty(6),
        np.empty(n),
    )
    lower, upper = robot.lower, robot.upper
    for a in range(n):
        half = 0.5 * (upper[a] - lower[a])
        z[a] = -centering * (q[a] - (lower[a] + half)) / half
    for r in range(6):
        s = 0.0
        for a in range(n):
            s += J[r, a] * z[a]
        Jz[r] = s
    for a in range(n):
        for b in range(n):
            s = 0.0
            for r in range(6):
                s += J[r, a] * J[r, b]
            H[a, b] = s
        H[a, a] += damping
        s = 0.0
        for r in range(6):
            s += J[r, a] * e[r]
        g[a] = s
    if not cholesky_solve(H, g, L, dq):
        dq[:] = np.inf  # no bound: the step cannot be judged
        dq_null[:] = 0.0
        return
    for a in range(n):  # J^T J z, then y = (J^T J + damping I)^-1 J^T J z ~ J^+ J z
        s = 0.0
        for r in range(6):
            s += J[r, a] * Jz[r]
        g[a] = s
    cholesky_solve(H, g, L, y)
    for a in range(n):
        dq_null[a] = z[a] - y[a]


@njit(cache=True, nogil=True)
def solve_path(
    positions,
    quaternions,
    q_first,
    index,
    offset,
    robot,
    params,
    path_params,
    deadline,
    random_seed,
    answers,
):
    """Waypoints 1..N-1 of a path whose waypoint 0 is answered by ``q_first`` (n,) (row 0 of
    ``answers`` is left to the caller). Inputs and outputs as
    :func:`dtd_ik.solver.kernels.refinement.solve_goals`; ``path_params`` a :class:`PathParams`.
    """
    N, n = positions.shape[0], q_first.shape[0]
    p_bits, q_bits = positions.view(np.uint64), quaternions.view(np.uint64)
    prev = q_first.copy()
    s, q, dq_w, dq_null = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    goal_R = np.empty((3, 3))
    ws = new_workspace(robot)
    # fields read once into locals: numba re-references a NamedTuple field at every use
    success, iterations, attempts = answers.success, answers.iterations, answers.attempts
    for i in range(1, N):
        _quaternion_matrix(quaternions[i], goal_R)
        warranted_step(
            prev,
            goal_R,
            positions[i],
            index,
            offset,
            robot,
            path_params.warrant_damping,
            path_params.centering,
            dq_w,
            dq_null,
        )
        key = goal_key(p_bits[i], q_bits[i], random_seed)
        step = 0.0
        for a in range(n):
            step = max(step, abs(dq_w[a]))
        allowed = path_params.jump_factor * step + path_params.jump_slack
        success[i], iterations[i], attempts[i] = False, 0, 0
        best_cost, best_continuous = np.inf, False
        for attempt in range(path_params.attempts):
            if monotonic() > deadline:
                break
            for a in range(n):  # the first-order prediction, the previous answer, perturbed
                if attempt == 0:
                    s[a] = prev[a] + (dq_w[a] if np.isfinite(dq_w[a]) else 0.0) + dq_null[a]
                elif attempt == 1:
                    s[a] = prev[a]
                else:
                    s[a] = prev[a] + path_params.perturb_scale * (
                        2.0 * hash_uniform(key, attempt, a) - 1.0
                    )
            it, timed_out, m = run_attempt(
                ws,
                s,
                goal_R,
                positions[i],
                index,
                offset,
                robot,
                params,
                robot.lower,
                robot.upper,
                deadline,
                q,
            )
            iterations[i] += it
            attempts[i] += 1
            continuous = True
            for a in range(n):
                if abs(q[a] - prev[a]) > allowed:
                    continuous = False
            ok = continuous and meets(m, params)
            # keep: a success, else continuous answers before jumps, then the lowest cost
            better = (
                attempts[i] == 1
                or (continuous and not best_continuous)
                or (continuous == best_continuous and m.cost < best_cost)
            )
            if ok or better:
                best_cost, best_continuous = m.cost, continuous
                store(answers, i, q, m)
            if ok:
                success[i] = True
                break
            if timed_out:
                break
        if attempts[i] == 0:  # no time left: stay where the path was, evaluated
            m = evaluate_seed(
                ws,
                prev,
                goal_R,
                positions[i],
                index,
                offset,
                robot,
                params,
                robot.lower,
                robot.upper,
                q,
            )
            store(answers, i, q, m)
        answers.margin[i] = exact_margin(answers.q[i], robot)
        for a in range(n):
            prev[a] = answers.q[i, a]


__all__ = ["PathParams", "warranted_step", "solve_path"]
