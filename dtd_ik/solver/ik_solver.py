"""The public IK solver: network seeds + compiled batched refinement (see docs/solver.md).

    from dtd_ik import IKSolver
    solver = IKSolver.load("models/panda.pt")          # or IKSolver.load(None): no network
    result = solver.solve(positions, quaternions_xyzw, seeds=None, tip="panda_hand",
                          lower=None, upper=None, world=None)  # per-goal bounds, a CollisionWorld
    result.q, result.success, result.position_error, result.collision_margin, ...
    p, R = solver.forward(result.q, "panda_hand_tcp")  # FK of any frame: (N, 3) [m], (N, 3, 3)

numpy in -> numpy out, torch in -> torch out (on the positions' device); forward returns numpy.
A solve runs the pass plan of :mod:`dtd_ik.solver.passes` through the kernels of
:mod:`dtd_ik.solver.kernels`; each answer the kernels find is then judged on the collision meshes
(:mod:`dtd_ik.solver.acceptance`), a refused one making way for the goal's next attempts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dtd_ik.collision import CollisionWorld
from dtd_ik.exceptions import InvalidInputError, UnknownFrameError
from dtd_ik.robot.spatial import (
    MIN_QUATERNION_NORM,
    matrix_to_quaternion,
    quaternion_norms,
    quaternion_to_matrix,
)
from dtd_ik.solver.acceptance import NO_PAIR, Judge, MeshAcceptance
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
    collision_margin: Any  # (N,) [m] smallest mesh distance over self and world pairs
    #                        (<= 0: contact); see IKSolver.solve for where it is exact
    iterations: Any  # (N,) int, LM iterations over all attempts
    attempts: Any  # (N,) int, seeds tried (0: none, e.g. out of reach or no time)
    solve_time: float  # [s] wall time of the whole call
    network_time: float  # [s] of that, spent in the network
    closest_pair: Any = ()  # N (name, name) of the collision_margin's pair ("", "": none found)


@dataclass(frozen=True)
class _Goals:
    positions: np.ndarray  # (N, 3) float64
    quaternions: np.ndarray  # (N, 4) float64, unit
    seeds: np.ndarray | None  # (N, n) float64; a row of NaN: no seed for that goal
    lower: np.ndarray  # (N, n) [rad] each goal's joint box, inside the robot's limits
    upper: np.ndarray  # (N, n) [rad] (lower > upper in a joint: no answer for that goal)
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


def _batch(
    x: Any, name: str, width: int, nan_rows: bool = False
) -> tuple[np.ndarray, bool, torch.device | None]:
    """``x`` as a contiguous (N, width) float64 array, whether it was one (width,) row, and
    its torch device (None: not a tensor). ``nan_rows``: rows entirely NaN are allowed."""
    arr, device = _to_numpy(x, name)
    if arr.ndim not in (1, 2) or arr.shape[-1] != width:
        raise InvalidInputError(
            f"{name} must have shape (N, {width}) or ({width},), got {tuple(arr.shape)}"
        )
    single = arr.ndim == 1
    if single:
        arr = arr[None]
    finite = np.isfinite(arr)
    if nan_rows:
        finite |= np.isnan(arr).all(axis=1, keepdims=True)
    if not finite.all():
        raise InvalidInputError(
            f"{name} contain NaN or inf"
            + (" (only whole rows of NaN, meaning no seed, are allowed)" if nan_rows else "")
        )
    return np.ascontiguousarray(arr), single, device


class IKSolver:
    """Network seeds (optional) + batched Levenberg-Marquardt refinement with restarts."""

    def __init__(
        self,
        network: IKNetwork | None = None,
        config: SolverConfig | None = None,
        robot: CompiledRobot | None = None,
    ):
        self.network = network
        self._use_config(config if config is not None else SolverConfig.load())
        self.robot = robot if robot is not None else CompiledRobot.from_model()
        self._kinematics = CompiledKinematics(self.robot, self.config.parallel_min_goals)
        self._acceptance = MeshAcceptance(self._kinematics)
        r = self.robot
        self._no_seeds = np.zeros((0, r.dof))
        self._arrays = r.arrays
        self._tips = {name: r.frame(name) for name in r.model.ik_frames}
        if network is not None:
            self._tips.setdefault(network.tip_frame, r.frame(network.tip_frame))
        self._tables: dict[int, SeedTable] = {}
        origins = r.arrays.M0[:, :3, 3]  # (n, 3) each joint's origin in its parent frame [m]
        self._shoulder = origins[0].copy()  # joint 1's origin: fixed in the base frame
        self._reach = {
            name: float(
                np.linalg.norm(origins[1:index], axis=1).sum() + np.linalg.norm(offset[:3, 3])
            )
            + REACH_SLACK
            for name, (index, offset) in self._tips.items()
        }

    def _use_config(self, config: SolverConfig) -> None:
        """Make ``config`` the solver's: its kernel settings, and no plan made for another."""
        self.config = config
        self._params = self.config.kernel_params()
        self._path_params = self.config.path_params()
        self._plans: dict[tuple[bool, bool, bool], tuple[Pass, ...]] = {}  # filled by plan()

    def set_targets(
        self,
        *,
        position_tolerance: float | None = None,
        orientation_tolerance: float | None = None,
        collision_padding: float | None = None,
        required_clearance: float | None = None,
        preferred_clearance: float | None = None,
        min_collision_margin: float | None = None,
    ) -> None:
        """Change the success criteria that later ``solve`` calls refine to.

        Args:
            position_tolerance: largest accepted position error [m].
            orientation_tolerance: largest accepted orientation error [rad].
            collision_padding: [m] an answer is collision-free when its mesh distance exceeds
                this (move_group's padding, default 0).
            required_clearance: [m] answers with a smaller mesh distance are refused.
            preferred_clearance: [m] clearance sought first (never a reason to refuse).
            min_collision_margin: the former name of ``preferred_clearance``, still accepted
                (the ROS layer passes it).

        None keeps a value. Raises ConfigError for an invalid value (nothing is changed then).
        A ``solve`` already running keeps the criteria it started with.
        """
        if preferred_clearance is None:  # the former name (RENAMED in dtd_ik.solver.config)
            preferred_clearance = min_collision_margin
        changes = {
            name: value
            for name, value in (
                ("position_tolerance", position_tolerance),
                ("orientation_tolerance", orientation_tolerance),
                ("collision_padding", collision_padding),
                ("required_clearance", required_clearance),
                ("preferred_clearance", preferred_clearance),
            )
            if value is not None
        }
        if changes:
            self._use_config(self.config.with_options(**changes))

    @classmethod
    def load(
        cls,
        model_path: str | Path | None = None,
        device: str | torch.device = "cpu",
        *,
        config_path: str | Path | None = None,
        announce: Callable[[str], None] | None = None,
        **options,
    ) -> IKSolver:
        """A solver with the network at ``model_path`` (None: no network) on ``device``.

        ``options`` override keys of config/solver.yaml (or of ``config_path``). Raises
        ModelLoadError for a bad model file, ConfigError for unknown or invalid options.
        The compiled kernels are loaded (or compiled, once per machine) here, not in solve();
        ``announce``, if given, gets one line just before, once the model and options are good
        (a first start compiles for about a minute: a program can say so instead of looking hung).
        """
        config = SolverConfig.load(config_path, **options)
        network = None if model_path is None else load_ik_network(model_path, device=device)
        if announce is not None:
            announce("loading the solver's kernels (the first start on a machine compiles them)")
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
            self._tables[index] = SeedTable.build(
                self._kinematics, index, c.seed_table_size, c.seed_table_margin, c.random_seed
            )
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
            self._run_kernel(
                p,
                quat,
                mid,
                self._no_seeds,
                r.lower[None],
                r.upper[None],
                tip,
                params,
                0,
                np.inf,
                parallel_min_goals,
            )
        # the meshes are read here, not in the first solve that needs them
        self._acceptance.judge(mid, np.zeros(1), None, padding=0.0, required=0.0)
        self._acceptance.reset_counts()
        if self.network is not None:  # TorchScript optimises a graph on its first calls
            for _ in range(2):
                self._network_seeds(p, quat, self.network.tip_frame)
        pr.solve_path(
            np.repeat(p, 2, axis=0),
            np.repeat(quat, 2, axis=0),
            mid[0],
            index,
            offset,
            r.arrays,
            params,
            self._path_params,
            np.inf,
            0,
            rf.new_answers(2, r.dof),
        )

    def _run_kernel(
        self,
        positions,
        quaternions,
        caller_seeds,
        net_seeds,
        lower,
        upper,
        tip,
        params,
        first_attempt,
        deadline,
        parallel_min_goals=None,
    ) -> rf.Answers:
        """One kernel pass (:func:`dtd_ik.solver.kernels.refinement.solve_goals`);
        ``first_attempt`` an int or (N,) per goal."""
        r, N = self.robot, positions.shape[0]
        index, offset = self._tips[tip]
        answers = rf.new_answers(N, r.dof)
        first = (
            first_attempt
            if isinstance(first_attempt, np.ndarray)
            else np.full(N, first_attempt, dtype=np.int64)
        )
        rf.solve_goals(
            positions,
            quaternions,
            caller_seeds,
            net_seeds,
            lower,
            upper,
            index,
            offset,
            self._arrays,
            self.seed_table(index),
            params,
            first,
            deadline,
            self.config.random_seed,
            self._shoulder,
            self._reach[tip],
            answers,
            parallel_min_goals or self.config.parallel_min_goals,
        )
        return answers

    def _bounds(self, x, name: str, limit: np.ndarray, n_goals: int) -> np.ndarray:
        """Per-goal joint bounds ``x`` ((N, n), (n,) or None: the robot's ``limit``) as an
        (N, n) array, clipped into the robot's limits."""
        if x is None:
            return np.repeat(limit[None], n_goals, axis=0)
        arr, _, _ = _batch(x, name, self.robot.dof)
        if arr.shape[0] not in (1, n_goals):
            raise InvalidInputError(
                f"{name} must have shape ({n_goals}, {self.robot.dof}) or "
                f"({self.robot.dof},), got {tuple(np.shape(x))}"
            )
        arr = np.clip(arr, self.robot.lower, self.robot.upper)
        return np.ascontiguousarray(np.broadcast_to(arr, (n_goals, limit.shape[0])))

    def _goals(self, positions, quaternions, seeds, lower=None, upper=None) -> _Goals:
        p, single_p, device = _batch(positions, "positions", 3)
        quat, single_q, _ = _batch(quaternions, "quaternions", 4)
        if p.shape[0] != quat.shape[0] or single_p != single_q:
            raise InvalidInputError(
                f"positions and quaternions disagree on the number of goals: "
                f"{p.shape[0]} vs {quat.shape[0]}"
            )
        norm, quat = quaternion_norms(quat)
        small = norm < MIN_QUATERNION_NORM
        if small.any():
            bad = int(np.argmax(small))
            raise InvalidInputError(f"quaternion {bad} has norm {norm[bad]:.3g}: not a rotation")
        s = None
        if seeds is not None:
            s, single_s, _ = _batch(seeds, "seeds", self.robot.dof, nan_rows=True)
            if s.shape[0] != p.shape[0] or single_s != single_p:
                raise InvalidInputError(
                    f"seeds must have shape ({p.shape[0]}, {self.robot.dof}) "
                    f"like the goals, got {tuple(np.shape(seeds))}"
                )
        N, r = p.shape[0], self.robot
        return _Goals(
            p,
            quat,
            s,
            self._bounds(lower, "lower", r.lower, N),
            self._bounds(upper, "upper", r.upper, N),
            single_p,
            device,
        )

    def _network_seeds(self, p: np.ndarray, quat: np.ndarray, tip: str) -> np.ndarray:
        """(N, n) float64 network answers for goals (N, 3) [m], (N, 4) x-y-z-w of frame
        ``tip``."""
        net = self.network
        if net.tip_frame != tip:
            (i_tip, off_tip), (i_net, off_net) = self._tips[tip], self._tips[net.tip_frame]
            if i_tip != i_net:
                raise InvalidInputError(
                    f"tip {tip!r} is not rigidly attached to the network's tip {net.tip_frame!r}"
                )
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

    def solve(
        self,
        positions,
        quaternions,
        seeds=None,
        tip: str = "panda_hand",
        timeout: float | None = None,
        refine: bool = True,
        *,
        lower=None,
        upper=None,
        world: CollisionWorld | None = None,
    ) -> IKResult:
        """Joint angles that put frame ``tip`` at each goal pose, free of collision.

        Args:
            positions: (N, 3) goal positions [m] in the base frame (or (3,) for one goal).
            quaternions: (N, 4) goal orientations, x-y-z-w (normalised here; norm ~0 refused).
            seeds: optional (N, n) joints [rad] tried first (clamped into the goal's bounds);
                a row of NaN means no seed for that goal.
            tip: one of :attr:`tips`.
            timeout: wall-clock budget of the call [s]; None: ``timeout_per_goal`` x N.
            refine: False returns the network's answer alone (needs a network).
            lower, upper: per-goal joint bounds [rad], (N, n) or (n,), clipped into the robot's
                limits (None: the limits). Every seed, step and answer stays inside them; a
                goal with lower > upper in a joint gets no attempt (success False).
            world: the :class:`~dtd_ik.collision.CollisionWorld` whose objects (and attached
                objects) answers must clear, besides self-collision; None: self only. It is
                read, not changed; one solve at a time may use it.

        Success: pose within the tolerances and mesh distance (self + world, FCL) above
        ``collision_padding`` and at least ``required_clearance``. Answers with capsule
        clearance ``preferred_clearance`` are sought first; then any capsule distance, the
        meshes deciding. ``collision_margin`` is the mesh distance where FCL ran (the world
        has objects, or the capsules did not prove clearance, or ``exact_margin``), else the
        capsule distance, a lower bound of it; ``closest_pair`` names the pair FCL found.

        Raises InvalidInputError for bad shapes, NaN/inf, zero quaternions, unknown tips, bad
        timeouts.
        """
        t0 = time.perf_counter()
        if not isinstance(tip, str) or tip not in self._tips:
            raise InvalidInputError(f"unknown tip {tip!r}; known: {', '.join(self._tips)}")
        if world is not None and not isinstance(world, CollisionWorld):
            raise InvalidInputError(f"world must be a CollisionWorld, got {type(world).__name__}")
        goals = self._goals(positions, quaternions, seeds, lower, upper)
        N = goals.positions.shape[0]
        deadline = time.monotonic() + self._timeout(timeout, N)
        if not refine and self.network is None:
            raise InvalidInputError(
                "refine=False returns the network's answer: this solver has no network"
            )
        caller = goals.seeds if goals.seeds is not None and refine else self._no_seeds
        plan = self.plan(N, seeds=caller.shape[0] > 0, refine=refine)
        judge = Judge(self._acceptance, self.config, world, N, self.robot.dof)
        out, network_time = self._run_plan(
            plan, goals, caller, tip, deadline if refine else np.inf, judge
        )
        margin, pairs = judge.report(out)
        return self._result(goals, out, time.perf_counter() - t0, network_time, margin, pairs)

    def plan(self, n_goals: int, seeds: bool = False, refine: bool = True) -> tuple[Pass, ...]:
        """The kernel passes that :meth:`solve` runs for ``n_goals`` goals (``seeds``: with the
        caller's seeds); see :mod:`dtd_ik.solver.passes`."""
        # the plan depends on the goal count only through TWO_PASS_MIN_GOALS: kept per kind
        key = (n_goals >= TWO_PASS_MIN_GOALS, bool(seeds), bool(refine))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = plan_passes(
                self.config,
                self._params,
                n_goals=n_goals,
                has_caller=seeds,
                has_network=self.network is not None,
                refine=refine,
            )
        return plan

    def _run_plan(
        self,
        plan: tuple[Pass, ...],
        goals: _Goals,
        caller: np.ndarray,
        tip: str,
        deadline: float,
        judge: Judge,
    ) -> tuple[rf.Answers, float]:
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
            answers = self._run_pass(
                step,
                np.arange(N) if rows is None else rows,
                goals,
                caller if "caller" in step.seeds else self._no_seeds,
                net if "network" in step.seeds else self._no_seeds,
                tip,
                deadline,
                judge,
            )
            if out is None:
                out = answers
            else:
                self._merge(out, rows, answers)
        return out, network_time

    def _run_pass(
        self,
        step: Pass,
        rows: np.ndarray,
        goals: _Goals,
        caller: np.ndarray,
        net: np.ndarray,
        tip: str,
        deadline: float,
        judge: Judge,
    ) -> rf.Answers:
        """One pass over goals ``rows``, its answers judged on the meshes: a goal whose answer
        is refused goes on with the next attempts of its enumeration until one is accepted,
        its attempts run out or the deadline passes."""

        def take(x: np.ndarray, sub: np.ndarray) -> np.ndarray:
            return x if x.shape[0] == 0 else np.ascontiguousarray(x[sub])

        first = np.full(rows.size, step.first_attempt, dtype=np.int64)
        left = np.arange(rows.size)  # positions in rows still to run
        out = None
        while True:
            sub = rows[left]
            if out is None and rows.size == goals.positions.shape[0]:  # every goal: no copies
                arrays = (
                    goals.positions,
                    goals.quaternions,
                    caller,
                    net,
                    goals.lower,
                    goals.upper,
                )
            else:
                arrays = tuple(
                    take(x, sub)
                    for x in (
                        goals.positions,
                        goals.quaternions,
                        caller,
                        net,
                        goals.lower,
                        goals.upper,
                    )
                )
            answers = self._run_kernel(*arrays, tip, step.params, first[left], deadline)
            refused = judge.judge(sub, answers)
            if out is None:
                out = answers
                if not refused.any():  # the usual case: nothing to retry
                    return out
            else:
                self._merge(out, left, answers)
            first[left] += answers.attempts
            again = refused & (first[left] < step.params.max_attempts)
            if not again.any() or time.monotonic() >= deadline:
                return out
            left = left[again]

    @staticmethod
    def _unsolved(out: rf.Answers, deadline: float) -> np.ndarray | None:
        """Indices of the goals the passes so far tried and left unsolved (None: none, or no
        time)."""
        left = np.flatnonzero(~out.success & (out.attempts > 0))
        return left if left.size and time.monotonic() < deadline else None

    @staticmethod
    def _merge(out: rf.Answers, left: np.ndarray | None, second: rf.Answers) -> None:
        """Fold a later pass over goals ``left`` into the answers so far ``out``: the better
        answer (a success, else the lower cost), the counts summed."""
        left = np.arange(out.q.shape[0]) if left is None else left
        better = (second.attempts > 0) & (
            second.success | (~out.success[left] & (second.cost < out.cost[left]))
        )
        for name in ("q", "position_error", "orientation_error", "margin", "cost"):
            getattr(out, name)[left[better]] = getattr(second, name)[better]
        out.success[left] |= second.success
        out.iterations[left] += second.iterations
        out.attempts[left] += second.attempts

    def solve_path(
        self,
        positions,
        quaternions,
        seed=None,
        tip: str = "panda_hand",
        timeout: float | None = None,
    ) -> IKResult:
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
                raise InvalidInputError(
                    f"seed must have shape ({self.robot.dof},), got {tuple(np.shape(seed))}"
                )
        out = rf.new_answers(N, self.robot.dof)
        network_time = 0.0
        if N > 0:
            first = self.solve(
                goals.positions[:1],
                goals.quaternions[:1],
                seeds=first_seed,
                tip=tip,
                timeout=max(deadline - time.monotonic(), 0.0),
            )
            network_time = first.network_time
            out.q[0], out.success[0] = first.q[0], first.success[0]
            out.position_error[0], out.orientation_error[0] = (
                first.position_error[0],
                first.orientation_error[0],
            )
            out.margin[0], out.cost[0] = first.collision_margin[0], np.nan
            out.iterations[0], out.attempts[0] = first.iterations[0], first.attempts[0]
            index, offset = self._tips[tip]
            pr.solve_path(
                goals.positions,
                goals.quaternions,
                out.q[0],
                index,
                offset,
                self._arrays,
                self._params,
                self._path_params,
                float(deadline),
                self.config.random_seed,
                out,
            )
        pairs = [NO_PAIR] * N  # waypoints after the first keep the capsule rule: no FCL pair
        if N > 0:
            pairs[0] = first.closest_pair[0]
        return self._result(goals, out, time.perf_counter() - t0, network_time, out.margin, pairs)

    def _timeout(self, timeout, n_goals: int) -> float:
        if timeout is None:
            return self.config.timeout_per_goal * n_goals
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float, np.number))
            or not np.isfinite(timeout)
            or timeout < 0
        ):
            raise InvalidInputError(
                f"timeout must be a finite number of seconds >= 0, got {timeout!r}"
            )
        return float(timeout)

    @staticmethod
    def _result(
        goals: _Goals,
        out: rf.Answers,
        solve_time: float,
        network_time: float,
        margin: np.ndarray,
        pairs: list[tuple[str, str]],
    ) -> IKResult:
        arrays = dict(
            q=out.q,
            success=out.success,
            position_error=out.position_error,
            orientation_error=out.orientation_error,
            collision_margin=margin,
            iterations=out.iterations,
            attempts=out.attempts,
        )
        closest = tuple(pairs)
        if goals.single:
            arrays = {k: v[0] for k, v in arrays.items()}
            closest = closest[0]
        if goals.torch_device is not None:
            arrays = {
                k: torch.as_tensor(np.ascontiguousarray(v)).to(goals.torch_device)
                for k, v in arrays.items()
            }
        return IKResult(
            solve_time=solve_time, network_time=network_time, closest_pair=closest, **arrays
        )


__all__ = ["IKResult", "IKSolver"]
