"""The ``ik_server`` executable: node ``dtd_ik_server`` serving MoveIt's IK and FK services.

A thin rclpy layer. Request semantics live in :mod:`dtd_ik.ros.requests`, message conversion in
:mod:`dtd_ik.ros.conversions`, batching in :mod:`dtd_ik.ros.batching`, the maths in the solver.

- services ``compute_ik`` (moveit_msgs/GetPositionIK) and ``compute_fk`` (GetPositionFK), relative
  names so namespaces and remaps apply;
- every solution on ``solution_topic`` (sensor_msgs/JointState, default ``~/solution``) and its
  self-collision margin on ``margin_topic`` (std_msgs/Float64, default ``~/collision_margin``);
- ``diagnostic_msgs/DiagnosticArray`` on ``/diagnostics``: success rate, latency, margin, model.

Parameters are documented in config/ik_server.yaml. A bad model file stops the node at start-up
with one line and exit code 1.
"""
from __future__ import annotations

import signal
import sys
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from moveit_msgs.srv import GetPositionFK, GetPositionIK
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import (
    ExternalShutdownException,
    MultiThreadedExecutor,
    SingleThreadedExecutor,
)
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64

from dtd_ik.exceptions import ConfigError, DtdIkError, InvalidInputError
from dtd_ik.ros.batching import Goal, GoalBatcher
from dtd_ik.ros.requests import (
    Codes,
    RequestError,
    ServerConfig,
    answer_fk,
    judge_answer,
    parse_ik_request,
)
from dtd_ik.kinematics.forward import Kinematics
from dtd_ik.paths import share_dir
from dtd_ik.ros.conversions import (
    joint_state_positions,
    make_error_code,
    make_joint_state,
    make_robot_state,
    matrix_to_transform,
)
from dtd_ik.robot.spatial import xyz_quat_to_matrix
from dtd_ik.solver.ik_solver import IKSolver  # the solver only: nothing here imports the training code

NODE_NAME = "dtd_ik_server"

# Services keep up to 1000 requests (and responses) instead of rclpy's default 10, so that a burst
# of calls is queued and batched rather than dropped by the DDS history.
SERVICE_QOS = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)

# name: (default, description, read_only). Types follow the defaults; None: the robot
# description's value (config/panda_robot.yaml).
PARAMETERS = {
    "model_path": ("auto", "TorchScript IK network: 'auto' = the first models/*.pt shipped with "
                   "the package (none shipped: no network), '' or 'none' = refinement only, "
                   "else a path (relative paths are read from the package share folder)", True),
    "device": ("cpu", "torch device of the network", True),
    "group_name": ("panda_arm", "the MoveIt planning group served", True),
    "joint_names": (None, "joints of the group in solver order (must match the robot description)",
                    True),
    "base_frame": (None, "the robot's base frame (must match the robot description)", True),
    "model_frame": ("world", "MoveIt's model frame, fixed to base_frame by world_to_base", True),
    "world_to_base": ([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
                      "pose of base_frame in model_frame: [x, y, z, qx, qy, qz, qw]", True),
    "tip_link": (None, "the group's tip, used for an empty ik_link_name", True),
    "ik_links": (None, "links the solver takes as IK targets (a subset of the robot "
                 "description's ik_frames)", True),
    "position_tolerance": (1e-4, "largest accepted position error [m]", False),
    "orientation_tolerance": (1e-3, "largest accepted orientation error [rad]", False),
    "collision_margin": (0.005, "smallest accepted capsule distance when avoid_collisions [m]",
                         False),
    "default_timeout": (0.05, "IK time budget when a request's timeout is zero [s]", False),
    "max_timeout": (5.0, "cap on a request's timeout [s]", False),
    "max_attempts": (64, "seeds tried per goal (caller, network, perturbed, random)", True),
    "max_batch": (256, "most goals solved in one solver call", False),
    "executor_threads": (1, "executor threads: 1 = single-threaded, lowest latency (requests "
                         "that arrive during a solve are drained and batched); > 1 = requests "
                         "also run in parallel threads", True),
    "solution_topic": ("~/solution", "sensor_msgs/JointState of every solution", True),
    "margin_topic": ("~/collision_margin", "std_msgs/Float64 margin of every solution [m]", True),
    "joint_state_topic": ("", "current robot state to seed from when a request gives none "
                          "(e.g. /joint_states; empty: not subscribed)", True),
    "diagnostics_period": (1.0, "seconds between /diagnostics messages (0: none)", True),
}


def resolve_model_path(value: str) -> Path | None:
    """The model file a ``model_path`` parameter names (None: run without a network)."""
    if value.strip().lower() in ("", "none"):
        return None
    if value == "auto":
        shipped = sorted((share_dir() / "models").glob("*.pt"))
        return shipped[0] if shipped else None
    path = Path(value).expanduser()
    return path if path.is_absolute() else share_dir() / path


class IKServer(Node):
    """rclpy node; see the module docstring."""

    def __init__(self, **kwargs):
        super().__init__(NODE_NAME, **kwargs)
        self.kin = Kinematics()
        model = self.kin.model
        robot_defaults = {"joint_names": list(model.joint_names), "base_frame": model.base_frame,
                          "tip_link": model.tip_frame, "ik_links": list(model.ik_frames)}
        for name, (default, text, read_only) in PARAMETERS.items():
            self.declare_parameter(name, robot_defaults.get(name, default),
                                   ParameterDescriptor(description=text, read_only=read_only))
        self._check_parameters({n: self.get_parameter(n).value for n in PARAMETERS})
        self.cfg = self._config_from_parameters()
        self.model_path = resolve_model_path(self.get_parameter("model_path").value)
        self.solver = IKSolver.load(
            None if self.model_path is None else str(self.model_path),
            device=self.get_parameter("device").value,
            position_tolerance=self.cfg.position_tolerance,
            orientation_tolerance=self.cfg.orientation_tolerance,
            min_collision_margin=self.cfg.collision_margin,
            max_attempts=int(self.get_parameter("max_attempts").value))
        self.batcher = GoalBatcher(self.solver.solve, self.kin.dof,
                                   int(self.get_parameter("max_batch").value))
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self._current: dict[str, float] | None = None
        self._virtual = (None, None)  # (config, its virtual-joint Transform message)
        self._lock = threading.Lock()
        self._stats = deque(maxlen=1000)  # (latency [s], success, margin [m], batch size)
        self._requests = 0
        self._solved = 0

        services = ReentrantCallbackGroup()
        self._ik_service = self.create_service(GetPositionIK, "compute_ik", self._on_ik,
                                               qos_profile=SERVICE_QOS, callback_group=services)
        self.create_service(GetPositionFK, "compute_fk", self._on_fk, qos_profile=SERVICE_QOS,
                            callback_group=services)
        self.solution_pub = self.create_publisher(
            JointState, self.get_parameter("solution_topic").value, 10)
        self.margin_pub = self.create_publisher(
            Float64, self.get_parameter("margin_topic").value, 10)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        other = MutuallyExclusiveCallbackGroup()
        topic = self.get_parameter("joint_state_topic").value
        if topic:
            self.create_subscription(JointState, topic, self._on_joint_state, 10,
                                     callback_group=other)
        period = float(self.get_parameter("diagnostics_period").value)
        if period > 0:
            self.create_timer(period, self._publish_diagnostics, callback_group=other)
        model = str(self.model_path) if self.model_path else "none (refinement only)"
        self.get_logger().info(
            f"serving {self.resolve_service_name('compute_ik')} and "
            f"{self.resolve_service_name('compute_fk')} for group '{self.cfg.group_name}' "
            f"(tip {self.cfg.tip_link}); model: {model}")

    # -- parameters ------------------------------------------------------------------------
    def _config_from_parameters(self, overrides: dict | None = None) -> ServerConfig:
        p = {n: self.get_parameter(n).value for n in PARAMETERS}
        p.update(overrides or {})
        model = self.kin.model
        joint_names = tuple(p["joint_names"] or model.joint_names)
        if joint_names != model.joint_names:
            raise ConfigError(f"parameter joint_names {list(joint_names)} differs from the robot "
                             f"description's {list(model.joint_names)}")
        base = p["base_frame"] or model.base_frame
        if base != model.base_frame:
            raise ConfigError(f"parameter base_frame '{base}' differs from the robot "
                              f"description's '{model.base_frame}'")
        ik_links = tuple(p["ik_links"] or model.ik_frames)
        for link in ik_links:
            if link not in model.ik_frames:
                raise ConfigError(f"parameter ik_links names '{link}'; the solver takes "
                                 f"{', '.join(model.ik_frames)}")
        tip = p["tip_link"] or model.tip_frame
        if tip not in ik_links:
            raise ConfigError(f"parameter tip_link '{tip}' is not one of ik_links")
        return ServerConfig(
            joint_names=joint_names, moveit=model.moveit, base_frame=base, group_name=p["group_name"], tip_link=tip,
            ik_links=ik_links, model_frame=p["model_frame"],
            world_to_base=xyz_quat_to_matrix(p["world_to_base"], "parameter world_to_base"),
            position_tolerance=float(p["position_tolerance"]),
            orientation_tolerance=float(p["orientation_tolerance"]),
            collision_margin=float(p["collision_margin"]),
            default_timeout=float(p["default_timeout"]), max_timeout=float(p["max_timeout"]))

    @staticmethod
    def _check_parameters(values: dict) -> None:
        """Raise ConfigError naming the first parameter whose value is out of range."""
        positive = ["position_tolerance", "orientation_tolerance", "default_timeout",
                    "max_timeout"]
        for name in positive:
            if name in values and not float(values[name]) > 0:
                raise ConfigError(f"parameter {name} must be > 0, got {values[name]}")
        if "collision_margin" in values and not float(values["collision_margin"]) >= 0:
            raise ConfigError(f"parameter collision_margin must be >= 0, got "
                              f"{values['collision_margin']}")
        if "max_batch" in values and not int(values["max_batch"]) >= 1:
            raise ConfigError(f"parameter max_batch must be >= 1, got {values['max_batch']}")

    def _on_set_parameters(self, params) -> SetParametersResult:
        changes = {p.name: p.value for p in params}
        try:
            self._check_parameters(changes)
            cfg = self._config_from_parameters(changes)
            # the solver refines to the same criteria the node accepts answers with
            self.solver.set_targets(position_tolerance=cfg.position_tolerance,
                                    orientation_tolerance=cfg.orientation_tolerance,
                                    min_collision_margin=cfg.collision_margin)
        except (DtdIkError, InvalidInputError, TypeError, ValueError) as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self.cfg = cfg
        if "max_batch" in changes:
            self.batcher.max_batch = int(changes["max_batch"])
        return SetParametersResult(successful=True)

    # -- callbacks -------------------------------------------------------------------------
    def _on_joint_state(self, msg: JointState) -> None:
        try:
            values = joint_state_positions(msg, "joint state")
        except InvalidInputError:
            return
        with self._lock:
            merged = dict(self._current or {})
            merged.update(values)
            self._current = merged

    def _on_ik(self, request: GetPositionIK.Request, response: GetPositionIK.Response):
        """Answer this request and every other one already waiting in the service queue, as one
        solver batch; the others' responses are sent here, this one's is returned."""
        t0 = time.perf_counter()
        batch = [(request, response, None)]
        while len(batch) < self.batcher.max_batch:
            with self._ik_service.handle:
                taken = self._ik_service.handle.service_take_request(GetPositionIK.Request)
            if taken is None or taken[1] is None:
                break
            batch.append((taken[0], GetPositionIK.Response(), taken[1]))
        self._answer_ik([(req, res) for req, res, _ in batch], t0)
        for _, res, header in batch[1:]:
            self._ik_service.send_response(res, header)
        return response

    def _answer_ik(self, pairs, t0: float) -> None:
        """Fill each response of ``pairs`` [(request, response)]: refusals at once, the rest
        solved together."""
        cfg, source = self.cfg, self.get_name()
        with self._lock:
            current = self._current
        queries, goals = [], []
        for request, response in pairs:
            try:
                query = parse_ik_request(request.ik_request, cfg, self.kin, current)
            except RequestError as exc:
                response.error_code = make_error_code(exc.code, exc.message, source)
                continue
            queries.append((query, response))
            goals.append(Goal(query.position, query.quaternion, query.tip, query.seed,
                              query.timeout))
        outcomes = self.batcher.solve_many(goals) if goals else []
        for (query, response), answer in zip(queries, outcomes):
            if isinstance(answer, InvalidInputError):  # the solver refused the goal
                response.error_code = make_error_code(Codes.INVALID_GOAL_CONSTRAINTS, str(answer),
                                                      source)
            elif isinstance(answer, BaseException):
                self.get_logger().error(f"IK request failed: {type(answer).__name__}: {answer}")
                response.error_code = make_error_code(
                    Codes.FAILURE, f"internal error: {type(answer).__name__}: {answer}", source)
            else:
                verdict = judge_answer(query, cfg, answer.q, answer.position_error,
                                       answer.orientation_error, answer.collision_margin)
                response.error_code = make_error_code(verdict.code, verdict.message, source)
                if verdict.success:
                    self._publish_solution(query, answer.q, answer.collision_margin, response)
        latency = time.perf_counter() - t0
        margins = {id(res): a.collision_margin for (_, res), a in zip(queries, outcomes)
                   if not isinstance(a, BaseException)}
        for _, response in pairs:
            self._record(latency, response.error_code.val == Codes.SUCCESS,
                         margins.get(id(response), float("nan")), len(pairs))

    def _publish_solution(self, query, q, margin: float, response) -> None:
        cfg = self.cfg
        names = cfg.all_joints
        values = [*q, *(query.state[n] for n in cfg.moveit.other_joints)]
        if self._virtual[0] is not cfg:  # the Transform message, rebuilt when the config changes
            self._virtual = (cfg, matrix_to_transform(cfg.world_to_base))
        make_robot_state(names, values, query.stamp, cfg.model_frame, cfg.moveit.virtual_joint,
                         self._virtual[1], state=response.solution)
        if self.solution_pub.get_subscription_count():  # build the message only when heard
            now = self.get_clock().now().to_msg()
            self.solution_pub.publish(make_joint_state(names, values, now))
        if self.margin_pub.get_subscription_count():
            self.margin_pub.publish(Float64(data=float(margin)))

    def _on_fk(self, request: GetPositionFK.Request, response: GetPositionFK.Response):
        with self._lock:
            current = self._current
        try:
            return answer_fk(request, self.cfg, self.kin, current,
                             self.get_clock().now().to_msg(), self.get_name())
        except Exception as exc:  # noqa: BLE001
            self.get_logger().error(f"FK request failed: {type(exc).__name__}: {exc}")
            response.error_code = make_error_code(
                Codes.FAILURE, f"internal error: {type(exc).__name__}: {exc}", self.get_name())
            return response

    # -- diagnostics -----------------------------------------------------------------------
    def _record(self, latency: float, success: bool, margin: float, batch: int) -> None:
        with self._lock:
            self._requests += 1
            self._solved += int(success)
            self._stats.append((latency, success, margin, batch))

    def _publish_diagnostics(self) -> None:
        with self._lock:
            stats, requests, solved = list(self._stats), self._requests, self._solved
        status = DiagnosticStatus(name=f"{self.get_name()}: IK service", hardware_id="panda")
        values = {"requests": str(requests), "solved": str(solved),
                  "solver_calls": str(self.batcher.batches),
                  "largest_batch": str(self.batcher.largest_batch),
                  "model": str(self.model_path) if self.model_path else "none (refinement only)"}
        if stats:
            lat = np.array([s[0] for s in stats]) * 1e3
            ok = np.array([s[1] for s in stats])
            margins = np.array([s[2] for s in stats if s[1]])
            values.update({
                "success_rate_recent": f"{ok.mean():.4f}",
                "latency_p50_ms": f"{np.percentile(lat, 50):.3f}",
                "latency_p99_ms": f"{np.percentile(lat, 99):.3f}",
                "min_margin_mm": f"{margins.min() * 1e3:.2f}" if margins.size else "n/a",
                "mean_batch": f"{np.mean([s[3] for s in stats]):.2f}"})
            status.level = DiagnosticStatus.OK if ok.mean() >= 0.5 else DiagnosticStatus.WARN
            status.message = f"{ok.mean() * 100:.1f} % of the last {len(stats)} requests solved"
        else:
            status.level = DiagnosticStatus.OK
            status.message = "no requests yet"
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics_pub.publish(msg)


class _SigintWhileServing:
    """SIGINT ends ``spin()`` between callbacks, as SIGTERM does: no KeyboardInterrupt then.

    rclpy's own handler (installed by ``rclpy.init``) shuts the context down and then calls the
    Python handler. Python's default raises KeyboardInterrupt wherever the main thread is, and
    inside a callback that surfaces as an error from wherever it landed (a message constructor,
    a DDS call): a traceback and exit code 1. While serving, the Python handler does nothing;
    while starting (loading, compiling) it raises KeyboardInterrupt, so Ctrl-C stops at once.
    """

    def __init__(self):
        self.serving = False
        self._previous = None

    def __enter__(self) -> "_SigintWhileServing":
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # e.g. started with &
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _on_sigint(self, signum, frame) -> None:
        if not self.serving:
            raise KeyboardInterrupt


def main(args=None) -> int:
    """Entry point of ``ik_server``: returns 1 with one line on stderr when start-up fails;
    SIGINT and SIGTERM stop it after the callback in progress, with exit code 0."""
    with _SigintWhileServing() as sigint:
        rclpy.init(args=args)
        node = None
        try:
            node = IKServer()
            threads = int(node.get_parameter("executor_threads").value)
            executor = (SingleThreadedExecutor() if threads <= 1
                        else MultiThreadedExecutor(threads))
            executor.add_node(node)
            sigint.serving = True
            executor.spin()
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        except _rclpy.RCLError:
            # SIGTERM/SIGINT shut the context down (rclpy's handler) while a callback published
            # or the executor built its wait set: "context is invalid" is then part of stopping.
            # With the context still valid it is a real error.
            if rclpy.ok():
                raise
        except (DtdIkError, InvalidParameterTypeException, InvalidParameterValueException) as exc:
            print(f"ik_server: {exc}", file=sys.stderr)
            return 1
        finally:
            if node is not None:
                node.destroy_node()
            if rclpy.ok():
                rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
