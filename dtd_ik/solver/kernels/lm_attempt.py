"""One Levenberg-Marquardt attempt, compiled: exact FK, joint limits, capsule margin.

An attempt minimises, over q inside the joint box,

    E(q) = |p* - p(q)|^2 + w_o^2 |log(R* R(q)^T)|^2 + w_c^2 sum_k max(0, d_t - d_k(q))^2

(position [m], orientation [rad], every checked pair k closer than the push target d_t [m]) by
Levenberg-Marquardt: rows of the geometric Jacobian and of the active pairs' distance gradients,
damping lambda*I adapted by accept/reject, steps projected onto the box with joints that sit at a
limit and are pushed outward held fixed (active set). At a solution every residual is zero, so the
pose is exact and every pair is at least d_t apart. Seeds, restarts and batches are
:mod:`dtd_ik.solver.kernels.refinement`'s.

The settings arrive as :class:`KernelParams` (built by
:meth:`dtd_ik.solver.config.SolverConfig.kernel_params`), an attempt's outcome leaves as
:class:`Metrics`; both are NamedTuples, which numba types field by field.
"""

from __future__ import annotations

from math import atan2, sqrt
from typing import NamedTuple

import numpy as np
from llvmlite import ir
from numba import njit
from numba.core import cgutils, types
from numba.extending import intrinsic

from dtd_ik.solver.kernels.kinematics import (
    chain_fk,
    collision_distances,
    geometric_jacobian,
    joint_axes_world,
    tip_pose,
)


class KernelParams(NamedTuple):
    """The settings of an attempt and of a goal's attempt loop (see config/solver.yaml)."""

    tol_position: float  # [m] success: position error at most this
    tol_orientation: float  # [rad] success: orientation error at most this
    min_margin: float  # [m] success: every checked pair at least this far apart
    push_margin: float  # [m] pairs closer than this are pushed apart (the residual's target)
    converge_position: float  # [m] an attempt stops once both errors are below these
    converge_orientation: float  # [rad]
    orientation_weight: float  # [m/rad] weight of the orientation residual
    collision_weight: float  # [1] weight of the pair-margin residuals
    lambda_init: float  # [m^2] initial damping
    lambda_up: float  # damping factor after a rejected step
    lambda_down: float  # damping factor after an accepted step
    lambda_min: float  # [m^2]
    lambda_max: float  # [m^2] an attempt that needs more damping has stalled
    max_iterations: int  # LM iterations per attempt
    max_attempts: int  # attempts per goal (the end of its seed enumeration)
    perturbed_seeds: int  # perturbed copies of the network (else caller) seed
    perturb_scale: float  # [rad] half-width of those perturbations
    abandon_after: int  # iterations after which a still distant attempt gives up
    abandon_cost: float  # [m^2] the cost E above which it does
    table_seeds: int  # nearest seed-table entries tried per goal
    table_orientation_weight: float  # [m/rad] orientation against position in "nearest"
    table_search_rings: int  # grid shells searched around the goal's cell


class Metrics(NamedTuple):
    """How good joints are for a goal."""

    position_error: float  # [m] of the tip
    orientation_error: float  # [rad] geodesic angle
    margin: float  # [m] smallest checked pair distance (may be a lower bound, see evaluate)
    cost: float  # E(q) of the module docstring [m^2]


class Workspace(NamedTuple):
    """Scratch arrays of :func:`run_attempt` (n joints, C capsules, P + K checked pairs);
    ``*2`` hold the trial step's values, swapped in when it is accepted."""

    F: np.ndarray  # (n + 1, 3, 4) chain frames
    A: np.ndarray  # (n, 3) joint axes in the base frame
    W: np.ndarray  # (C, 2, 3) capsule ends in the base frame [m]
    R: np.ndarray  # (3, 3) tip rotation
    p: np.ndarray  # (3,) tip position [m]
    e: np.ndarray  # (6,) pose residual
    J: np.ndarray  # (6, n) Jacobian
    D: np.ndarray  # (P + K,) pair distances [m]
    G: np.ndarray  # (P + K, n) their gradients [m/rad]
    e2: np.ndarray
    J2: np.ndarray
    D2: np.ndarray
    G2: np.ndarray
    H: np.ndarray  # (n, n) normal matrix
    g: np.ndarray  # (n,) gradient
    M: np.ndarray  # (n, n) damped normal matrix
    L: np.ndarray  # (n, n) its Cholesky factor
    dq: np.ndarray  # (n,) step [rad]
    q: np.ndarray  # (n,) current joints [rad]
    q2: np.ndarray  # (n,) trial joints [rad]
    rhs: np.ndarray  # (n,)


_TINY = 1e-30
_AT_LIMIT = 1e-12  # [rad] a joint this close to a bound counts as on it


@intrinsic
def _monotonic_ns(typingctx):
    """CLOCK_MONOTONIC in ns (the clock of Python's time.monotonic), callable from nopython code.

    An intrinsic that calls libc's clock_gettime by name, so the kernels stay cacheable (a ctypes
    pointer would make numba refuse the cache and recompile in every process).
    """

    def codegen(context, builder, signature, args):
        i32, i64 = ir.IntType(32), ir.IntType(64)
        timespec = ir.LiteralStructType([i64, i64])
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(i32, [i32, timespec.as_pointer()]), "clock_gettime"
        )
        ts = cgutils.alloca_once(builder, timespec)
        builder.call(fn, [ir.Constant(i32, 1), ts])  # 1 = CLOCK_MONOTONIC on Linux
        zero = ir.Constant(i32, 0)
        sec = builder.load(builder.gep(ts, [zero, zero]))
        nsec = builder.load(builder.gep(ts, [zero, ir.Constant(i32, 1)]))
        return builder.add(builder.mul(sec, ir.Constant(i64, 1_000_000_000)), nsec)

    return types.int64(), codegen


@njit(cache=True)
def monotonic() -> float:
    """Seconds of CLOCK_MONOTONIC (equal to ``time.monotonic()``)."""
    return _monotonic_ns() * 1e-9


@njit(cache=True, inline="always")
def _row_dot(Rg, R, r, k):
    """(Rg R^T)[r, k]."""
    return Rg[r, 0] * R[k, 0] + Rg[r, 1] * R[k, 1] + Rg[r, 2] * R[k, 2]


@njit(cache=True)
def rotation_residual(Rg, R, e):
    """Fill ``e`` (3,) with axis * angle of Rg R^T [rad] (rotation still to go); returns the angle.

    Scalar port of :func:`dtd_ik.kinematics.rotations.rotation_error_vector` (same near-pi branch).
    """
    m00, m11, m22 = _row_dot(Rg, R, 0, 0), _row_dot(Rg, R, 1, 1), _row_dot(Rg, R, 2, 2)
    m01, m10 = _row_dot(Rg, R, 0, 1), _row_dot(Rg, R, 1, 0)
    m02, m20 = _row_dot(Rg, R, 0, 2), _row_dot(Rg, R, 2, 0)
    m12, m21 = _row_dot(Rg, R, 1, 2), _row_dot(Rg, R, 2, 1)
    cos_a = (m00 + m11 + m22 - 1.0) / 2.0
    vx, vy, vz = m21 - m12, m02 - m20, m10 - m01
    sq = vx * vx + vy * vy + vz * vz
    sin_a = sqrt(sq) / 2.0 if sq > _TINY else 0.0
    angle = atan2(sin_a, cos_a)
    if angle > 3.0:
        # sym(m) - cos I = (1 - cos) a a^T: the axis is its largest-diagonal column
        if m00 >= m11 and m00 >= m22:
            ax, ay, az = m00 - cos_a, (m10 + m01) / 2.0, (m20 + m02) / 2.0
        elif m11 >= m22:
            ax, ay, az = (m01 + m10) / 2.0, m11 - cos_a, (m21 + m12) / 2.0
        else:
            ax, ay, az = (m02 + m20) / 2.0, (m12 + m21) / 2.0, m22 - cos_a
        norm = max(sqrt(ax * ax + ay * ay + az * az), 1e-12)
        sign = -1.0 if ax * vx + ay * vy + az * vz < 0.0 else 1.0
        scale = sign * angle / norm
        e[0], e[1], e[2] = ax * scale, ay * scale, az * scale
    else:
        scale = angle / (2.0 * sin_a) if sin_a > 1e-6 else 0.5
        e[0], e[1], e[2] = vx * scale, vy * scale, vz * scale
    return angle


@njit(cache=True)
def pose_residual(q, goal_R, goal_p, index, offset, robot, F, A, R, p, e, J):
    """Tip pose error and Jacobian at ``q``: fills the chain frames F, joint axes A, the tip's R,
    p, the residual e (6,) = [p* - p; log(R* R^T)] and the geometric Jacobian J (6, n); returns
    the orientation error [rad]."""
    M0, M1, M2, axes = robot.M0, robot.M1, robot.M2, robot.axes  # once (see collision_distances)
    chain_fk(q, M0, M1, M2, F)
    tip_pose(F, index, offset, R, p)
    joint_axes_world(F, axes, A)
    geometric_jacobian(F, A, index, p, J)
    for r in range(3):
        e[r] = goal_p[r] - p[r]
    return rotation_residual(goal_R, R, e[3:])


@njit(cache=True)
def evaluate(q, goal_R, goal_p, index, offset, robot, params, F, A, W, R, p, e, J, D, G):
    """Residuals and derivatives at ``q``: fills e, J, D and, for pairs closer than the push
    margin, G; returns the :class:`Metrics` (the margin exact only below the push margin).
    ``robot`` is :class:`dtd_ik.solver.kernels.kinematics.RobotArrays`."""
    angle = pose_residual(q, goal_R, goal_p, index, offset, robot, F, A, R, p, e, J)
    push = params.push_margin
    k_min = collision_distances(q, F, A, W, robot, push, push, D, G)
    margin = D[k_min] if k_min >= 0 else np.inf
    pos2 = e[0] * e[0] + e[1] * e[1] + e[2] * e[2]
    wo, wc = params.orientation_weight, params.collision_weight
    cost = pos2 + wo * wo * (e[3] * e[3] + e[4] * e[4] + e[5] * e[5])
    for k in range(D.shape[0]):
        if D[k] < push:
            cost += wc * wc * (push - D[k]) ** 2
    return Metrics(sqrt(pos2), angle, margin, cost)


@njit(cache=True)
def cholesky_solve(M, b, L, x):
    """Solve M x = b for symmetric positive definite M (n, n) via L (scratch, n x n).

    Returns False when M is not numerically positive definite (x is then undefined).
    """
    n = M.shape[0]
    for i in range(n):
        for j in range(i + 1):
            s = M[i, j]
            for k in range(j):
                s -= L[i, k] * L[j, k]
            if i == j:
                if s <= 0.0:
                    return False
                L[i, i] = sqrt(s)
            else:
                L[i, j] = s / L[j, j]
    for i in range(n):  # L y = b
        s = b[i]
        for k in range(i):
            s -= L[i, k] * x[k]
        x[i] = s / L[i, i]
    for i in range(n - 1, -1, -1):  # L^T x = y
        s = x[i]
        for k in range(i + 1, n):
            s -= L[k, i] * x[k]
        x[i] = s / L[i, i]
    return True


@njit(cache=True)
def normal_equations(J, e, D, G, params, H, g):
    """H = Jw^T Jw and g = Jw^T rw of the weighted stacked rows (pose, then active pairs)."""
    n = J.shape[1]
    wo2 = params.orientation_weight**2
    wc2 = params.collision_weight**2
    push = params.push_margin
    for a in range(n):
        for b in range(a + 1):
            s = (
                J[0, a] * J[0, b]
                + J[1, a] * J[1, b]
                + J[2, a] * J[2, b]
                + wo2 * (J[3, a] * J[3, b] + J[4, a] * J[4, b] + J[5, a] * J[5, b])
            )
            H[a, b] = s
        g[a] = (
            J[0, a] * e[0]
            + J[1, a] * e[1]
            + J[2, a] * e[2]
            + wo2 * (J[3, a] * e[3] + J[4, a] * e[4] + J[5, a] * e[5])
        )
    for k in range(D.shape[0]):
        if D[k] < push:
            r = push - D[k]  # want d + G dq = push
            for a in range(n):
                gka = wc2 * G[k, a]
                g[a] += gka * r
                for b in range(a + 1):
                    H[a, b] += gka * G[k, b]
    for a in range(n):
        for b in range(a + 1, n):
            H[a, b] = H[b, a]


@njit(cache=True)
def damped_step(H, g, lam, q, lower, upper, M, L, rhs, dq, q_new):
    """q_new = clamp(q + dq) with (H + lam I) dq = g; joints on a limit pushed outward are held.

    Returns False if the damped system is not positive definite.
    """
    n = q.shape[0]
    for a in range(n):
        for b in range(n):
            M[a, b] = H[a, b]
        M[a, a] += lam
        rhs[a] = g[a]
    if not cholesky_solve(M, rhs, L, dq):
        return False
    held = False
    for a in range(n):
        if (q[a] <= lower[a] + _AT_LIMIT and dq[a] < 0.0) or (
            q[a] >= upper[a] - _AT_LIMIT and dq[a] > 0.0
        ):
            held = True
            for b in range(n):
                M[a, b] = 0.0
                M[b, a] = 0.0
            M[a, a] = 1.0
            rhs[a] = 0.0
    if held and not cholesky_solve(M, rhs, L, dq):
        return False
    for a in range(n):
        v = q[a] + dq[a]
        q_new[a] = lower[a] if v < lower[a] else (upper[a] if v > upper[a] else v)
    return True


@njit(cache=True)
def meets(m, params):
    """Whether :class:`Metrics` ``m`` meet every success criterion of ``params``."""
    return (
        m.position_error <= params.tol_position
        and m.orientation_error <= params.tol_orientation
        and m.margin >= params.min_margin
    )


@njit(cache=True)
def _converged(m, params):
    return (
        m.position_error <= params.converge_position
        and m.orientation_error <= params.converge_orientation
        and m.margin >= params.min_margin
    )


@njit(cache=True)
def new_workspace(robot):
    """The scratch arrays of :func:`run_attempt`, allocated once per goal or path."""
    n, C = robot.lower.shape[0], robot.cap_frame.shape[0]
    P = robot.pairs.shape[0] + robot.map_joints.shape[0]
    return Workspace(
        F=np.empty((n + 1, 3, 4)),
        A=np.empty((n, 3)),
        W=np.empty((C, 2, 3)),
        R=np.empty((3, 3)),
        p=np.empty(3),
        e=np.empty(6),
        J=np.empty((6, n)),
        D=np.empty(P),
        G=np.zeros((P, n)),
        e2=np.empty(6),
        J2=np.empty((6, n)),
        D2=np.empty(P),
        G2=np.zeros((P, n)),
        H=np.empty((n, n)),
        g=np.empty(n),
        M=np.empty((n, n)),
        L=np.zeros((n, n)),
        dq=np.empty(n),
        q=np.empty(n),
        q2=np.empty(n),
        rhs=np.empty(n),
    )


@njit(cache=True)
def _clamped_seed(seed, lower, upper, q):
    """``seed`` (n,) clamped into the joint box into ``q``; NaN (e.g. from a broken network)
    becomes mid-range."""
    for a in range(seed.shape[0]):
        v = seed[a]
        if v != v:
            v = 0.5 * (lower[a] + upper[a])
        q[a] = lower[a] if v < lower[a] else (upper[a] if v > upper[a] else v)


@njit(cache=True)
def evaluate_seed(ws, seed, goal_R, goal_p, index, offset, robot, params, lower, upper, q_result):
    """The :class:`Metrics` of ``seed`` (n,) as it is (clamped into the box ``lower`` ..
    ``upper`` (n,) [rad], into ``q_result``), no iteration: the answer for a goal that got no
    attempt."""
    _clamped_seed(seed, lower, upper, q_result)
    return evaluate(
        q_result,
        goal_R,
        goal_p,
        index,
        offset,
        robot,
        params,
        ws.F,
        ws.A,
        ws.W,
        ws.R,
        ws.p,
        ws.e,
        ws.J,
        ws.D,
        ws.G,
    )


@njit(cache=True)
def run_attempt(
    ws, seed, goal_R, goal_p, index, offset, robot, params, lower, upper, deadline, q_result
):
    """One LM run from ``seed`` (n,) with the scratch arrays ``ws`` of :func:`new_workspace`,
    inside the joint box ``lower`` .. ``upper`` (n,) [rad] (within the robot's limits): final
    joints into ``q_result`` (n,). ``deadline`` in seconds of :func:`monotonic`.

    Returns (iterations, timed_out, :class:`Metrics` of the final joints).
    """
    # every field read once into a local: numba re-references a NamedTuple field at every use
    F, A, W, R, p, H, g = ws.F, ws.A, ws.W, ws.R, ws.p, ws.H, ws.g
    e, J, D, G, e2, J2, D2, G2 = ws.e, ws.J, ws.D, ws.G, ws.e2, ws.J2, ws.D2, ws.G2
    q, q2, M, L, rhs, dq = ws.q, ws.q2, ws.M, ws.L, ws.rhs, ws.dq
    _clamped_seed(seed, lower, upper, q)
    m = evaluate(q, goal_R, goal_p, index, offset, robot, params, F, A, W, R, p, e, J, D, G)
    lam = params.lambda_init
    iterations = 0
    while not _converged(m, params) and iterations < params.max_iterations:
        if monotonic() > deadline:
            q_result[:] = q
            return iterations, True, m
        normal_equations(J, e, D, G, params, H, g)
        accepted, m2 = False, m
        while lam <= params.lambda_max:
            if damped_step(H, g, lam, q, lower, upper, M, L, rhs, dq, q2):
                m2 = evaluate(
                    q2, goal_R, goal_p, index, offset, robot, params, F, A, W, R, p, e2, J2, D2, G2
                )
                if m2.cost < m.cost:
                    accepted = True
                    lam = max(lam * params.lambda_down, params.lambda_min)
                    break
            lam *= params.lambda_up
        iterations += 1
        if not accepted:
            break  # no descent at any damping: stalled
        q, q2 = q2, q
        e, e2 = e2, e
        J, J2 = J2, J
        D, D2 = D2, D
        G, G2 = G2, G
        m = m2
        if iterations == params.abandon_after and m.cost > params.abandon_cost:
            break  # still far from the goal: another seed is the cheaper bet
    q_result[:] = q
    return iterations, False, m


@njit(cache=True)
def exact_margin(q, robot) -> float:
    """Minimum distance [m] over every checked pair at joints ``q``, all pairs exact."""
    n, P = q.shape[0], robot.pairs.shape[0] + robot.map_joints.shape[0]
    F, A = np.empty((n + 1, 3, 4)), np.empty((n, 3))
    W = np.empty((robot.cap_frame.shape[0], 2, 3))
    D, G = np.empty(P), np.empty((P, n))
    M0, M1, M2, axes = robot.M0, robot.M1, robot.M2, robot.axes
    chain_fk(q, M0, M1, M2, F)
    joint_axes_world(F, axes, A)
    k = collision_distances(q, F, A, W, robot, np.inf, -np.inf, D, G)
    return D[k] if k >= 0 else np.inf


__all__ = [
    "KernelParams",
    "Metrics",
    "Workspace",
    "monotonic",
    "rotation_residual",
    "evaluate",
    "cholesky_solve",
    "normal_equations",
    "damped_step",
    "meets",
    "new_workspace",
    "evaluate_seed",
    "run_attempt",
    "exact_margin",
]
