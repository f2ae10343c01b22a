"""The public IK solver: network seeds + compiled batched refinement (see docs/solver.md).

    from dtd_ik import IKSolver
    solver = IKSolver.load("models/panda.pt")          # or IKSolver.load(None): no network
    result = solver.solve(positions, quaternions_xyzw, seeds=None, tip="panda_hand")
    result.q, result.success, result.position_error, ...
    p, R = solver.forward(result.q, "panda_hand_tcp")  # FK of any frame: (N, 3) [m], (N, 3, 3)

numpy in -> numpy out, torch in -> torch out (on the positions' device); forward returns numpy.
A solve runs the pass plan of :mod:`dtd_ik.solver.passes` through the kernels of
:mod:`dtd_ik.solver.kernels`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dtd_ik.exceptions import InvalidInputError, UnknownFrameError
from dtd_ik.robot.spatial import (MIN_QUATERNION_NORM, matrix_to_quaternion, quaternion_norms,
                                  quaternion_to_matrix)
from dtd_ik.solver.config import SolverConfig
from dtd_ik.solver.kernels import path_refinement as pr
from dtd_ik.solver.kernels import refinement as rf
from dtd_ik.solver.kernels.batch import CompiledKinematics
from dtd_ik.solver.kernels.kinematics import CompiledRobot
from dtd_ik.solver.network import IKNetwork, load_ik_network
from dtd_ik.solver.passes import TWO_PASS_MIN_GOALS, Pass, plan_passes
from dtd_ik.solver.seed_table import SeedTable

#: Slack on the reach bound [m] before a goal counts as out of reach.
REACH_SLACK = 1e-6


@dataclass(frozen=True)
class IKResult:
    """Answers for N goals (numpy arrays, or torch tensors when the goals were tensors)."""

    q: Any  # (N, n) joint angles [rad], always within the joint limits
    success: Any  # (N,) bool: every success criterion of the solver's config holds
    position_error: Any  # (N,) [m] of the requested tip
    orientation_error: Any  # (N,) [rad] geodesic angle
    collision_margin: Any  # (N,) [m] minimum capsule distance (< 0: capsules overlap)
    iterations: Any  # (N,) int, LM iterations over all attempts
    attempts: Any  # (N,) int, seeds tried (0: none, e.g. out of reach or no time)
    solve_time: float  # [s] wall time of the whole call
    network_time: float  # [s] of that, spent in the network


@dataclass(frozen=True)
class _Goals:
    positions: np.ndarray  # (N, 3) float64
    quaternions: np.ndarray  # (N, 4) float64, unit
    seeds: np.ndarray | None  # (N, n) float64
    single: bool
    torch_device: torch.device | None


def _to_numpy(x: Any, name: str) -> tuple[np.ndarray, torch.device | None]:
    if isinstance(x, torch.Tensor):
        if x.is_complex() or x.dtype == torch.bool:
            raise InvalidInputError(f"{name} must be real numbers, got a {x.dtype} tensor")
        return x.detach().to("cpu", torch.float64).numpy(), x.device
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} must be numeric, got {type(x).__name__}") from exc
    return arr, None


def _batch(x: Any, name: str, width: int) -> tuple[np.ndarray, bool, torch.device | None]:
    arr, device = _to_numpy(x, name)
    if arr.ndim not in (1, 2) or arr.shape[-1] != width:
        raise InvalidInputError(f"{name} must have shape (N, {width}) or ({width},), got "
                                f"{tuple(arr.shape)}")
    single = arr.ndim == 1
    if single:
        arr = arr[None]
    if not np.isfinite(arr).all():
        raise InvalidInputError(f"{name} contain NaN or inf")
    return np.ascontiguousarray(arr), single, device


class IKSolver:
    """Network seeds (optional) + batched Levenberg-Marquardt refinement with restarts."""

    def __init__(self, network: IKNetwork | None = None, config: SolverConfig | None = None,
                 robot: CompiledRobot | None = None):
        self.network = network
        self._use_config(config if config is not None else SolverConfig.load())
        self.robot = robot if robot is not None else CompiledRobot.from_model()
        self._kinematics = CompiledKinematics(self.robot, self.config.parallel_min_goals)
        r = self.robot
        self._no_seeds = np.zeros((0, r.dof))
        self._arrays = r.arrays
        self._tips = {name: r.frame(name) for name in r.model.ik_frames}
        if network is not None:
            self._tips.setdefault(network.tip_frame, r.frame(network.tip_frame))
        self._tables: dict[int, SeedTable] = {}
        origins = r.arrays.M0[:, :3, 3]  # (n, 3) each joint's origin in its parent frame [m]
        self._shoulder = origins[0].copy()  # joint 1's origin: fixed in the base frame
        self._reach = {name: float(np.linalg.norm(origins[1:index], axis=1).sum()
                                   + np.linalg.norm(offset[:3, 3])) + REACH_SLACK
                       for name, (index, offset) in self._tips.items()}

    def _use_config(self, config: SolverConfig) -> None:
        """Make ``config`` the solver's: its kernel settings, and no plan made for another."""
        self.config = config
        self._params = self.config.kernel_params()
        self._path_params = self.config.path_params()
        self._plans: dict[tuple[bool, bool, bool], tuple[Pass, ...]] = {}  # filled by plan()

    def set_targets(self, *, position_tolerance: float | None = None,
                    orientation_tolerance: float | None = None,
                    min_collision_margin: float | None = None) -> None:
        """Change the success criteria that later ``solve`` calls refine to.

        Args:
            position_tolerance: largest accepted position error [m].
            orientation_tolerance: largest accepted orientation error [rad].
            min_collision_margin: smallest accepted capsule distance [m]; answers are pushed to
                it plus ``push_headroom``.

        None keeps a value. Raises ConfigError for an invalid value (nothing is changed then).
        A ``solve`` already running keeps the criteria it started with.
        """
        changes = {name: value for name, value in (
            ("position_tolerance", position_tolerance),
            ("orientation_tolerance", orientation_tolerance),
            ("min_collision_margin", min_collision_margin)) if value is not None}
        if changes:
            self._use_config(self.config.with_options(**changes))

    @classmethod
    def load(cls, model_path: str | Path | None = None, device: str | torch.device = "cpu", *,
             config_path: str | Path | None = None, **options) -> "IKSolver":
        """A solver with the network at ``model_path`` (None: no network) on ``device``.

        ``options`` override keys of config/solver.yaml (or of ``config_path``). Raises
        ModelLoadError for a bad model file, ConfigError for unknown or invalid options.
        The compiled kernels are loaded (or compiled, once per machine) here, not in solve().
        """
        config = SolverConfig.load(config_path, **options)
        network = None if model_path is None else load_ik_network(model_path, device=device)
        solver = cls(network, config)
        solver.warm_up()
        return solver

    @property
    def tips(self) -> tuple[str, ...]:
        """Frames a goal may name."""
        return tuple(self._tips)

    def forward(self, q, frame: str) -> tuple[np.ndarray, np.ndarray]:
        """Forward kinematics of any frame the robot model knows, through the compiled kernels.

        Args:
            q: (N, n) or (n,) joint angles [rad] (numpy, a sequence or a torch tensor).
            frame: a link of the URDF chain or a frame fixed to one (e.g. ``panda_hand_tcp``).

        Returns:
            positions (N, 3) [m] and rotation matrices (N, 3, 3) of ``frame`` in the base
            frame; (3,) and (3, 3) for a single (n,) configuration.

        Raises UnknownFrameError for an unknown frame name, InvalidInputError for a bad shape or
        non-finite joint angles.
        """
        if not isinstance(frame, str):
            raise UnknownFrameError(f"frame must be a name, got {frame!r}")
        self.robot.frame(frame)  # an unknown name is refused before the joints are read
        Q, single, _ = _batch(q, "joint angles", self.robot.dof)
        R, p = self._kinematics.forward(Q, frame)
        return (p[0], R[0]) if single else (p, R)

    def seed_table(self, index: int) -> SeedTable:
        """The seed table of chain frame ``index`` (built on first use, then kept)."""
        if index not in self._tables:
            c = self.config
            self._tables[index] = SeedTable.build(self._kinematics, index, c.seed_table_size,
                                                  c.seed_table_margin, c.random_seed)
        return self._tables[index]

    def warm_up(self) -> None:
        """Run every kernel (and the network) on a trivial goal: no JIT in the first real call."""
        r = self.robot
        tip = r.model.ik_frames[0]
        index, offset = self._tips[tip]
        mid = (r.lower + r.upper)[None] / 2
        R, p = self._kinematics.forward(mid, tip)  # one row: the serial loop
        self._kinematics.forward(np.repeat(mid, self.config.parallel_min_goals, axis=0), tip)
        quat = matrix_to_quaternion(R)
        params = self._params._replace(max_attempts=1)
        for parallel_min_goals in (2, 1):  # the serial kernel, then the parallel one
            self._run_kernel(p, quat, mid, self._no_seeds, tip, params, 0, np.inf,
                             parallel_min_goals)
        if self.network is not None:  # TorchScript optimises a graph on its first calls
            for _ in range(2):
                self._network_seeds(p, quat, self.network.tip_frame)
        pr.solve_path(np.repeat(p, 2, axis=0), np.repeat(quat, 2, axis=0), mid[0], index, offset,
                      r.arrays, params, self._path_params, np.inf, 0, rf.new_answers(2, r.dof))

    def _run_kernel(self, positions, quaternions, caller_seeds, net_seeds, tip, params,
                    first_attempt, deadline, parallel_min_goals=None) -> rf.Answers:
        """One kernel pass (:func:`dtd_ik.solver.kernels.refinement.solve_goals`)."""
        r, N = self.robot, positions.shape[0]
        index, offset = self._tips[tip]
        answers = rf.new_answers(N, r.dof)
        rf.solve_goals(positions, quaternions, caller_seeds, net_seeds, index, offset,
                       self._arrays, self.seed_table(index), params, first_attempt, deadline,
                       self.config.random_seed, self._shoulder, self._reach[tip], answers,
                       parallel_min_goals or self.config.parallel_min_goals)
        return answers

    def _goals(self, positions, quaternions, seeds) -> _Goals:
        p, single_p, device = _batch(positions, "positions", 3)
        quat, single_q, _ = _batch(quaternions, "quaternions", 4)
        if p.shape[0] != quat.shape[0] or single_p != single_q:
            raise InvalidInputError(f"positions and quaternions disagree on the number of goals: "
                                    f"{p.shape[0]} vs {quat.shape[0]}")
        norm, quat = quaternion_norms(quat)
        small = norm < MIN_QUATERNION_NORM
        if small.any():
            bad = int(np.argmax(small))
            raise InvalidInputError(f"quaternion {bad} has norm {norm[bad]:.3g}: not a rotation")
        s = None
        if seeds is not None:
            s, single_s, _ = _batch(seeds, "seeds", self.robot.dof)
            if s.shape[0] != p.shape[0] or single_s != single_p:
                raise InvalidInputError(f"seeds must have shape ({p.shape[0]}, {self.robot.dof}) "
                                        f"like the goals, got {tuple(np.shape(seeds))}")
        return _Goals(p, quat, s, single_p, device)

    def _network_seeds(self, p: np.ndarray, quat: np.ndarray, tip: str) -> np.ndarray:
        """(N, n) float64 network answers for goals (N, 3) [m], (N, 4) x-y-z-w of frame
        ``tip``."""
        net = self.network
        if net.tip_frame != tip:
            (i_tip, off_tip), (i_net, off_net) = self._tips[tip], self._tips[net.tip_frame]
            if i_tip != i_net:
                raise InvalidInputError(f"tip {tip!r} is not rigidly attached to the network's "
                                        f"tip {net.tip_frame!r}")
            X = np.linalg.solve(off_tip, off_net)  # tip -> network tip
            R = quaternion_to_matrix(quat)
            p = p + R @ X[:3, 3]
            quat = matrix_to_quaternion(R @ X[:3, :3])
        x = torch.from_numpy(np.concatenate([p, quat], axis=1).astype(np.float32))
        # torch's own thread pool spins after each call and then competes with the refinement's
        # threads (and on a busy machine its wake-ups dominate the latency tail): the network
        # runs on ``network_threads`` torch threads (0: torch's setting), restored afterwards.
        threads, wanted = torch.get_num_threads(), self.config.network_threads
        switch = wanted > 0 and wanted != threads
        if switch:
            torch.set_num_threads(wanted)
        try:
            q = net(x)
        finally:
            if switch:
                torch.set_num_threads(threads)
        return np.ascontiguousarray(q.detach().to("cpu", torch.float64).numpy())

    def solve(self, positions, quaternions, seeds=None, tip: str = "panda_hand",
              timeout: float | None = None, refine: bool = True) -> IKResult:
        """Joint angles that put frame ``tip`` at each goal pose.

        Args:
            positions: (N, 3) goal positions [m] in the base frame (or (3,) for one goal).
            quaternions: (N, 4) goal orientations, x-y-z-w (normalised here; norm ~0 refused).
            seeds: optional (N, n) joints [rad] tried first (clamped into the limits).
            tip: one of :attr:`tips`.
            timeout: wall-clock budget of the call [s]; None: ``timeout_per_goal`` x N.
            refine: False returns the network's answer alone (needs a network).

        Returns an :class:`IKResult`; success is True only where every criterion holds. Raises
        InvalidInputError for bad shapes, NaN/inf, zero quaternions, unknown tips, bad timeouts.
        """
        t0 = time.perf_counter()
        if not isinstance(tip, str) or tip not in self._tips:
            raise InvalidInputError(f"unknown tip {tip!r}; known: {', '.join(self._tips)}")
        goals = self._goals(positions, quaternions, seeds)
        N = goals.positions.shape[0]
        deadline = time.monotonic() + self._timeout(timeout, N)
        if not refine and self.network is None:
            raise InvalidInputError("refine=False returns the network's answer: this solver has "
                                    "no network")
        caller = goals.seeds if goals.seeds is not None and refine else self._no_seeds
        plan = self.plan(N, seeds=caller.shape[0] > 0, refine=refine)
        out, network_time = self._run_plan(plan, goals, caller, tip,
                                           deadline if refine else np.inf)
        return self._result(goals, out, time.perf_counter() - t0, network_time)

    def plan(self, n_goals: int, seeds: bool = False, refine: bool = True) -> tuple[Pass, ...]:
        """The kernel passes that :meth:`solve` runs for ``n_goals`` goals (``seeds``: with the
        caller's seeds); see :mod:`dtd_ik.solver.passes`."""
        # the plan depends on the goal count only through TWO_PASS_MIN_GOALS: kept per kind
        key = (n_goals >= TWO_PASS_MIN_GOALS, bool(seeds), bool(refine))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = plan_passes(
                self.config, self._params, n_goals=n_goals, has_caller=seeds,
                has_network=self.network is not None, refine=refine)
        return plan

    def _run_plan(self, plan: tuple[Pass, ...], goals: _Goals, caller: np.ndarray, tip: str,
                  deadline: float) -> tuple[rf.Answers, float]:
        """Run the passes in order, each over all goals or over those still unsolved (none
        once the deadline has passed), and fold their answers together. The network answers a
        goal once, when a pass first needs its seed. Returns the answers and the time spent in
        the network [s]."""
        pos, quat = goals.positions, goals.quaternions
        N = pos.shape[0]
        net, has_net = self._no_seeds, None  # network seeds (N, n), once a pass needs them
        network_time, out = 0.0, None
        for step in plan:
            rows = None if step.goals == "all" else self._unsolved(out, deadline)
            if step.goals != "all" and rows is None:
                continue
            if "network" in step.seeds and N > 0:
                if has_net is None and rows is None:  # every goal at once, no copies
                    t_net = time.perf_counter()
                    net, has_net = self._network_seeds(pos, quat, tip), np.ones(N, dtype=np.bool_)
                    network_time += time.perf_counter() - t_net
                else:
                    if has_net is None:
                        net, has_net = np.empty((N, self.robot.dof)), np.zeros(N, dtype=np.bool_)
                    needed = np.arange(N) if rows is None else rows
                    missing = needed[~has_net[needed]]
                    if missing.size:
                        t_net = time.perf_counter()
                        net[missing] = self._network_seeds(pos[missing], quat[missing], tip)
                        network_time += time.perf_counter() - t_net
                        has_net[missing] = True

            def take(x: np.ndarray) -> np.ndarray:
                return x if rows is None else np.ascontiguousarray(x[rows])

            answers = self._run_kernel(
                take(pos), take(quat), take(caller) if "caller" in step.seeds else self._no_seeds,
                take(net) if "network" in step.seeds else self._no_seeds, tip, step.params,
                step.first_attempt, deadline)
            if out is None:
                out = answers
            else:
                self._merge(out, rows, answers)
        return out, network_time

    @staticmethod
    def _unsolved(out: rf.Answers, deadline: float) -> np.ndarray | None:
        """Indices of the goals the passes so far tried and left unsolved (None: none, or no
        time)."""
        left = np.flatnonzero(~out.success & (out.attempts > 0))
        return left if left.size and time.monotonic() < deadline else None

    @staticmethod
    def _merge(out: rf.Answers, left: np.ndarray, second: rf.Answers) -> None:
        """Fold a later pass over goals ``left`` into the answers so far ``out``: the better
        answer (a success, else the lower cost), the counts summed."""
        better = (second.attempts > 0) & (second.success | (second.cost < out.cost[left]))
        for name in ("q", "position_error", "orientation_error", "margin", "cost"):
            getattr(out, name)[left[better]] = getattr(second, name)[better]
        out.success[left] = second.success
        out.iterations[left] += second.iterations
        out.attempts[left] += second.attempts

    def solve_path(self, positions, quaternions, seed=None, tip: str = "panda_hand",
                   timeout: float | None = None) -> IKResult:
        """Consistency mode: answers to nearby goals in sequence (a Cartesian path), one branch.

        Waypoint 0 is solved like :meth:`solve` (``seed`` (n,) tried first, e.g. the current
        joints); waypoint i starts from answer i - 1 and succeeds only if, besides the usual
        criteria, no joint moves by more than the goal step warrants (config ``path_*``; see
        :mod:`dtd_ik.solver.kernels.path_refinement`). Arguments and result as :meth:`solve`,
        (N, ...) in path order; ``timeout`` covers the whole path (None: ``timeout_per_goal``
        x N).
        """
        t0 = time.perf_counter()
        if not isinstance(tip, str) or tip not in self._tips:
            raise InvalidInputError(f"unknown tip {tip!r}; known: {', '.join(self._tips)}")
        goals = self._goals(positions, quaternions, None)
        N = goals.positions.shape[0]
        timeout = self._timeout(timeout, N)
        deadline = time.monotonic() + timeout
        first_seed = None
        if seed is not None:
            first_seed, _, _ = _batch(seed, "seed", self.robot.dof)
            if first_seed.shape[0] != 1:
                raise InvalidInputError(f"seed must have shape ({self.robot.dof},), got "
                                        f"{tuple(np.shape(seed))}")
        out = rf.new_answers(N, self.robot.dof)
        network_time = 0.0
        if N > 0:
            first = self.solve(goals.positions[:1], goals.quaternions[:1], seeds=first_seed,
                               tip=tip, timeout=max(deadline - time.monotonic(), 0.0))
            network_time = first.network_time
            out.q[0], out.success[0] = first.q[0], first.success[0]
            out.position_error[0], out.orientation_error[0] = (first.position_error[0],
                                                               first.orientation_error[0])
            out.margin[0], out.cost[0] = first.collision_margin[0], np.nan
            out.iterations[0], out.attempts[0] = first.iterations[0], first.attempts[0]
            index, offset = self._tips[tip]
            pr.solve_path(goals.positions, goals.quaternions, out.q[0], index, offset,
                          self._arrays, self._params, self._path_params, float(deadline),
                          self.config.random_seed, out)
        return self._result(goals, out, time.perf_counter() - t0, network_time)

    def _timeout(self, timeout, n_goals: int) -> float:
        if timeout is None:
            return self.config.timeout_per_goal * n_goals
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float, np.number)) \
                or not np.isfinite(timeout) or timeout < 0:
            raise InvalidInputError(f"timeout must be a finite number of seconds >= 0, got "
                                    f"{timeout!r}")
        return float(timeout)

    @staticmethod
    def _result(goals: _Goals, out: rf.Answers, solve_time: float,
                network_time: float) -> IKResult:
        arrays = dict(q=out.q, success=out.success, position_error=out.position_error,
                      orientation_error=out.orientation_error, collision_margin=out.margin,
                      iterations=out.iterations, attempts=out.attempts)
        if goals.single:
            arrays = {k: v[0] for k, v in arrays.items()}
        if goals.torch_device is not None:
            arrays = {k: torch.as_tensor(np.ascontiguousarray(v)).to(goals.torch_device)
                      for k, v in arrays.items()}
        return IKResult(solve_time=solve_time, network_time=network_time, **arrays)


__all__ = ["IKResult", "IKSolver"]
