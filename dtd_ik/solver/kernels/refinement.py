"""Compiled batched refinement: seeds, restarts and goals in parallel around one LM attempt.

One goal is solved by attempts (:func:`dtd_ik.solver.kernels.lm_attempt.run_attempt`) from
successive seeds: the explicit seeds (the caller's, the network's), the nearest entries of the seed
table, perturbations of the network (else caller) seed, then uniform random restarts, until one
attempt meets every success criterion, the attempts run out, or the deadline passes. Goals run in
parallel (numba ``prange``); each goal's attempts, and so its answer, depend only on that goal and
the random seed (a counter-based hash of the goal, not a shared RNG state), so results are
deterministic for a fixed seed whatever the batch or thread schedule, unless the deadline cuts
attempts short. The batch kernels release the GIL (a ROS executor's other threads keep running) and
may be called from several threads at once.
"""

from __future__ import annotations

from math import sqrt
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from dtd_ik.solver.kernels.lm_attempt import (
    evaluate_seed,
    exact_margin,
    meets,
    monotonic,
    new_workspace,
    run_attempt,
)
from dtd_ik.solver.seed_table import nearest_table_entries

#: Most table seeds a goal may take (the length of its neighbour list).
MAX_TABLE_SEEDS = 16


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
def matrix_quaternion(R, out):
    """Rotation matrix (3, 3) -> unit quaternion x-y-z-w into ``out`` (4,) (Shepperd's method,
    as :func:`dtd_ik.kinematics.rotations.matrix_to_quaternion`; the sign is not normalised)."""
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
            Rc[r, c] = (
                goal_R[r, 0] * offset[c, 0]
                + goal_R[r, 1] * offset[c, 1]
                + goal_R[r, 2] * offset[c, 2]
            )
    for r in range(3):
        pc[r] = goal_p[r] - (
            Rc[r, 0] * offset[0, 3] + Rc[r, 1] * offset[1, 3] + Rc[r, 2] * offset[2, 3]
        )


@njit(cache=True)
def _make_seed(
    attempt, explicit, n_explicit, base, table_q, nearest, n_table, lower, upper, params, key, s
):
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
    if base >= 0 and attempt_t - n_table < params.perturbed_seeds:
        scale = params.perturb_scale
        for a in range(n):
            s[a] = explicit[base, a] + scale * (2.0 * hash_uniform(key, attempt, a) - 1.0)
        return
    for a in range(n):
        s[a] = lower[a] + (upper[a] - lower[a]) * hash_uniform(key, attempt, a)


@njit(cache=True)
def _quaternion_matrix(qu, R):
    """Unit quaternion x-y-z-w (4,) -> rotation matrix R (3, 3) (as
    :func:`dtd_ik.robot.spatial.quaternion_to_matrix`)."""
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


class Answers(NamedTuple):
    """The kernels' outputs for N goals, row g written by goal g alone."""

    q: np.ndarray  # (N, n) joints [rad], within the limits
    success: np.ndarray  # (N,) bool: every success criterion holds
    iterations: np.ndarray  # (N,) int64 LM iterations over all attempts
    attempts: np.ndarray  # (N,) int64 attempts run
    position_error: np.ndarray  # (N,) [m]
    orientation_error: np.ndarray  # (N,) [rad]
    margin: np.ndarray  # (N,) [m] exact smallest checked pair distance
    cost: np.ndarray  # (N,) E of the answer [m^2] (what a later pass must beat)


def new_answers(n_goals: int, dof: int) -> Answers:
    """Output arrays for ``n_goals`` goals of a ``dof``-joint robot (filled by the kernels)."""
    return Answers(
        q=np.empty((n_goals, dof)),
        success=np.zeros(n_goals, dtype=np.bool_),
        iterations=np.zeros(n_goals, dtype=np.int64),
        attempts=np.zeros(n_goals, dtype=np.int64),
        position_error=np.empty(n_goals),
        orientation_error=np.empty(n_goals),
        margin=np.empty(n_goals),
        cost=np.empty(n_goals),
    )


@njit(cache=True)
def store(answers, g, q, m):
    """Row ``g`` of ``answers`` := joints ``q`` (n,) and their :class:`Metrics` ``m``."""
    answers.q[g, :] = q
    answers.position_error[g] = m.position_error
    answers.orientation_error[g] = m.orientation_error
    answers.margin[g] = m.margin
    answers.cost[g] = m.cost


@njit(cache=True)
def _empty_box(lower, upper):
    """Whether the joint box ``lower`` .. ``upper`` (n,) holds no configuration."""
    for a in range(lower.shape[0]):
        if lower[a] > upper[a]:
            return True
    return False


@njit(cache=True, nogil=True)
def _solve_goal(
    g,
    positions,
    quaternions,
    caller_seeds,
    net_seeds,
    lower_all,
    upper_all,
    index,
    offset,
    robot,
    table,
    params,
    first_attempt,
    deadline,
    random_seed,
    reach_center,
    reach_radius,
    answers,
):
    """Solve goal ``g`` of :func:`solve_goals` (same arguments), writing its row of
    ``answers``."""
    # fields read once into locals: numba re-references a NamedTuple field at every use
    lower, upper, table_q = lower_all[g], upper_all[g], table.q
    success, iterations, attempts = answers.success, answers.iterations, answers.attempts
    n = lower.shape[0]
    k_table = min(params.table_seeds, MAX_TABLE_SEEDS, table_q.shape[0])
    w2 = params.table_orientation_weight**2
    # a caller's row of NaN means "no seed for this goal"
    has_caller = caller_seeds.shape[0] > 0 and not np.isnan(caller_seeds[g, 0])
    has_net = net_seeds.shape[0] > 0
    n_explicit = int(has_caller) + int(has_net)
    base = n_explicit - 1
    p_bits, q_bits = positions[g].view(np.uint64), quaternions[g].view(np.uint64)
    s, q = np.empty(n), np.empty(n)
    ws = new_workspace(robot)
    explicit = np.empty((2, n))
    row = 0
    if has_caller:
        explicit[row, :] = caller_seeds[g]
        row += 1
    if has_net:
        explicit[row, :] = net_seeds[g]
    goal_R, goal_p = np.empty((3, 3)), positions[g]
    _quaternion_matrix(quaternions[g], goal_R)
    key = goal_key(p_bits, q_bits, random_seed)
    nearest = np.zeros(max(k_table, 1), dtype=np.int64)
    Rc, pc, qc = np.empty((3, 3)), np.empty(3), np.empty(4)
    n_table = -1  # not searched yet
    best_cost = np.inf
    success[g] = False
    iterations[g] = 0
    attempts[g] = 0
    dx, dy, dz = (
        goal_p[0] - reach_center[0],
        goal_p[1] - reach_center[1],
        goal_p[2] - reach_center[2],
    )
    empty = _empty_box(lower, upper)
    if dx * dx + dy * dy + dz * dz <= reach_radius * reach_radius and not empty:
        for attempt in range(first_attempt[g], params.max_attempts):
            if monotonic() > deadline:
                break
            if n_table < 0 and attempt >= n_explicit:
                n_table = 0
                if k_table > 0:
                    _chain_goal(goal_R, goal_p, offset, Rc, pc)
                    matrix_quaternion(Rc, qc)
                    n_table = nearest_table_entries(
                        table, pc, qc, w2, params.table_search_rings, nearest[:k_table]
                    )
            _make_seed(
                attempt,
                explicit,
                n_explicit,
                base,
                table_q,
                nearest,
                n_table,
                lower,
                upper,
                params,
                key,
                s,
            )
            it, timed_out, m = run_attempt(
                ws, s, goal_R, goal_p, index, offset, robot, params, lower, upper, deadline, q
            )
            iterations[g] += it
            attempts[g] += 1
            ok = meets(m, params)
            if ok or m.cost < best_cost or attempts[g] == 1:
                best_cost = m.cost
                store(answers, g, q, m)
            if ok:
                success[g] = True
                break
            if timed_out:
                break
    if attempts[g] > 0:  # the inner loop may hold a lower bound: report the exact margin
        answers.margin[g] = exact_margin(answers.q[g], robot)
    else:  # no attempt: the first explicit seed (or mid-range), evaluated as it is
        if empty:  # nothing lies in the goal's box: the robot's limits place the seed
            lower, upper = robot.lower, robot.upper
        if n_explicit == 0:
            for a in range(n):
                s[a] = 0.5 * (lower[a] + upper[a])
        else:
            s[:] = explicit[0]
        m = evaluate_seed(ws, s, goal_R, goal_p, index, offset, robot, params, lower, upper, q)
        store(answers, g, q, m)
        answers.margin[g] = exact_margin(q, robot)


# Two loops, not one function compiled twice: numba's on-disk cache is keyed by the Python
# function (its name and line), not by the parallel flag, so one function wrapped serial and
# parallel would load whichever variant was cached first for both.
@njit(cache=True, nogil=True)
def _solve_goals_serial(
    positions,
    quaternions,
    caller_seeds,
    net_seeds,
    lower,
    upper,
    index,
    offset,
    robot,
    table,
    params,
    first_attempt,
    deadline,
    random_seed,
    reach_center,
    reach_radius,
    answers,
):
    for g in range(positions.shape[0]):
        _solve_goal(
            g,
            positions,
            quaternions,
            caller_seeds,
            net_seeds,
            lower,
            upper,
            index,
            offset,
            robot,
            table,
            params,
            first_attempt,
            deadline,
            random_seed,
            reach_center,
            reach_radius,
            answers,
        )


@njit(cache=True, nogil=True, parallel=True)
def _solve_goals_parallel(
    positions,
    quaternions,
    caller_seeds,
    net_seeds,
    lower,
    upper,
    index,
    offset,
    robot,
    table,
    params,
    first_attempt,
    deadline,
    random_seed,
    reach_center,
    reach_radius,
    answers,
):
    for g in prange(positions.shape[0]):
        _solve_goal(
            g,
            positions,
            quaternions,
            caller_seeds,
            net_seeds,
            lower,
            upper,
            index,
            offset,
            robot,
            table,
            params,
            first_attempt,
            deadline,
            random_seed,
            reach_center,
            reach_radius,
            answers,
        )


def solve_goals(
    positions: np.ndarray,
    quaternions: np.ndarray,
    caller_seeds: np.ndarray,
    net_seeds: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    index: int,
    offset: np.ndarray,
    robot,
    table,
    params,
    first_attempt: np.ndarray,
    deadline: float,
    random_seed: int,
    reach_center: np.ndarray,
    reach_radius: float,
    answers: Answers,
    parallel_min_goals: int,
) -> None:
    """Solve N goals of chain frame ``index`` @ ``offset`` (4, 4): positions (N, 3) [m] and unit
    quaternions x-y-z-w (N, 4), into ``answers`` (:func:`new_answers`); on all cores (numba
    ``prange``) from ``parallel_min_goals`` goals on, else one after the other.

    ``caller_seeds`` and ``net_seeds`` are (N, n) or (0, n) (none) [rad], tried first in that
    order (a caller row of NaN: no seed for that goal); perturbations start from the network
    seed, else the caller's. ``lower``, ``upper`` (N, n) [rad]: each goal's joint box, inside
    the robot's limits; every seed, step and answer of goal g stays in its box, and a goal whose
    box is empty (lower > upper in a joint) gets no attempt. ``robot`` is a
    :class:`~dtd_ik.solver.kernels.kinematics.RobotArrays`, ``table`` a
    :class:`~dtd_ik.solver.seed_table.SeedTable` of chain frame ``index`` (K may be 0),
    ``params`` :class:`~dtd_ik.solver.kernels.lm_attempt.KernelParams`. Each goal runs attempts
    ``first_attempt[g]`` .. ``params.max_attempts`` - 1 of its enumeration (``first_attempt``
    (N,) int64): a later pass with the same seeds and ``first_attempt`` = the attempts of an
    earlier pass goes on where that one stopped (same seeds, same restarts; the table search is
    redone for the enumeration) without repeating its attempts. Goals farther than
    ``reach_radius`` [m] from ``reach_center`` (3,) get no attempt; ``deadline`` is in seconds of
    :func:`~dtd_ik.solver.kernels.lm_attempt.monotonic`.
    """
    kernel = (
        _solve_goals_parallel if positions.shape[0] >= parallel_min_goals else _solve_goals_serial
    )
    kernel(
        positions,
        quaternions,
        caller_seeds,
        net_seeds,
        lower,
        upper,
        index,
        offset,
        robot,
        table,
        params,
        first_attempt,
        float(deadline),
        random_seed,
        reach_center,
        float(reach_radius),
        answers,
    )


__all__ = [
    "MAX_TABLE_SEEDS",
    "Answers",
    "hash_uniform",
    "goal_key",
    "matrix_quaternion",
    "new_answers",
    "solve_goals",
    "store",
]
