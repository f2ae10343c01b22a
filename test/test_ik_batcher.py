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


class GoalByGoalSolve:
    """Works through its goals in order as the compiled kernel does, in real time: a goal with
    y < 0 cannot be met and uses all ``attempts`` seeds in ``hopeless`` [s]; any other is solved
    in ``easy`` [s]; a goal not reached before the call's deadline gets no attempt."""

    def __init__(self, hopeless=0.004, easy=0.0005, attempts=64):
        self.hopeless, self.easy, self.attempts = hopeless, easy, attempts
        self.calls = []  # (rows' x, timeout)
        self.tried = []  # x of every goal an attempt started on

    def __call__(self, positions, quaternions, seeds=None, tip="panda_hand", timeout=None):
        t0 = time.monotonic()
        deadline = t0 + timeout
        n = len(positions)
        success, attempts = np.zeros(n, dtype=bool), np.zeros(n, dtype=int)
        for i, (x, y, _) in enumerate(positions):
            if time.monotonic() >= deadline:
                break
            hopeless = y < 0
            self.tried.append(x)
            time.sleep(
                min(
                    self.hopeless if hopeless else self.easy, max(deadline - time.monotonic(), 0.0)
                )
            )
            attempts[i] = self.attempts if hopeless and time.monotonic() < deadline else 1
            success[i] = not hopeless
        self.calls.append((list(positions[:, 0]), timeout))
        q = np.zeros((n, 7))
        q[:, 0] = positions[:, 0]
        return SimpleNamespace(
            q=q,
            success=success,
            attempts=attempts,
            position_error=np.zeros(n),
            orientation_error=np.zeros(n),
            collision_margin=np.full(n, 0.01),
            solve_time=time.monotonic() - t0,
        )


def test_each_goal_is_timed_from_its_own_arrival():
    solve = RecordingSolve()
    batcher = GoalBatcher(solve, 7)
    g = goal(0.1, timeout=1.0)
    g.arrival = time.monotonic() - 0.6  # waited 0.6 s before the batcher saw it
    batcher.solve(g)
    assert 0.0 < solve.calls[0][3] <= 0.4 + 1e-6
    late = goal(0.2, timeout=0.5)
    late.arrival = time.monotonic() - 2.0  # its time is up: no budget left
    batcher.solve(late)
    assert solve.calls[1][3] == 0.0


def test_short_timeouts_go_first_and_expired_goals_get_no_time():
    solve = GoalByGoalSolve()
    batcher = GoalBatcher(solve, 7, max_attempts=64, round_time=10.0)
    flood = [goal(i / 1000, y=-1.0, timeout=2.0) for i in range(20)]
    expired = [goal(0.3 + i / 1000, timeout=0.5) for i in range(3)]
    for g in expired:
        g.arrival = time.monotonic() - 1.0  # waited past its timeout before the batcher saw it
    batcher.submit(flood + expired)  # already waiting when the short one comes
    short = goal(0.5, timeout=0.05)
    batcher.solve_many([short])
    assert short.done and short.success
    calls = {rows[0]: (rows, timeout) for rows, timeout in solve.calls}
    live_rows, _ = calls[0.5]
    assert live_rows[:1] == [0.5]  # the goal that can wait least is tried first
    expired_rows, expired_timeout = calls[0.3]
    assert expired_rows == [0.3, 0.301, 0.302] and expired_timeout == 0.0
    assert all(g.done and not g.success for g in expired)
    assert not set(expired_rows) & set(solve.tried)  # no attempt on a goal out of time


def test_a_reachable_goal_behind_a_flood_is_solved_and_the_flood_answered():
    # 60 goals that cannot be met, 4 ms each, in one queue with one reachable goal that came
    # last with the same timeout: one call over all of them would spend 0.24 s before reaching
    # it; rounds of 20 ms cut the flood's goals and take them up again later.
    solve = GoalByGoalSolve()
    batcher = GoalBatcher(solve, 7, max_attempts=64, round_time=0.02)
    flood = [goal(i / 1000, y=-1.0, timeout=5.0) for i in range(60)]
    reachable = goal(0.5, timeout=5.0)
    batcher.submit(flood)
    batcher.solve_many([reachable])
    assert reachable.success
    batcher.solve_many(flood)
    assert all(g.done and not g.success for g in flood)
    assert all(timeout <= 0.02 + 1e-6 for _, timeout in solve.calls)
    assert batcher.requeued > 0  # rounds really cut goals short and took them up again
    # a goal that used all its attempts is done at once: tried again only when a round cut it
    tried = [x for x in solve.tried if x < 0.5]
    assert len(set(tried)) == 60 and len(tried) <= 60 + batcher.requeued
