"""GoalBatcher: concurrent callers are solved together, each gets its own row, errors reach all.

The solve function here is a plain deterministic function of its inputs (it is the batching, not
the solver, under test; the solver itself is exercised end to end in test_ik_server.py).
"""

import threading
import time
from types import SimpleNamespace

import numpy as np

from dtd_ik.exceptions import InvalidInputError
from dtd_ik.ros.batching import Goal, GoalBatcher


class RecordingSolve:
    """q[i] = [x_i, seeded?, 0...]: lets each caller check that it got its own row back."""

    def __init__(self, hold: float = 0.0):
        self.calls = []
        self.hold = hold
        self.lock = threading.Lock()

    def __call__(self, positions, quaternions, seeds=None, tip="panda_hand", timeout=None):
        with self.lock:
            self.calls.append((len(positions), tip, seeds is not None, timeout))
        if self.hold:
            time.sleep(self.hold)  # keep the solver busy so that callers pile up
        n = len(positions)
        q = np.zeros((n, 7))
        q[:, 0] = positions[:, 0]
        q[:, 1] = 0.0 if seeds is None else 1.0
        if seeds is not None:
            q[:, 2] = seeds[:, 0]
        return SimpleNamespace(
            q=q,
            success=positions[:, 1] >= 0,
            position_error=positions[:, 2],
            orientation_error=np.zeros(n),
            collision_margin=np.full(n, 0.01),
            solve_time=0.001,
        )


def goal(x, y=0.0, tip="panda_hand", seed=None, timeout=1.0):
    return Goal(
        position=np.array([x, y, 0.0]),
        quaternion=np.array([0, 0, 0, 1.0]),
        tip=tip,
        seed=seed,
        timeout=timeout,
    )


def run_concurrently(batcher, goals):
    answers = [None] * len(goals)
    errors = [None] * len(goals)

    def worker(i):
        try:
            answers[i] = batcher.solve(goals[i])
        except Exception as exc:  # noqa: BLE001
            errors[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(goals))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a caller never got its answer"
    return answers, errors


def test_single_caller_is_solved_alone():
    solve = RecordingSolve()
    answer = GoalBatcher(solve, 7).solve(goal(0.25, y=-1.0))
    assert answer.q[0] == 0.25 and not answer.success and answer.batch_size == 1
    assert solve.calls[0][:3] == (1, "panda_hand", False) and 0 < solve.calls[0][3] <= 1.0


def test_concurrent_callers_share_batches_and_get_their_own_rows():
    solve = RecordingSolve(hold=0.02)
    batcher = GoalBatcher(solve, 7, max_batch=64)
    goals = [goal(i / 100) for i in range(100)]
    answers, errors = run_concurrently(batcher, goals)
    assert errors == [None] * 100
    assert [a.q[0] for a in answers] == [g.position[0] for g in goals]
    assert sum(c[0] for c in solve.calls) == 100
    assert len(solve.calls) < 100 and batcher.largest_batch > 1  # really batched
    assert max(c[0] for c in solve.calls) <= 64


def test_tips_and_seeded_goals_are_solved_in_separate_calls():
    solve = RecordingSolve(hold=0.02)
    batcher = GoalBatcher(solve, 7)
    goals = [
        goal(0.1, tip="panda_hand"),
        goal(0.2, tip="panda_link8"),
        goal(0.3, seed=np.full(7, 0.7)),
        goal(0.4),
    ] * 5
    answers, errors = run_concurrently(batcher, goals)
    assert errors == [None] * len(goals)
    for g, a in zip(goals, answers):
        assert a.q[0] == g.position[0]
        assert a.q[1] == (1.0 if g.seed is not None else 0.0)
        if g.seed is not None:
            assert a.q[2] == 0.7
    assert {(tip, seeded) for _, tip, seeded, _ in solve.calls} == {
        ("panda_hand", False),
        ("panda_link8", False),
        ("panda_hand", True),
    }


def test_a_solver_error_reaches_every_caller_of_that_batch():
    solve = RecordingSolve()
    broken = [True]

    def sometimes_broken(positions, quaternions, seeds=None, tip="panda_hand", timeout=None):
        if broken[0]:
            raise InvalidInputError("bad goal in batch")
        return solve(positions, quaternions, seeds, tip, timeout)

    batcher = GoalBatcher(sometimes_broken, 7)
    answers, errors = run_concurrently(batcher, [goal(0.1), goal(0.2), goal(0.3)])
    assert all(isinstance(e, InvalidInputError) for e in errors)
    # and the batcher keeps working afterwards
    broken[0] = False
    assert batcher.solve(goal(0.5)).q[0] == 0.5


def test_expired_budget_is_passed_as_zero_not_negative():
    solve = RecordingSolve()
    GoalBatcher(solve, 7).solve(goal(0.1, timeout=-1.0))
    assert solve.calls[0][3] == 0.0


def test_bounds_and_worlds_reach_solve_one_world_per_call():
    """Joint bounds go to solve() as (N, 7) rows (unbounded goals +-inf, which the solver clips
    to the limits); goals with different worlds are solved in separate calls; goals with
    neither are solved without the keywords."""
    calls = []

    def solve(positions, quaternions, seeds=None, tip="panda_hand", timeout=None, **kw):
        calls.append(kw)
        n = len(positions)
        return SimpleNamespace(
            q=np.zeros((n, 7)),
            success=np.ones(n, bool),
            position_error=np.zeros(n),
            orientation_error=np.zeros(n),
            collision_margin=np.full(n, 0.01),
        )

    table, shelf = object(), object()  # stand-ins: the batcher only groups by identity
    bounded = goal(0.1)
    bounded.lower, bounded.upper = np.full(7, -0.5), np.full(7, 0.5)
    plain, on_table, on_shelf = goal(0.2), goal(0.3), goal(0.4)
    on_table.world, on_shelf.world = table, shelf
    GoalBatcher(solve, 7).solve_many([bounded, plain, on_table, on_shelf])
    assert len(calls) == 3
    first = calls[0]
    np.testing.assert_array_equal(first["lower"], [[-0.5] * 7, [-np.inf] * 7])
    np.testing.assert_array_equal(first["upper"], [[0.5] * 7, [np.inf] * 7])
    assert "world" not in first
    assert calls[1] == {"world": table} and calls[2] == {"world": shelf}
    GoalBatcher(solve, 7).solve(goal(0.5))
    assert calls[3] == {}
