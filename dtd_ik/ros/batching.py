"""Solve IK goals that arrive together from many threads and clients as fair solver batches.

Leader/follower: a calling thread that finds the solver idle becomes the leader and runs one
round: it takes waiting goals (up to ``max_batch``), solves them with one ``solve`` call per tip
(and per seeded/unseeded), hands each goal its answer, and gives the solver up; callers whose
goals are not done yet sleep on a condition until someone's round finishes them. A lone request
pays no thread hand-off; a burst is solved in a few large batches.

Fairness, so that one client's goals cannot starve another's:
- every goal's time is its own: its deadline is its arrival plus its own timeout; a goal whose
  deadline has passed when its round starts gets no more time (it is answered at once, from its
  seed as it stands);
- a batch takes the goals that can wait least first (shortest own timeout, then earliest
  deadline), and the solver works through a batch in order, so a caller's long timeouts (e.g. a
  flood of goals that cannot be met) never push another caller's short ones out of their time;
- while more than one goal waits, a round lasts at most ``round_time``: a goal cut short by the
  round (not by its own deadline, nor having used all its attempts) goes back to the queue for
  the next round, which also takes the goals that arrived meanwhile.
A caller may hand in many goals at once and a function to run between rounds
(:meth:`GoalBatcher.solve_many`), as the IK node does to send finished answers and take the
requests waiting in its service queue. No ROS here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import numpy as np

if TYPE_CHECKING:
    from dtd_ik.collision import CollisionWorld
    from dtd_ik.solver import IKResult

#: A solve call that returns this close to its deadline [s] (or later) was cut by it.
_CUT_SLACK = 1e-4


class _ResultRow:
    """A goal's attribute that reads its row of the solver result's field of the same name."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.field = name

    def __get__(self, goal: Goal | None, owner: type | None = None):
        if goal is None:
            return self
        return getattr(goal.result, self.field)[goal.row]


@dataclass(kw_only=True)
class Goal:
    """One goal, and its answer once solved: pose of ``tip`` in the base frame, optional seed,
    time budget. The answer is the solver's own result and this goal's row in it (not copied);
    :class:`dtd_ik.ros.requests.IKQuery` extends this with what the MoveIt request said."""

    position: np.ndarray  # (3,) [m]
    quaternion: np.ndarray  # (4,) x-y-z-w
    tip: str
    seed: np.ndarray | None  # (n,) [rad]
    timeout: float  # [s], counted from ``arrival``
    lower: np.ndarray | None = None  # (n,) joint bounds [rad] inside the limits; None: limits
    upper: np.ndarray | None = None
    world: CollisionWorld | None = None  # objects to stay clear of; None: self-collision only
    arrival: float | None = None  # time.monotonic() at arrival; None: when handed to the batcher
    deadline: float = 0.0  # arrival + timeout: the answer is due then
    result: IKResult | None = None  # the solver's answer for the batch this goal was in
    row: int = -1  # this goal's row of ``result``
    batch_size: int = 0  # goals in that solve() call
    error: BaseException | None = None  # what the solver raised for that batch instead
    done: bool = False

    # the answer: this goal's row of the solver's result, read in place
    q = _ResultRow()  # (n,) [rad]
    success = _ResultRow()  # bool
    position_error = _ResultRow()  # [m]
    orientation_error = _ResultRow()  # [rad]
    collision_margin = _ResultRow()  # [m] smallest distance over self and world pairs
    closest_pair = _ResultRow()  # (name, name) of that pair; ("", "") when none was found


# solve(positions (N,3), quaternions (N,4), seeds (N,n)|None, tip, timeout) -> IKResult
SolveFn = Callable[..., "IKResult"]


def _constraints(goals: Sequence[Goal], dof: int) -> dict:
    """solve()'s ``lower``/``upper`` (N, dof) [rad] and ``world`` (shared by ``goals``), given
    only where a goal has them: unbounded rows are +-inf (the solver clips to the limits)."""
    out = {}
    if any(g.lower is not None or g.upper is not None for g in goals):
        unbounded = np.full(dof, np.inf)
        out["lower"] = np.stack([-unbounded if g.lower is None else g.lower for g in goals])
        out["upper"] = np.stack([unbounded if g.upper is None else g.upper for g in goals])
    if goals[0].world is not None:
        out["world"] = goals[0].world
    return out


G = TypeVar("G", bound=Goal)


class GoalBatcher:
    """Thread-safe front of a batched solver; see the module docstring.

    Args:
        solve: the solver's ``solve`` (see :data:`SolveFn`).
        dof: joints per seed.
        max_batch: most goals in one round.
        max_attempts: the solver's seeds per goal: a goal that used them all is done.
        round_time: longest round [s] while more than one goal waits.
    """

    def __init__(
        self,
        solve: SolveFn,
        dof: int,
        max_batch: int = 256,
        max_attempts: int | None = None,
        round_time: float = 0.02,
    ):
        self._solve = solve
        self._dof = dof
        self.max_batch = max_batch
        self.max_attempts = max_attempts
        self.round_time = round_time
        self._pending: list[Goal] = []
        self._busy = False
        self._cond = threading.Condition()
        self.batches = 0  # solve() calls made
        self.largest_batch = 0
        self.requeued = 0  # goals a round cut short and queued again

    def solve(self, goal: G) -> G:
        """Block until ``goal`` is solved and return it (or raise what the solver raised for
        its batch)."""
        self.solve_many([goal])
        if goal.error is not None:
            raise goal.error
        return goal

    def submit(self, goals: Sequence[Goal]) -> None:
        """Queue ``goals`` without waiting (their deadlines from their arrival)."""
        now = time.monotonic()
        for g in goals:
            g.deadline = (now if g.arrival is None else g.arrival) + g.timeout
        with self._cond:
            self._pending.extend(goals)
            self._cond.notify_all()

    def solve_many(
        self, goals: Sequence[Goal], between_rounds: Callable[[], None] | None = None
    ) -> None:
        """Solve ``goals`` (with whatever else is waiting): each gets its answer or the solver's
        exception (``error``). Blocks until all of them are done; ``between_rounds`` runs after
        each round this thread leads (e.g. to send answers and :meth:`submit` new goals)."""
        self.submit(goals)
        while self.run_round(until_done=goals):
            if between_rounds is not None:
                between_rounds()

    def pending(self) -> int:
        """Goals queued and not yet done."""
        with self._cond:
            return len(self._pending)

    def run_round(self, until_done: Sequence[Goal] = ()) -> bool:
        """Lead one round if the solver is idle and goals wait (else wait for one to end when
        ``until_done`` has goals not done). Returns False once every goal of ``until_done`` is
        done (with ``until_done`` empty: when nothing was left to do), True after a round."""
        with self._cond:
            while self._busy and not (until_done and all(g.done for g in until_done)):
                self._cond.wait()
            if (until_done and all(g.done for g in until_done)) or not self._pending:
                return False
            self._busy = True
            batch = self._take_batch()
            contended = len(batch) > 1 or bool(self._pending)
        try:
            self._run(batch, contended)
        finally:
            with self._cond:
                self._busy = False
                self._pending[:0] = [g for g in batch if not g.done]  # cut short: next round
                self._cond.notify_all()
        return True

    def _take_batch(self) -> list[Goal]:
        """Up to ``max_batch`` waiting goals, shortest own timeout first (then earliest
        deadline), removed from the queue. Called with the lock held."""
        self._pending.sort(key=lambda g: (g.timeout, g.deadline))
        batch = self._pending[: self.max_batch]
        del self._pending[: len(batch)]
        return batch

    def _run(self, batch: list[Goal], contended: bool) -> None:
        now = time.monotonic()
        groups: dict[tuple[str, int, bool, bool], list[Goal]] = {}
        # one solve call per tip and world, seeded apart from unseeded, expired apart
        for g in batch:
            key = (g.tip, id(g.world), g.seed is not None, g.deadline <= now)
            groups.setdefault(key, []).append(g)
        for (tip, _, _, expired), goals in groups.items():
            try:
                self._run_group(tip, goals, contended and not expired)
            except BaseException as exc:  # hand the solver's error to every waiting caller
                for g in goals:
                    g.error, g.done = exc, True
            finally:
                with self._cond:
                    self._cond.notify_all()

    def _run_group(self, tip: str, goals: list[Goal], contended: bool) -> None:
        n = len(goals)
        if n == 1:  # the lone request: a view, not a copy
            positions, quaternions = goals[0].position[None], goals[0].quaternion[None]
        else:
            positions = np.stack([g.position for g in goals])
            quaternions = np.stack([g.quaternion for g in goals])
        seeds = None if goals[0].seed is None else np.stack([g.seed for g in goals])
        now = time.monotonic()
        end = max(now, max(g.deadline for g in goals))  # expired goals: a call without time
        if contended:
            end = min(end, now + self.round_time)
        result = self._solve(
            positions,
            quaternions,
            seeds=seeds,
            tip=tip,
            timeout=max(end - now, 0.0),
            **_constraints(goals, self._dof),
        )
        cut = time.monotonic() >= end - _CUT_SLACK
        after = time.monotonic()
        attempts = getattr(result, "attempts", None)
        self.batches += 1
        self.largest_batch = max(self.largest_batch, n)
        for i, g in enumerate(goals):
            g.result, g.row, g.batch_size = result, i, n
            spent = (
                attempts is not None
                and self.max_attempts is not None
                and attempts[i] >= self.max_attempts
            )
            g.done = bool(result.success[i]) or not cut or spent or after >= g.deadline
            if not g.done:
                self.requeued += 1
