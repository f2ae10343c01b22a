"""The ``ik_server`` executable: node ``dtd_ik_server`` serving MoveIt's IK and FK services.

A thin rclpy layer. Request semantics live in :mod:`dtd_ik.ros.requests`, message conversion in
:mod:`dtd_ik.ros.conversions`, batching in :mod:`dtd_ik.ros.batching`, the parameters in
:mod:`dtd_ik.ros.parameters`, the maths in the solver.

- services ``compute_ik`` (moveit_msgs/GetPositionIK) and ``compute_fk`` (GetPositionFK), relative
  names so namespaces and remaps apply;
- every solution on ``solution_topic`` (sensor_msgs/JointState, default ``~/solution``) and its
  smallest distance over self and world pairs on ``margin_topic`` (std_msgs/Float64, default
  ``~/collision_margin``);
- the world from ``collision_object`` (moveit_msgs/CollisionObject, :mod:`dtd_ik.ros.world`),
  listed on the latched ``~/world_objects`` (std_msgs/String) after every change;
- ``diagnostic_msgs/DiagnosticArray`` on ``/diagnostics``: success rate, latency, margin, model.

Parameters follow ros2/demos' pattern: checked in the on-set callback, applied in the post-set
callback. A bad model file stops the node at start-up with one line and exit code 1.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from moveit_msgs.msg import CollisionObject
from moveit_msgs.srv import GetPositionFK, GetPositionIK
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import (
    ExternalShutdownException,
    MultiThreadedExecutor,
    SingleThreadedExecutor,
)
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile
from rclpy.service import Service
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, String

from dtd_ik.exceptions import ConfigError, DtdIkError, InvalidInputError
from dtd_ik.paths import share_dir
from dtd_ik.robot import load_robot_model
from dtd_ik.ros.batching import GoalBatcher
from dtd_ik.ros.conversions import (
    joint_state_positions,
    make_error_code,
    make_joint_state,
    make_robot_state,
    matrix_to_transform,
)
from dtd_ik.ros.parameters import (
    NODE_NAME,
    REMOVED_PARAMETERS,
    ServerParameters,
    parameter_table,
    solver_targets,
)
from dtd_ik.ros.qos import SERVICE_QOS
from dtd_ik.ros.replies import ReplyCopies
from dtd_ik.ros.requests import (
    Codes,
    IKQuery,
    RequestError,
    ServerConfig,
    answer_fk,
    judge_answer,
    parse_ik_request,
)
from dtd_ik.ros.world import (
    WorldKeeper,
    WorldMessageError,
    describe_world,
    fixed_frames,
    world_change,
)
from dtd_ik.solver.ik_solver import IKSolver  # the solver only: never the training code


# -- rclpy internals ------------------------------------------------------------------------------
def _rclpy_internals() -> tuple[type[Exception], Any]:
    """(RCLError, take) for the two things rclpy has no public API for, kept here alone.

    - ``RCLError``: the error rclpy's C layer raises, e.g. "context is invalid" when SIGTERM shut
      the context down while a callback published; :func:`main` tells stopping from failing.
    - ``take(service, srv_type)``: the next request waiting in a service's queue as (request,
      header: rmw_service_info_t), or None; :meth:`IKServer._on_ik` and the solver's rounds take
      waiting requests with it (rclpy's executor hands a callback one request at a time).
    """
    from rclpy.impl.implementation_singleton import rclpy_implementation

    def take(service: Service, srv_type: type) -> tuple[Any, Any] | None:
        with service.handle:
            taken = service.handle.service_take_request(srv_type.Request)
        return None if taken is None or taken[1] is None else taken

    return rclpy_implementation.RCLError, take


RCLError, take_waiting_request = _rclpy_internals()


def arrival_time(header: Any) -> float:
    """time.monotonic() at which a taken request reached this process: its reception timestamp
    (system clock [ns], rmw_service_info_t.received_timestamp) carried over to the monotonic
    clock; now when the middleware gave none."""
    now, received = time.monotonic(), getattr(header, "received_timestamp", 0)
    if not received:
        return now
    return now - min(max(time.time() - received * 1e-9, 0.0), 60.0)


#: Most answer copies sent between two solver rounds (the copies timer sends the rest).
COPIES_BETWEEN_ROUNDS = 16


@dataclass
class _Call:
    """One GetPositionIK call in the node: its response, the header to send it with (None: the
    executor's own request, whose response the callback returns) and its query (None: refused
    before solving; the response holds the refusal)."""

    response: GetPositionIK.Response
    header: Any
    query: IKQuery | None
    arrival: float  # time.monotonic()


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
        self.robot = load_robot_model()
        table = parameter_table(self.robot)
        for p in table:
            self.declare_parameter(
                p.name,
                p.default,
                ParameterDescriptor(description=p.description, read_only=p.read_only),
            )
        self._parameter_names = [p.name for p in table]
        for name, reason in REMOVED_PARAMETERS.items():  # untyped and unset: refused if given
            self.declare_parameter(
                name, None, ParameterDescriptor(description=reason, dynamic_typing=True)
            )
            if self.get_parameter(name).value is not None:
                raise ConfigError(reason)
        self.cfg = self._config()
        params = self.cfg.params
        self.model_path = resolve_model_path(params.model_path)
        # the first start on a machine compiles the solver's kernels (about a minute): the solver
        # announces it, once the model file has loaded (a bad one stays a one-line error)
        started = time.perf_counter()
        self.solver = IKSolver.load(
            None if self.model_path is None else str(self.model_path),
            device=params.device,
            announce=self.get_logger().info,
            max_attempts=params.max_attempts,
            **solver_targets(params),
        )
        self.get_logger().info(f"solver ready in {time.perf_counter() - started:.1f} s")
        self.batcher = GoalBatcher(
            self.solver.solve,
            self.robot.dof,
            params.max_batch,
            max_attempts=params.max_attempts,
            round_time=params.round_time,
        )
        self.add_on_set_parameters_callback(self._check_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)

        self._current: dict[str, float] | None = None
        self._virtual = (None, None)  # (config, its virtual-joint Transform message)
        self._lock = threading.Lock()
        self._stats = deque(maxlen=1000)  # (latency [s], success, margin [m], batch size)
        self._requests = 0
        self._solved = 0

        self._in_flight: list[_Call] = []  # taken here, not answered yet
        services = ReentrantCallbackGroup()
        self._ik_service = self.create_service(
            GetPositionIK,
            "compute_ik",
            self._on_ik,
            qos_profile=SERVICE_QOS,
            callback_group=services,
        )
        # Every answer, the executor's sends included, goes through _send_answer, which keeps it
        # for its copy (dtd_ik.ros.replies): the instance's method is replaced, as rclpy's
        # executor calls service.send_response(response, header) itself.
        self._copies = ReplyCopies(params.reply_copies)
        self._send_once = self._ik_service.send_response
        self._ik_service.send_response = self._send_answer
        if self._copies.delays:
            self.create_timer(
                self._copies.delays[0] / 2, self._send_copies, callback_group=services
            )
        # goals still queued when a callback returns get their rounds here
        self._more_rounds = self.create_guard_condition(
            self._on_more_rounds, callback_group=services
        )
        self.create_service(
            GetPositionFK,
            "compute_fk",
            self._on_fk,
            qos_profile=SERVICE_QOS,
            callback_group=services,
        )
        self.solution_pub = self.create_publisher(JointState, params.solution_topic, 10)
        self.margin_pub = self.create_publisher(Float64, params.margin_topic, 10)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        other = MutuallyExclusiveCallbackGroup()
        self.world = WorldKeeper()
        self.world_pub = self.create_publisher(
            String,
            params.world_topic,
            QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL),
        )  # latched: late joiners see it
        self._publish_world()
        if params.collision_object_topic:
            self.create_subscription(
                CollisionObject,
                params.collision_object_topic,
                self._on_collision_object,
                100,
                callback_group=other,
            )
        if params.joint_state_topic:
            self.create_subscription(
                JointState,
                params.joint_state_topic,
                self._on_joint_state,
                10,
                callback_group=other,
            )
        if params.diagnostics_period > 0:
            self.create_timer(
                params.diagnostics_period, self._publish_diagnostics, callback_group=other
            )
        model = str(self.model_path) if self.model_path else "none (refinement only)"
        self.get_logger().info(
            f"serving {self.resolve_service_name('compute_ik')} and "
            f"{self.resolve_service_name('compute_fk')} for group '{params.group_name}' "
            f"(tip {self.cfg.tip_link}); model: {model}"
        )

    # -- parameters ------------------------------------------------------------------------
    def _config(self, changes: list[Parameter] = ()) -> ServerConfig:
        """The config from the node's parameters with ``changes`` laid over them; ConfigError
        naming the parameter that is out of range or disagrees with the robot description."""
        values = {p.name: p.value for p in self.get_parameters(self._parameter_names)}
        values.update({p.name: p.value for p in changes})
        values = {
            name: v if isinstance(v, (str, bool, int, float)) else list(v)
            for name, v in values.items()
        }  # arrays come as array.array
        return ServerConfig.resolve(ServerParameters.from_values(values), self.robot)

    def _check_parameters(self, changes: list[Parameter]) -> SetParametersResult:
        """On-set: accept ``changes`` only if the node and the solver can take them."""
        removed = [REMOVED_PARAMETERS[p.name] for p in changes if p.name in REMOVED_PARAMETERS]
        if removed:
            return SetParametersResult(successful=False, reason=removed[0])
        try:
            params = self._config(changes).params
            # the solver refines to the same criteria the node accepts answers with
            self.solver.config.with_options(**solver_targets(params))
        except (DtdIkError, TypeError, ValueError) as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _apply_parameters(self, changes: list[Parameter]) -> None:
        """Post-set: the checked values take effect for the next requests."""
        cfg = self._config()
        params = cfg.params
        self.solver.set_targets(**solver_targets(params))
        self.batcher.max_batch = params.max_batch
        self.batcher.round_time = params.round_time
        self.cfg = cfg

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

    def _on_collision_object(self, msg: CollisionObject) -> None:
        """Apply one world update as move_group does; a refused one is logged and changes
        nothing."""
        cfg = self.cfg
        frames = fixed_frames(cfg.robot.base_frame, cfg.params.model_frame, cfg.world_to_base)
        try:
            self.world.apply(world_change(msg, frames))
        except WorldMessageError as exc:
            self.get_logger().error(f"collision object refused: {exc}")
            return
        self._publish_world()

    def _publish_world(self) -> None:
        self.world_pub.publish(
            String(data=describe_world(self.world.world, self.cfg.robot.base_frame))
        )

    def _on_ik(self, request: GetPositionIK.Request, response: GetPositionIK.Response):
        """Answer this request (returned). The requests waiting in the service queue, and those
        that arrive meanwhile, join the solver's rounds; their answers are sent as they finish,
        and what is left when this one is done goes on in :meth:`_on_more_rounds`."""
        own = self._admit(request, response, None, time.monotonic())
        self._take_waiting()
        if own.query is not None:
            self.batcher.solve_many([own.query], between_rounds=self._between_rounds)
            self._finish(own)
        self._between_rounds()
        self._more_rounds.trigger()  # whatever is left: queued goals, answers not sent yet
        return response

    def _on_more_rounds(self) -> None:
        """One more round for goals queued when their callback returned, then again later
        (the executor serves other callbacks in between)."""
        self.batcher.run_round()
        self._between_rounds()
        with self._lock:
            unsent = any(c.query.done for c in self._in_flight)
        if unsent or self.batcher.pending():
            self._more_rounds.trigger()

    def _admit(
        self,
        request: GetPositionIK.Request,
        response: GetPositionIK.Response,
        header: Any,
        arrival: float,
    ) -> _Call:
        """The call for ``request``: parsed into a query (timed from ``arrival``), or refused
        with its MoveIt code in ``response``."""
        cfg = self.cfg
        with self._lock:
            current = self._current
        try:
            query = parse_ik_request(request.ik_request, cfg, self.solver, current, self.world)
            query.arrival = arrival
        except RequestError as exc:
            response.error_code = make_error_code(exc.code, exc.message, self.get_name())
            self._record(time.monotonic() - arrival, False, float("nan"), 1)
            return _Call(response, header, None, arrival)
        return _Call(response, header, query, arrival)

    def _take_waiting(self) -> None:
        """Take the requests waiting in the service queue (up to max_batch): refusals are sent
        at once, the others queued for the solver's next round."""
        queued = []
        for _ in range(self.batcher.max_batch):
            taken = take_waiting_request(self._ik_service, GetPositionIK)
            if taken is None:
                break
            call = self._admit(
                taken[0], GetPositionIK.Response(), taken[1], arrival_time(taken[1])
            )
            if call.query is None:
                self._send_answer(call.response, call.header)
            else:
                queued.append(call)
        if queued:
            with self._lock:
                self._in_flight.extend(queued)
            self.batcher.submit([call.query for call in queued])

    def _between_rounds(self) -> None:
        """Send the answers that are done, oldest first, for at most half a ``round_time`` (the
        rest after the next round), then take the requests that arrived: under a flood the
        solver's next round, where the goals that can wait least go first, waits neither for
        every answer to go out nor for requests that came while answers went out."""
        stop = time.monotonic() + self.batcher.round_time / 2
        while time.monotonic() < stop:
            with self._lock:
                call = next((c for c in self._in_flight if c.query.done), None)
                if call is None:
                    break
                self._in_flight.remove(call)
            self._finish(call)
            self._send_answer(call.response, call.header)
        self._send_copies(COPIES_BETWEEN_ROUNDS)  # the timer sends the rest
        self._take_waiting()

    def _send_answer(self, response: GetPositionIK.Response, header: Any) -> None:
        self._send_once(response, header)
        self._copies.sent(response, header, time.monotonic())

    def _send_copies(self, most: int | None = None) -> None:
        for response, header in self._copies.due(time.monotonic(), most):
            self._send_once(response, header)

    def _finish(self, call: _Call) -> None:
        """Fill the response of a solved call: its verdict, and its solution when SUCCESS."""
        query, response, cfg = call.query, call.response, self.cfg
        error = query.error
        margin = float("nan")
        if isinstance(error, InvalidInputError):  # the solver refused the goal
            query.code, query.message = Codes.INVALID_GOAL_CONSTRAINTS, str(error)
        elif error is not None:
            self.get_logger().error(f"IK request failed: {type(error).__name__}: {error}")
            query.code = Codes.FAILURE
            query.message = f"internal error: {type(error).__name__}: {error}"
        else:
            judge_answer(query, cfg)
            margin = query.collision_margin
        response.error_code = make_error_code(query.code, query.message, self.get_name())
        if query.code == Codes.SUCCESS:
            self._publish_solution(query, cfg, response)
        self._record(
            time.monotonic() - call.arrival, query.code == Codes.SUCCESS, margin, query.batch_size
        )

    def _publish_solution(
        self, query: IKQuery, cfg: ServerConfig, response: GetPositionIK.Response
    ) -> None:
        names = cfg.all_joints
        moveit = cfg.robot.moveit
        values = [*query.q, *(query.state[n] for n in moveit.other_joints)]
        if self._virtual[0] is not cfg:  # the Transform message, rebuilt when the config changes
            self._virtual = (cfg, matrix_to_transform(cfg.world_to_base))
        make_robot_state(
            names,
            values,
            query.stamp,
            cfg.params.model_frame,
            moveit.virtual_joint,
            self._virtual[1],
            state=response.solution,
        )
        if self.solution_pub.get_subscription_count():  # build the message only when heard
            now = self.get_clock().now().to_msg()
            self.solution_pub.publish(make_joint_state(names, values, now))
        if self.margin_pub.get_subscription_count():
            self.margin_pub.publish(Float64(data=query.collision_margin))

    def _on_fk(self, request: GetPositionFK.Request, response: GetPositionFK.Response):
        with self._lock:
            current = self._current
        try:
            return answer_fk(
                request,
                self.cfg,
                self.solver,
                current,
                self.get_clock().now().to_msg(),
                self.get_name(),
            )
        except Exception as exc:  # noqa: BLE001
            self.get_logger().error(f"FK request failed: {type(exc).__name__}: {exc}")
            response.error_code = make_error_code(
                Codes.FAILURE, f"internal error: {type(exc).__name__}: {exc}", self.get_name()
            )
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
        status = DiagnosticStatus(
            name=f"{self.get_name()}: IK service", hardware_id=self.robot.name
        )  # the URDF robot: "panda"
        values = {
            "requests": str(requests),
            "solved": str(solved),
            "solver_calls": str(self.batcher.batches),
            "largest_batch": str(self.batcher.largest_batch),
            "answer_copies": str(self._copies.copies_sent),
            "model": str(self.model_path) if self.model_path else "none (refinement only)",
        }
        if stats:
            lat = np.array([s[0] for s in stats]) * 1e3
            ok = np.array([s[1] for s in stats])
            margins = np.array([s[2] for s in stats if s[1]])
            values.update(
                {
                    "success_rate_recent": f"{ok.mean():.4f}",
                    "latency_p50_ms": f"{np.percentile(lat, 50):.3f}",
                    "latency_p99_ms": f"{np.percentile(lat, 99):.3f}",
                    "min_margin_mm": f"{margins.min() * 1e3:.2f}" if margins.size else "n/a",
                    "mean_batch": f"{np.mean([s[3] for s in stats]):.2f}",
                }
            )
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

    def __enter__(self) -> _SigintWhileServing:
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
        ):  # e.g. started with &
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
            threads = node.cfg.params.executor_threads
            executor = SingleThreadedExecutor() if threads <= 1 else MultiThreadedExecutor(threads)
            executor.add_node(node)
            sigint.serving = True
            executor.spin()
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        except RCLError:
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
