"""Solve IK goals that arrive together from many threads as one solver batch.

Leader/follower: a calling thread that finds the solver idle becomes the leader, takes every goal
waiting (up to ``max_batch``), solves them in one ``solve`` call per tip and hands each waiting
thread its row; the others sleep on a condition until their answer is ready. A lone request pays
no thread hand-off; a burst is solved in a few large batches. A caller may also hand in many goals
at once (:meth:`GoalBatcher.solve_many`), as the IK node does with the requests it drains from its
service queue. No ROS here.
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
    timeout: float  # [s]
    lower: np.ndarray | None = None  # (n,) joint bounds [rad] inside the limits; None: limits
    upper: np.ndarray | None = None
    world: CollisionWorld | None = None  # objects to stay clear of; None: self-collision only
    deadline: float = 0.0  # time.monotonic() by which the answer is due
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


G = TypeVar("G", bound=Goal)


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


class GoalBatcher:
    """Thread-safe front of a batched solver; see the module docstring."""

    def __init__(self, solve: SolveFn, dof: int, max_batch: int = 256):
        self._solve = solve
        self._dof = dof
        self.max_batch = max_batch
        self._pending: list[Goal] = []
        self._busy = False
        self._cond = threading.Condition()
        self.batches = 0  # solve() calls made
        self.largest_batch = 0

    def solve(self, goal: G) -> G:
        """Block until ``goal`` is solved and return it (or raise what the solver raised for
        its batch)."""
        self.solve_many([goal])
        if goal.error is not None:
            raise goal.error
        return goal

    def solve_many(self, goals: Sequence[Goal]) -> None:
        """Solve ``goals`` (with whatever other threads are waiting): each gets its answer or
        the solver's exception (``error``). Blocks until all of them are done."""
        now = time.monotonic()
        for g in goals:
            g.deadline = now + g.timeout
        with self._cond:
            self._pending.extend(goals)
        while True:
            with self._cond:
                while not all(g.done for g in goals) and self._busy:
                    self._cond.wait()
                if all(g.done for g in goals):
                    break
                self._busy = True
                batch = self._pending[: self.max_batch]
                del self._pending[: len(batch)]
            try:
                self._run(batch)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _run(self, batch: list[Goal]) -> None:
        by_tip: dict[tuple[str, int], list[Goal]] = {}  # one solve per tip and world
        for g in batch:
            by_tip.setdefault((g.tip, id(g.world)), []).append(g)
        for (tip, _), goals in by_tip.items():
            try:
                self._run_tip(tip, goals)
            except BaseException as exc:  # hand the solver's error to every waiting caller
                for g in goals:
                    g.error = exc
            finally:
                with self._cond:
                    for g in goals:
                        g.done = True
                    self._cond.notify_all()

    def _run_tip(self, tip: str, goals: list[Goal]) -> None:
        n = len(goals)
        if n == 1:  # the lone request: a view, not a copy
            positions, quaternions = goals[0].position[None], goals[0].quaternion[None]
        else:
            positions = np.stack([g.position for g in goals])
            quaternions = np.stack([g.quaternion for g in goals])
        seeds = None
        if any(g.seed is not None for g in goals):
            seeds = np.full((n, self._dof), np.nan)
            for i, g in enumerate(goals):
                if g.seed is not None:
                    seeds[i] = g.seed
            if np.isnan(seeds).any():  # mixed batch: split so that unseeded goals stay unseeded
                seeded = [g for g in goals if g.seed is not None]
                self._run_tip(tip, seeded)
                self._run_tip(tip, [g for g in goals if g.seed is None])
                return
        budget = max(g.deadline for g in goals) - time.monotonic()
        result = self._solve(
            positions,
            quaternions,
            seeds=seeds,
            tip=tip,
            timeout=max(budget, 0.0),
            **_constraints(goals, self._dof),
        )
        self.batches += 1
        self.largest_batch = max(self.largest_batch, n)
        for i, g in enumerate(goals):
            g.result, g.row, g.batch_size = result, i, n
