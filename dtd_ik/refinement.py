"""Compiled batched refinement: Levenberg-Marquardt on exact FK, joint limits, capsule margin.

One goal is solved by attempts from successive seeds (the explicit seeds the caller passes: its own
seed, the network's; then perturbations of one of them; then uniform random restarts) until one
attempt meets every success criterion, the attempts run out, or the deadline passes. Goals run in
parallel (numba ``prange``); each goal's attempts, and so its answer, depend only on that goal and
the random seed (a counter-based hash, not a shared RNG state), so results are deterministic for a
fixed seed whatever the thread schedule, unless the deadline cuts attempts short.

One attempt minimises, over q inside the joint box,

    E(q) = |p* - p(q)|^2 + w_o^2 |log(R* R(q)^T)|^2 + w_c^2 sum_k max(0, d_t - d_k(q))^2

(position [m], orientation [rad], every capsule pair k closer than the push target d_t [m]) by
Levenberg-Marquardt: rows of the geometric Jacobian and of the active pairs' distance gradients,
damping lambda*I adapted by accept/reject, steps projected onto the box with joints that sit at a
limit and are pushed outward held fixed (active set). At a solution every residual is zero, so the
pose is exact and every pair is at least d_t apart.

The parameter vector ``params`` is built by :func:`dtd_ik.solver_config.SolverConfig.kernel_params`
(indices below).
"""
from __future__ import annotations

from math import atan2, sqrt

import numpy as np
from llvmlite import ir
from numba import njit, prange
from numba.core import cgutils, types
from numba.extending import intrinsic

from .compiled_kinematics import (chain_fk, collision_distances, geometric_jacobian,
                                  joint_axes_world, tip_pose)

# Indices into the float64 parameter vector.
TOL_POSITION, TOL_ORIENTATION, MIN_MARGIN, PUSH_MARGIN = 0, 1, 2, 3
CONVERGE_POSITION, CONVERGE_ORIENTATION, ORIENTATION_WEIGHT, COLLISION_WEIGHT = 4, 5, 6, 7
LAMBDA_INIT, LAMBDA_UP, LAMBDA_DOWN, LAMBDA_MIN, LAMBDA_MAX = 8, 9, 10, 11, 12
MAX_ITERATIONS, MAX_ATTEMPTS, PERTURBED_SEEDS, PERTURB_SCALE = 13, 14, 15, 16
ABANDON_AFTER, ABANDON_COST, TABLE_SEEDS, TABLE_ORIENTATION_WEIGHT = 17, 18, 19, 20
N_PARAMS = 21
#: Most table seeds a goal may take (the length of its neighbour list).
MAX_TABLE_SEEDS = 16

# Per-goal statistics columns of ``stats``.
STAT_POSITION, STAT_ORIENTATION, STAT_MARGIN, STAT_COST = 0, 1, 2, 3

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
            builder.module, ir.FunctionType(i32, [i32, timespec.as_pointer()]), "clock_gettime")
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


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True)
def _splitmix(x):
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def hash_uniform(key, attempt, joint) -> float:
    """A uniform number in [0, 1) from a goal's key and two counters (no shared RNG state)."""
    z = _splitmix(key)
    z = _splitmix(z ^ np.uint64(attempt))
    z = _splitmix(z ^ np.uint64(joint))
    return (z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def rotation_residual(Rg, R, e):
    """Fill ``e`` (3,) with axis * angle of Rg R^T [rad] (rotation still to go); returns the angle.

    Scalar port of :func:`dtd_ik.rotations.rotation_error_vector` (same near-pi branch).
    """
    m = np.empty((3, 3))
    for r in range(3):
        for k in range(3):
            m[r, k] = Rg[r, 0] * R[k, 0] + Rg[r, 1] * R[k, 1] + Rg[r, 2] * R[k, 2]
    cos_a = (m[0, 0] + m[1, 1] + m[2, 2] - 1.0) / 2.0
    vx, vy, vz = m[2, 1] - m[1, 2], m[0, 2] - m[2, 0], m[1, 0] - m[0, 1]
    sq = vx * vx + vy * vy + vz * vz
    sin_a = sqrt(sq) / 2.0 if sq > _TINY else 0.0
    angle = atan2(sin_a, cos_a)
    if angle > 3.0:
        # sym(m) - cos I = (1 - cos) a a^T: the axis is its largest-diagonal column
        best, col = -np.inf, 0
        for c in range(3):
            if m[c, c] - cos_a > best:
                best, col = m[c, c] - cos_a, c
        ax = (m[0, col] + m[col, 0]) / 2.0 - (cos_a if col == 0 else 0.0)
        ay = (m[1, col] + m[col, 1]) / 2.0 - (cos_a if col == 1 else 0.0)
        az = (m[2, col] + m[col, 2]) / 2.0 - (cos_a if col == 2 else 0.0)
        norm = max(sqrt(ax * ax + ay * ay + az * az), 1e-12)
        sign = -1.0 if ax * vx + ay * vy + az * vz < 0.0 else 1.0
        scale = sign * angle / norm
        e[0], e[1], e[2] = ax * scale, ay * scale, az * scale
    else:
        scale = angle / (2.0 * sin_a) if sin_a > 1e-6 else 0.5
        e[0], e[1], e[2] = vx * scale, vy * scale, vz * scale
    return angle


@njit(cache=True)
def evaluate(q, goal_R, goal_p, index, offset, robot, params, F, A, W, R, p, e, J, D, G, out):
    """Residuals and derivatives at ``q``; ``out`` (4,) = (position error [m], orientation error
    [rad], collision margin [m], cost E). Fills e, J, D and, for pairs closer than the push
    margin, G. ``robot`` is :attr:`dtd_ik.compiled_kinematics.CompiledRobot.arrays`."""
    chain_fk(q, robot[0], robot[1], robot[2], F)
    tip_pose(F, index, offset, R, p)
    joint_axes_world(F, robot[3], A)
    geometric_jacobian(F, A, index, p, J)
    for r in range(3):
        e[r] = goal_p[r] - p[r]
    angle = rotation_residual(goal_R, R, e[3:])
    push = params[PUSH_MARGIN]
    k_min = collision_distances(q, F, A, W, robot, push, push, D, G)
    margin = D[k_min] if k_min >= 0 else np.inf
    pos2 = e[0] * e[0] + e[1] * e[1] + e[2] * e[2]
    wo, wc = params[ORIENTATION_WEIGHT], params[COLLISION_WEIGHT]
    cost = pos2 + wo * wo * (e[3] * e[3] + e[4] * e[4] + e[5] * e[5])
    for k in range(D.shape[0]):
        if D[k] < push:
            cost += wc * wc * (push - D[k]) ** 2
    out[0], out[1], out[2], out[3] = sqrt(pos2), angle, margin, cost


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
    wo2 = params[ORIENTATION_WEIGHT] ** 2
    wc2 = params[COLLISION_WEIGHT] ** 2
    push = params[PUSH_MARGIN]
    for a in range(n):
        for b in range(a + 1):
            s = J[0, a] * J[0, b] + J[1, a] * J[1, b] + J[2, a] * J[2, b] \
                + wo2 * (J[3, a] * J[3, b] + J[4, a] * J[4, b] + J[5, a] * J[5, b])
            H[a, b] = s
        g[a] = J[0, a] * e[0] + J[1, a] * e[1] + J[2, a] * e[2] \
            + wo2 * (J[3, a] * e[3] + J[4, a] * e[4] + J[5, a] * e[5])
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
        if (q[a] <= lower[a] + _AT_LIMIT and dq[a] < 0.0) or \
                (q[a] >= upper[a] - _AT_LIMIT and dq[a] > 0.0):
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
def _meets(out, params):
    return (out[0] <= params[TOL_POSITION] and out[1] <= params[TOL_ORIENTATION]
            and out[2] >= params[MIN_MARGIN])


@njit(cache=True)
def _converged(out, params):
    return (out[0] <= params[CONVERGE_POSITION] and out[1] <= params[CONVERGE_ORIENTATION]
            and out[2] >= params[MIN_MARGIN])


@njit(cache=True)
def run_attempt(seed, goal_R, goal_p, index, offset, robot, params, deadline, q_result, out):
    """One LM run from ``seed`` (n,); final joints into ``q_result`` (n,), metrics into ``out`` (4,).

    Returns (iterations, timed_out).
    """
    lower, upper, cap_frame = robot[4], robot[5], robot[6]
    n, C, P = seed.shape[0], cap_frame.shape[0], robot[8].shape[0] + robot[11].shape[0]
    F, A, W = np.empty((n + 1, 3, 4)), np.empty((n, 3)), np.empty((C, 2, 3))
    R, p = np.empty((3, 3)), np.empty(3)
    e, J, D, G = np.empty(6), np.empty((6, n)), np.empty(P), np.zeros((P, n))
    e2, J2, D2, G2 = np.empty(6), np.empty((6, n)), np.empty(P), np.zeros((P, n))
    H, g, M, L = np.empty((n, n)), np.empty(n), np.empty((n, n)), np.zeros((n, n))
    dq, q, q2, rhs, out2 = np.empty(n), np.empty(n), np.empty(n), np.empty(n), np.empty(4)
    for a in range(n):
        v = seed[a]
        if v != v:  # NaN (e.g. from a broken network): start mid-range instead
            v = 0.5 * (lower[a] + upper[a])
        q[a] = lower[a] if v < lower[a] else (upper[a] if v > upper[a] else v)
    evaluate(q, goal_R, goal_p, index, offset, robot, params, F, A, W, R, p, e, J, D, G, out)
    lam = params[LAMBDA_INIT]
    max_iter = int(params[MAX_ITERATIONS])
    abandon_after = int(params[ABANDON_AFTER])
    iterations = 0
    while not _converged(out, params) and iterations < max_iter:
        if monotonic() > deadline:
            q_result[:] = q
            return iterations, True
        normal_equations(J, e, D, G, params, H, g)
        accepted = False
        while lam <= params[LAMBDA_MAX]:
            if damped_step(H, g, lam, q, lower, upper, M, L, rhs, dq, q2):
                evaluate(q2, goal_R, goal_p, index, offset, robot, params, F, A, W, R, p, e2, J2,
                         D2, G2, out2)
                if out2[3] < out[3]:
                    accepted = True
                    lam = max(lam * params[LAMBDA_DOWN], params[LAMBDA_MIN])
                    break
            lam *= params[LAMBDA_UP]
        iterations += 1
        if not accepted:
            break  # no descent at any damping: stalled
        q, q2 = q2, q
        e, e2 = e2, e
        J, J2 = J2, J
        D, D2 = D2, D
        G, G2 = G2, G
        out[:] = out2
        if iterations == abandon_after and out[3] > params[ABANDON_COST]:
            break  # still far from the goal: another seed is the cheaper bet
    q_result[:] = q
    return iterations, False


@njit(cache=True, inline="always")
def _table_distance(table_pose, i, gx, gy, gz, qx, qy, qz, qw, w4, bound):
    """Distance of entry i to the goal, or ``bound`` when the position alone reaches it."""
    dx, dy, dz = table_pose[i, 0] - gx, table_pose[i, 1] - gy, table_pose[i, 2] - gz
    d = dx * dx + dy * dy + dz * dz
    if d >= bound:
        return bound
    dot = table_pose[i, 3] * qx + table_pose[i, 4] * qy + table_pose[i, 5] * qz \
        + table_pose[i, 6] * qw
    return d + w4 * (1.0 - dot * dot)


@njit(cache=True)
def nearest_table_entries(table_pose, goal_p, goal_quat, w2, out):
    """Indices of the table poses (K, 7) [p, q_xyzw] nearest to a goal, nearest first, into
    ``out`` (k,); returns how many were found (min(k, K)).

    Distance |p - p_i|^2 + 4 w2 (1 - (q . q_i)^2) [m^2], i.e. |p - p_i|^2 + w2 |R - R_i|_F^2 / 2
    (sign-free in the quaternions). The table is sorted by x, so the scan walks outwards from the
    goal's x and stops on each side once (x - x_i)^2 alone exceeds the k-th best distance.
    """
    k, K = out.shape[0], table_pose.shape[0]
    best = np.full(k, np.inf)
    gx, gy, gz = goal_p[0], goal_p[1], goal_p[2]
    qx, qy, qz, qw = goal_quat[0], goal_quat[1], goal_quat[2], goal_quat[3]
    w4 = 4.0 * w2
    lo, hi = 0, K  # first entry with x >= gx
    while lo < hi:
        mid = (lo + hi) // 2
        if table_pose[mid, 0] < gx:
            lo = mid + 1
        else:
            hi = mid
    up, down = lo, lo - 1
    while up < K or down >= 0:
        for side in range(2):
            i = up if side == 0 else down
            if i < 0 or i >= K:
                continue
            dx = table_pose[i, 0] - gx
            if dx * dx >= best[k - 1]:  # every entry further out on this side is farther
                if side == 0:
                    up = K
                else:
                    down = -1
                continue
            if side == 0:
                up += 1
            else:
                down -= 1
            d = _table_distance(table_pose, i, gx, gy, gz, qx, qy, qz, qw, w4, best[k - 1])
            if d >= best[k - 1]:
                continue
            j = k - 1
            while j > 0 and best[j - 1] > d:
                best[j], out[j] = best[j - 1], out[j - 1]
                j -= 1
            best[j], out[j] = d, i
    return min(k, K)


@njit(cache=True)
def matrix_quaternion(R, out):
    """Rotation matrix (3, 3) -> unit quaternion x-y-z-w into ``out`` (4,) (Shepperd's method,
    as :func:`dtd_ik.rotations.matrix_to_quaternion`; the sign is not normalised)."""
    t0 = 1.0 + R[0, 0] + R[1, 1] + R[2, 2]
    t1 = 1.0 + R[0, 0] - R[1, 1] - R[2, 2]
    t2 = 1.0 - R[0, 0] + R[1, 1] - R[2, 2]
    t3 = 1.0 - R[0, 0] - R[1, 1] + R[2, 2]
    if t0 >= t1 and t0 >= t2 and t0 >= t3:
        x, y, z, w = R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1], t0
    elif t1 >= t2 and t1 >= t3:
        x, y, z, w = t1, R[0, 1] + R[1, 0], R[0, 2] + R[2, 0], R[2, 1] - R[1, 2]
    elif t2 >= t3:
        x, y, z, w = R[0, 1] + R[1, 0], t2, R[1, 2] + R[2, 1], R[0, 2] - R[2, 0]
    else:
        x, y, z, w = R[0, 2] + R[2, 0], R[1, 2] + R[2, 1], t3, R[1, 0] - R[0, 1]
    norm = sqrt(x * x + y * y + z * z + w * w)
    out[0], out[1], out[2], out[3] = x / norm, y / norm, z / norm, w / norm


@njit(cache=True)
def _chain_goal(goal_R, goal_p, offset, Rc, pc):
    """Goal of the chain frame that carries the tip: T_c = T_goal @ offset^-1."""
    for r in range(3):
        for c in range(3):
            Rc[r, c] = goal_R[r, 0] * offset[c, 0] + goal_R[r, 1] * offset[c, 1] \
                + goal_R[r, 2] * offset[c, 2]
    for r in range(3):
        pc[r] = goal_p[r] - (Rc[r, 0] * offset[0, 3] + Rc[r, 1] * offset[1, 3]
                             + Rc[r, 2] * offset[2, 3])


@njit(cache=True)
def _make_seed(attempt, explicit, n_explicit, base, table_q, nearest, n_table, lower, upper,
               params, key, s):
    """The seed of attempt ``attempt``: explicit seeds, table seeds, perturbed, random.

    ``explicit`` (2, n): the goal's caller seed and network seed rows, the first ``n_explicit``
    of them in use; ``base`` the row perturbed (-1: none).
    """
    n = lower.shape[0]
    if attempt < n_explicit:
        for a in range(n):
            s[a] = explicit[attempt, a]
        return
    attempt_t = attempt - n_explicit
    if attempt_t < n_table:
        for a in range(n):
            s[a] = table_q[nearest[attempt_t], a]
        return
    if base >= 0 and attempt_t - n_table < int(params[PERTURBED_SEEDS]):
        scale = params[PERTURB_SCALE]
        for a in range(n):
            s[a] = explicit[base, a] + scale * (2.0 * hash_uniform(key, attempt, a) - 1.0)
        return
    for a in range(n):
        s[a] = lower[a] + (upper[a] - lower[a]) * hash_uniform(key, attempt, a)


@njit(cache=True)
def _quaternion_matrix(qu, R):
    """Unit quaternion x-y-z-w (4,) -> rotation matrix R (3, 3) (as dtd_ik.rotations)."""
    x, y, z, w = qu[0], qu[1], qu[2], qu[3]
    R[0, 0], R[0, 1], R[0, 2] = 1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)
    R[1, 0], R[1, 1], R[1, 2] = 2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)
    R[2, 0], R[2, 1], R[2, 2] = 2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)


@njit(cache=True)
def goal_key(p_bits, q_bits, random_seed):
    """uint64 key of a goal's random restarts: a hash of its float64 bits and the seed, so a goal
    gets the same restarts alone or in any batch, at any position."""
    key = np.uint64(random_seed) * _GOLDEN + _MIX1
    for v in p_bits:
        key = (key ^ v) * _MIX2
    for v in q_bits:
        key = (key ^ v) * _MIX2
    return key


@njit(cache=True)
def exact_margin(q, robot) -> float:
    """Minimum distance [m] over every checked pair at joints ``q``, all pairs exact."""
    n, P = q.shape[0], robot[8].shape[0] + robot[11].shape[0]
    F, A, W = np.empty((n + 1, 3, 4)), np.empty((n, 3)), np.empty((robot[6].shape[0], 2, 3))
    D, G = np.empty(P), np.empty((P, n))
    chain_fk(q, robot[0], robot[1], robot[2], F)
    joint_axes_world(F, robot[3], A)
    k = collision_distances(q, F, A, W, robot, np.inf, -np.inf, D, G)
    return D[k] if k >= 0 else np.inf


def _solve_goals(positions, quaternions, caller_seeds, net_seeds, index, offset, robot, table,
                 params, deadline, random_seed, reach_center, reach_radius, q_out, stats, success,
                 iterations, attempts):
    """Solve N goals of chain frame ``index`` @ ``offset`` (4, 4): positions (N, 3) [m] and unit
    quaternions x-y-z-w (N, 4).

    ``caller_seeds`` and ``net_seeds`` are (N, n) or (0, n) (none) [rad], tried first in that
    order; perturbations start from the network seed, else the caller's. ``table`` = (q (K, n),
    pose (K, 7) [p, q_xyzw]) collision-free configurations and poses of chain frame ``index``
    (:mod:`dtd_ik.seed_table`), K may be 0. Goals farther than ``reach_radius`` [m] from
    ``reach_center`` (3,) get no attempt. Outputs: q_out (N, n), stats (N, 4) (see STAT_*),
    success (N,) bool, iterations (N,) total LM iterations, attempts (N,).
    """
    lower, upper = robot[4], robot[5]
    table_q, table_pose = table
    N, n = positions.shape[0], lower.shape[0]
    max_attempts = int(params[MAX_ATTEMPTS])
    k_table = min(int(params[TABLE_SEEDS]), MAX_TABLE_SEEDS, table_q.shape[0])
    w2 = params[TABLE_ORIENTATION_WEIGHT] ** 2
    has_caller, has_net = caller_seeds.shape[0] > 0, net_seeds.shape[0] > 0
    n_explicit = int(has_caller) + int(has_net)
    base = n_explicit - 1
    p_bits, q_bits = positions.view(np.uint64), quaternions.view(np.uint64)
    for g in prange(N):
        s, q, out = np.empty(n), np.empty(n), np.empty(4)
        explicit = np.empty((2, n))
        row = 0
        if has_caller:
            explicit[row, :] = caller_seeds[g]
            row += 1
        if has_net:
            explicit[row, :] = net_seeds[g]
        goal_R, goal_p = np.empty((3, 3)), positions[g]
        _quaternion_matrix(quaternions[g], goal_R)
        key = goal_key(p_bits[g], q_bits[g], random_seed)
        nearest = np.zeros(max(k_table, 1), dtype=np.int64)
        Rc, pc, qc = np.empty((3, 3)), np.empty(3), np.empty(4)
        n_table = -1  # not searched yet
        best_cost = np.inf
        success[g] = False
        iterations[g] = 0
        attempts[g] = 0
        stats[g, STAT_COST] = np.inf
        dx, dy, dz = (goal_p[0] - reach_center[0], goal_p[1] - reach_center[1],
                      goal_p[2] - reach_center[2])
        if dx * dx + dy * dy + dz * dz <= reach_radius * reach_radius:
            for attempt in range(max_attempts):
                if monotonic() > deadline:
                    break
                if n_table < 0 and attempt >= n_explicit:
                    n_table = 0
                    if k_table > 0:
                        _chain_goal(goal_R, goal_p, offset, Rc, pc)
                        matrix_quaternion(Rc, qc)
                        n_table = nearest_table_entries(table_pose, pc, qc, w2,
                                                        nearest[:k_table])
                _make_seed(attempt, explicit, n_explicit, base, table_q, nearest, n_table, lower,
                           upper, params, key, s)
                it, timed_out = run_attempt(s, goal_R, goal_p, index, offset, robot, params,
                                            deadline, q, out)
                iterations[g] += it
                attempts[g] += 1
                ok = _meets(out, params)
                if ok or out[3] < best_cost or attempts[g] == 1:
                    best_cost = out[3]
                    q_out[g, :] = q
                    stats[g, :] = out
                if ok:
                    success[g] = True
                    break
                if timed_out:
                    break
        if attempts[g] > 0:  # the inner loop may hold a lower bound: report the exact margin
            stats[g, STAT_MARGIN] = exact_margin(q_out[g], robot)
        else:  # no attempt: the first explicit seed (or mid-range), evaluated as it is
            if n_explicit == 0:
                for a in range(n):
                    s[a] = 0.5 * (lower[a] + upper[a])
            else:
                s[:] = explicit[0]
            params_zero = params.copy()
            params_zero[MAX_ITERATIONS] = 0.0
            run_attempt(s, goal_R, goal_p, index, offset, robot, params_zero, np.inf, q, out)
            q_out[g, :] = q
            stats[g, :] = out
            stats[g, STAT_MARGIN] = exact_margin(q, robot)


solve_goals_serial = njit(cache=True)(_solve_goals)
solve_goals_parallel = njit(cache=True, parallel=True)(_solve_goals)

__all__ = ["N_PARAMS", "monotonic", "hash_uniform", "rotation_residual", "evaluate",
           "cholesky_solve", "run_attempt", "solve_goals_serial", "solve_goals_parallel"]
