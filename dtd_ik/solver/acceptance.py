"""The final accept/reject of answers on the exact geometry (MoveIt's rule), and their margin.

An answer the kernels found (pose within tolerance, capsule distance known) is collision-free
when its mesh distance over the robot's checked self pairs, the world's objects and the
attached objects exceeds the padding, and clear enough when that distance is at least the
required clearance. The capsules enclose the meshes (test/test_collision_meshes.py), so a
capsule distance above both proves it for the self pairs without FCL; FCL (~0.5 ms an answer
on this machine with the links' FK, benchmarks/bench_collision_free_goals.py) runs only where
it does not, or where the world has objects the capsules know nothing of.
"""

from __future__ import annotations

import threading
import time
from typing import NamedTuple

import numpy as np

from dtd_ik.collision import CollisionWorld
from dtd_ik.solver.config import SolverConfig
from dtd_ik.solver.kernels.batch import CompiledKinematics
from dtd_ik.solver.kernels.refinement import Answers

NO_PAIR = ("", "")


class Verdict(NamedTuple):
    """The acceptance of B answers."""

    accepted: np.ndarray  # (B,) bool: mesh distance > padding and >= required clearance
    margin: np.ndarray  # (B,) [m] mesh distance, or the capsule bound where it proved enough
    pair: list[tuple[str, str]]  # B closest pairs (NO_PAIR where the capsules decided)


class MeshAcceptance:
    """Judges answers on the meshes of a :class:`~dtd_ik.collision.CollisionWorld`.

    The solver's own self-only world is built on first use (reading the meshes); FCL objects
    are placed per query, so checks hold a lock (one world serves one check at a time).
    """

    def __init__(self, kinematics: CompiledKinematics):
        self._kinematics = kinematics
        self._self_world: CollisionWorld | None = None
        self._lock = threading.Lock()
        self.checks = 0  # answers judged on the meshes so far
        self.skipped = 0  # answers the capsule bound settled
        self.check_time = 0.0  # [s] spent in the mesh checks (FK of the links + FCL)

    def reset_counts(self) -> None:
        """Zero :attr:`checks`, :attr:`skipped` and :attr:`check_time`."""
        self.checks, self.skipped, self.check_time = 0, 0, 0.0

    def self_world(self) -> CollisionWorld:
        """The robot alone (no objects): what ``world=None`` checks against."""
        with self._lock:
            if self._self_world is None:
                self._self_world = CollisionWorld()
            return self._self_world

    def link_poses(self, q: np.ndarray, links: tuple[str, ...]) -> np.ndarray:
        """(B, L, 4, 4) base-frame poses [m] of ``links`` at joints ``q`` (B, n) [rad]."""
        poses = np.zeros((q.shape[0], len(links), 4, 4))
        poses[..., 3, 3] = 1.0
        for i, link in enumerate(links):
            R, p = self._kinematics.forward(q, link)
            poses[:, i, :3, :3], poses[:, i, :3, 3] = R, p
        return poses

    def judge(
        self,
        q: np.ndarray,
        capsule_margin: np.ndarray,
        world: CollisionWorld | None,
        *,
        padding: float,
        required: float,
        exact: bool = False,
    ) -> Verdict:
        """Accept or reject answers ``q`` (B, n) [rad] whose capsule distance is
        ``capsule_margin`` (B,) [m]; ``world`` None: self-collision only. ``exact``: measure
        the meshes even where the capsules already prove clearance."""
        B = q.shape[0]
        margin, pair = np.array(capsule_margin, dtype=np.float64), [NO_PAIR] * B
        if world is None or not (world.objects or world.attached):
            accepted = (margin > padding) & (margin >= required)
            if not exact and accepted.all():  # the usual case: the capsules decided
                self.skipped += B
                return Verdict(accepted, margin, pair)
        else:
            accepted = np.zeros(B, dtype=np.bool_)
        need = np.arange(B) if exact else np.flatnonzero(~accepted)
        if need.size:
            target = world if world is not None else self.self_world()
            t0 = time.perf_counter()
            poses = self.link_poses(np.ascontiguousarray(q[need]), target.robot.links)
            with self._lock:
                for k, row in enumerate(need):
                    d = target.distance(poses[k])
                    margin[row], pair[row] = d.distance, d.pair
                    accepted[row] = d.distance > padding and d.distance >= required
            self.check_time += time.perf_counter() - t0
        self.checks += need.size
        self.skipped += B - need.size
        return Verdict(accepted, margin, pair)


class Judge:
    """One solve's acceptance: judges the kernels' successes as they come, remembers what the
    meshes said of each goal's answer, and reports every final answer's margin."""

    def __init__(
        self,
        acceptance: MeshAcceptance,
        config: SolverConfig,
        world: CollisionWorld | None,
        n_goals: int,
        dof: int,
    ):
        self._acceptance, self._world = acceptance, world
        self._padding, self._required = config.collision_padding, config.required_clearance
        self._exact = config.exact_margin
        self._q = np.full((n_goals, dof), np.nan)  # (N, n) the answer last judged per goal
        self._margin = np.full(n_goals, np.nan)  # (N,) [m] its margin
        self._pair = [NO_PAIR] * n_goals

    def _run(self, goals: np.ndarray, q: np.ndarray, capsule_margin: np.ndarray) -> Verdict:
        verdict = self._acceptance.judge(
            q,
            capsule_margin,
            self._world,
            padding=self._padding,
            required=self._required,
            exact=self._exact,
        )
        self._q[goals], self._margin[goals] = q, verdict.margin
        for g, pair in zip(goals, verdict.pair):
            self._pair[g] = pair
        return verdict

    def judge(self, goals: np.ndarray, answers: Answers) -> np.ndarray:
        """Judge the successes among ``answers`` of goals ``goals`` (B,): a refused one's
        success becomes False. Returns (B,) bool: refused."""
        idx = np.flatnonzero(answers.success)
        refused = np.zeros(goals.size, dtype=np.bool_)
        if idx.size:
            verdict = self._run(goals[idx], answers.q[idx], answers.margin[idx])
            refused[idx[~verdict.accepted]] = True
            answers.success[idx[~verdict.accepted]] = False
        return refused

    def report(self, out: Answers) -> tuple[np.ndarray, list[tuple[str, str]]]:
        """(N,) margins [m] and N closest pairs of the final answers ``out`` (answers not
        judged yet, e.g. failures, are measured now)."""
        fresh = np.flatnonzero(~(self._q == out.q).all(axis=1))
        if fresh.size:
            self._run(fresh, out.q[fresh], out.margin[fresh])
        return self._margin.copy(), list(self._pair)


__all__ = ["Judge", "MeshAcceptance", "NO_PAIR", "Verdict"]
