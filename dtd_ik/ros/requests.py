"""MoveIt GetPositionIK / GetPositionFK request semantics, without a ROS graph.

Turns a ``moveit_msgs/PositionIKRequest`` into an :class:`IKQuery` (numpy goal for the solver,
seed, timeout, joint bounds) or a :class:`RequestError` carrying the MoveIt error code and a plain
sentence; judges a solver answer against the request (:func:`judge_answer`); and answers
GetPositionFK (:func:`answer_fk`). The behaviour mirrors move_group's kinematics service
capability; the table of codes is in docs/ik_server.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import numpy as np
from builtin_interfaces.msg import Time
from moveit_msgs.msg import MoveItErrorCodes, PositionIKRequest
from moveit_msgs.srv import GetPositionFK

from dtd_ik.collision import CollisionWorld
from dtd_ik.exceptions import ConfigError, InvalidInputError
from dtd_ik.robot import RobotModel
from dtd_ik.robot.spatial import (
    invert_transform,
    matrix_to_quaternion,
    transform_matrix,
    xyz_quat_to_matrix,
)
from dtd_ik.ros.batching import Goal
from dtd_ik.ros.conversions import (
    duration_to_seconds,
    joint_state_positions,
    make_error_code,
    make_pose_stamped,
    pose_to_arrays,
)
from dtd_ik.ros.parameters import ServerParameters
from dtd_ik.ros.world import WorldKeeper, WorldMessageError, attached_object

Codes = MoveItErrorCodes


class ForwardKinematics(Protocol):
    """FK of any robot frame, as :meth:`dtd_ik.solver.IKSolver.forward` gives it (the node's
    solver: one robot load and one FK per process)."""

    def forward(self, q: np.ndarray, frame: str) -> tuple[np.ndarray, np.ndarray]:
        """(n,) joints [rad] -> position (3,) [m] and rotation (3, 3) of ``frame`` in the base
        frame."""


def _frame_transform(fk: ForwardKinematics, q: np.ndarray, frame: str) -> np.ndarray:
    """T_base_frame (4, 4) at joints ``q`` (n,) [rad]."""
    position, rotation = fk.forward(q, frame)
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = rotation, position
    return T


class RequestError(Exception):
    """A request the server refuses: ``code`` (MoveItErrorCodes value) and a plain ``message``."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = int(code)
        self.message = message


@dataclass(frozen=True)
class ServerConfig:
    """The node's parameters resolved against the robot description: what the request semantics
    read (units: m, rad, s). Build it with :meth:`resolve`."""

    params: ServerParameters
    robot: RobotModel
    tip_link: str  # the group's tip (empty ik_link_name)
    ik_links: tuple[str, ...]  # links the solver takes as tips
    world_to_base: np.ndarray  # (4, 4) T_model_base

    @classmethod
    def resolve(cls, params: ServerParameters, robot: RobotModel) -> ServerConfig:
        """Fill the empty robot parameters from ``robot``; ConfigError where one disagrees."""
        joint_names = params.joint_names or robot.joint_names
        if joint_names != robot.joint_names:
            raise ConfigError(
                f"parameter joint_names {list(joint_names)} differs from the robot "
                f"description's {list(robot.joint_names)}"
            )
        base = params.base_frame or robot.base_frame
        if base != robot.base_frame:
            raise ConfigError(
                f"parameter base_frame '{base}' differs from the robot "
                f"description's '{robot.base_frame}'"
            )
        ik_links = params.ik_links or robot.ik_frames
        for link in ik_links:
            if link not in robot.ik_frames:
                raise ConfigError(
                    f"parameter ik_links names '{link}'; the solver takes "
                    f"{', '.join(robot.ik_frames)}"
                )
        tip = params.tip_link or robot.tip_frame
        if tip not in ik_links:
            raise ConfigError(f"parameter tip_link '{tip}' is not one of ik_links")
        try:
            world_to_base = xyz_quat_to_matrix(params.world_to_base, "parameter world_to_base")
        except InvalidInputError as exc:
            raise ConfigError(str(exc)) from None
        return cls(params, robot, tip, ik_links, world_to_base)

    @cached_property
    def base_at_model_origin(self) -> bool:
        """Whether base_frame coincides with model_frame (world_to_base is the identity)."""
        return bool(np.array_equal(self.world_to_base, np.eye(4)))

    def is_base_frame(self, frame: str) -> bool:
        """Whether a pose in ``frame`` ("" = the model frame) is already in the base frame."""
        return frame == self.robot.base_frame or (
            frame in ("", self.params.model_frame) and self.base_at_model_origin
        )

    @property
    def all_joints(self) -> tuple[str, ...]:
        """Every single-DOF joint of the robot in model order (the response's joint_state)."""
        return self.robot.joint_names + self.robot.moveit.other_joints


@dataclass(kw_only=True)
class IKQuery(Goal):
    """One IK request from parse to response: the goal of solver tip ``tip`` in the base frame
    (the :class:`~dtd_ik.ros.batching.Goal` the batcher solves, which then holds the solver's
    answer), what the request said, and the verdict (:func:`judge_answer`)."""

    ik_link: str  # the link the request named (may differ from tip by a fixed offset)
    state: dict[str, float]  # every known joint value (request over current over defaults)
    avoid_collisions: bool
    stamp: Time
    code: int = Codes.FAILURE  # MoveItErrorCodes value of the verdict
    message: str = ""  # the verdict in words


def _resolve_group(cfg: ServerConfig, group: str) -> str:
    """The tip the group implies, or RequestError."""
    served = cfg.params.group_name
    if group == served:
        return cfg.tip_link
    aliases = cfg.robot.moveit.group_aliases
    if group in aliases:
        return aliases[group]
    if group in cfg.robot.moveit.groups_without_ik:
        raise RequestError(
            Codes.NO_IK_SOLUTION, f"group '{group}' has no IK solver here; use '{served}'"
        )
    known = ", ".join([served, *aliases])
    shown = f"'{group}'" if group else "an empty group_name"
    raise RequestError(
        Codes.INVALID_GROUP_NAME, f"unknown group {shown}; this server solves {known}"
    )


def _merge_state(cfg: ServerConfig, request_js, current: dict[str, float] | None):
    """(state dict, whether the request or current state gave any group joint)."""
    joint_names = cfg.robot.joint_names
    state = dict(zip(joint_names, cfg.robot.moveit.ready_state))
    state.update({name: 0.0 for name in cfg.robot.moveit.other_joints})
    given = False
    for source in (current or {}, request_js):
        for name, value in source.items():
            state[name] = value
            given = given or name in joint_names
    return state, given


def _pick_pose(req: PositionIKRequest, default_link: str):
    """(PoseStamped, link name) per move_group's rules for the pose fields."""
    if len(req.pose_stamped_vector) == 0:
        return req.pose_stamped, req.ik_link_name or default_link
    if len(req.pose_stamped_vector) == 1:
        names = list(req.ik_link_names)
        if len(names) > 1:
            raise RequestError(
                Codes.INVALID_LINK_NAME,
                f"one pose in pose_stamped_vector but {len(names)} ik_link_names",
            )
        return req.pose_stamped_vector[0], (names[0] if names else "") or default_link
    if len(req.ik_link_names) != len(req.pose_stamped_vector):
        raise RequestError(
            Codes.INVALID_LINK_NAME,
            f"{len(req.pose_stamped_vector)} poses but {len(req.ik_link_names)} "
            "ik_link_names; they must have the same length",
        )
    raise RequestError(
        Codes.INVALID_LINK_NAME,
        f"{len(req.pose_stamped_vector)} poses for a group with one tip; send one "
        "pose per request (concurrent requests are solved together in one batch)",
    )


def _tip_for_link(cfg: ServerConfig, link: str) -> tuple[str, np.ndarray | None]:
    """(solver tip, T_link_tip): the link itself (and None) when the solver takes it, else the
    group tip when the link is rigidly attached to the last moving link."""
    if link in cfg.ik_links:
        return link, None
    model = cfg.robot
    if link in model.frame_names:
        index, offset_link = model.frame(link)
        if index == model.dof:
            _, offset_tip = model.frame(cfg.tip_link)
            return cfg.tip_link, invert_transform(offset_link) @ offset_tip
        raise RequestError(
            Codes.INVALID_LINK_NAME,
            f"link '{link}' is not rigidly attached to the tip of the group; IK "
            f"links: {', '.join(cfg.ik_links)} (or a link fixed to panda_link7)",
        )
    raise RequestError(
        Codes.INVALID_LINK_NAME, f"unknown link '{link}'; IK links: {', '.join(cfg.ik_links)}"
    )


def frame_in_base(
    cfg: ServerConfig, fk: ForwardKinematics, frame: str, state: dict[str, float]
) -> np.ndarray:
    """T_base_frame for the model frame, the base frame or any robot link (at ``state``)."""
    model_frame, base_frame = cfg.params.model_frame, cfg.robot.base_frame
    if frame in ("", model_frame):
        return invert_transform(cfg.world_to_base)
    if frame == base_frame:
        return np.eye(4)
    if frame in cfg.robot.frame_names:
        return _frame_transform(fk, np.array([state[n] for n in cfg.robot.joint_names]), frame)
    known = ", ".join(dict.fromkeys([model_frame, base_frame, *cfg.robot.frame_names]))
    raise RequestError(
        Codes.FRAME_TRANSFORM_FAILURE,
        f"cannot transform from frame '{frame}' (no tf here); known frames: {known}",
    )


def _joint_bounds(cfg: ServerConfig, constraints) -> tuple[np.ndarray, np.ndarray] | None:
    """(lower, upper) (n,) [rad] of the group joints: the limits narrowed by the joint
    constraints (position - tolerance_below, position + tolerance_above; weight unused, as
    in move_group's IK), or None when there are none."""
    lower, upper = cfg.robot.lower.copy(), cfg.robot.upper.copy()
    others = []
    if len(constraints.position_constraints):
        others.append("position")
    if len(constraints.orientation_constraints):
        others.append("orientation")
    if len(constraints.visibility_constraints):
        others.append("visibility")
    if others:
        raise RequestError(
            Codes.INVALID_GOAL_CONSTRAINTS,
            f"{' and '.join(others)} constraints are not supported by this IK "
            "server; only joint constraints are honoured",
        )
    for jc in constraints.joint_constraints:
        name = jc.joint_name
        if name not in cfg.robot.joint_names:
            raise RequestError(
                Codes.INVALID_GOAL_CONSTRAINTS,
                f"joint constraint on '{name}', which is not a joint of group "
                f"'{cfg.params.group_name}'",
            )
        values = np.array([jc.position, jc.tolerance_above, jc.tolerance_below])
        if not np.all(np.isfinite(values)) or jc.tolerance_above < 0 or jc.tolerance_below < 0:
            raise RequestError(
                Codes.INVALID_GOAL_CONSTRAINTS,
                f"joint constraint on '{name}' needs a finite position and tolerances >= 0",
            )
        i = cfg.robot.joint_names.index(name)
        lower[i] = max(lower[i], jc.position - jc.tolerance_below)
        upper[i] = min(upper[i], jc.position + jc.tolerance_above)
        if lower[i] > upper[i]:
            raise RequestError(
                Codes.INVALID_GOAL_CONSTRAINTS,
                f"joint constraint on '{name}' ({jc.position:.4f} "
                f"-{jc.tolerance_below:.4f}/+{jc.tolerance_above:.4f} rad) lies "
                "outside the joint's limits",
            )
    return (lower, upper) if len(constraints.joint_constraints) else None


def _request_world(
    req: PositionIKRequest,
    cfg: ServerConfig,
    fk: ForwardKinematics,
    state: dict[str, float],
    scene: WorldKeeper | None,
) -> CollisionWorld | None:
    """The world this request is solved against: None (self-collision only) without
    avoid_collisions or objects; attached objects are placed at the request's state."""
    attached = req.robot_state.attached_collision_objects
    if not req.avoid_collisions:
        return None
    if scene is None:
        if len(attached):
            raise RequestError(
                Codes.COLLISION_CHECKING_UNAVAILABLE,
                "attached collision objects need the node's collision world",
            )
        return None

    def frame(name: str) -> np.ndarray:
        try:
            return frame_in_base(cfg, fk, name, state)
        except RequestError as exc:
            raise KeyError(exc.message) from None

    try:
        specs = [attached_object(a, scene.world.robot.links, frame) for a in attached]
        return scene.for_request(specs)
    except WorldMessageError as exc:
        raise RequestError(Codes.INVALID_ROBOT_STATE, str(exc)) from None


def parse_ik_request(
    req: PositionIKRequest,
    cfg: ServerConfig,
    fk: ForwardKinematics,
    current: dict[str, float] | None = None,
    scene: WorldKeeper | None = None,
) -> IKQuery:
    """Check and convert one PositionIKRequest; raises :class:`RequestError` when refused.
    ``scene``: the node's world (None: self-collision only, and attached objects refused)."""
    group_tip = _resolve_group(cfg, req.group_name)
    try:
        request_js = joint_state_positions(req.robot_state.joint_state)
    except InvalidInputError as exc:
        raise RequestError(Codes.INVALID_ROBOT_STATE, str(exc)) from None
    state, seeded = _merge_state(cfg, request_js, current)
    pose_stamped, link = _pick_pose(req, group_tip)
    tip, link_to_tip = _tip_for_link(cfg, link)
    try:
        position, quaternion = pose_to_arrays(pose_stamped.pose, "pose_stamped.pose")
    except InvalidInputError as exc:
        raise RequestError(Codes.INVALID_GOAL_CONSTRAINTS, str(exc)) from None
    frame = pose_stamped.header.frame_id
    if link_to_tip is not None or not cfg.is_base_frame(frame):  # else the pose is the goal
        goal = frame_in_base(cfg, fk, frame, state) @ transform_matrix(position, quaternion)
        if link_to_tip is not None:
            goal = goal @ link_to_tip
        position, quaternion = goal[:3, 3].copy(), matrix_to_quaternion(goal[:3, :3])
    bounds = _joint_bounds(cfg, req.constraints)
    world = _request_world(req, cfg, fk, state, scene)
    seed = np.array([state[n] for n in cfg.robot.joint_names]) if seeded else None
    timeout = duration_to_seconds(req.timeout)
    params = cfg.params
    timeout = params.default_timeout if timeout <= 0 else min(timeout, params.max_timeout)
    lower, upper = bounds if bounds is not None else (None, None)
    if seed is not None and bounds is not None:  # the caller's state, moved into the window
        seed = np.clip(seed, lower, upper)
    return IKQuery(
        position=position,
        quaternion=quaternion,
        tip=tip,
        ik_link=link,
        seed=seed,
        state=state,
        timeout=timeout,
        avoid_collisions=bool(req.avoid_collisions),
        lower=lower,
        upper=upper,
        world=world,
        stamp=pose_stamped.header.stamp,
    )


def judge_answer(query: IKQuery, cfg: ServerConfig) -> None:
    """Set the query's verdict (``code``, ``message``) on its solved answer: SUCCESS only if it
    meets the tolerances, the joint bounds and, with avoid_collisions, move_group's rule (the
    smallest distance over self and world pairs above ``collision_padding``) and
    ``required_clearance``."""
    q, params = query.q, cfg.params
    position_error, orientation_error = query.position_error, query.orientation_error
    margin = query.collision_margin
    shown = (
        f"{position_error * 1e6:.3g} um"
        if position_error < 1e-3
        else f"{position_error * 1e3:.1f} mm"
    )
    pair = "/".join(name for name in query.closest_pair if name)
    numbers = (
        f"position error {shown}, orientation error {orientation_error:.2e} rad, "
        f"collision margin {margin * 1e3:.2f} mm" + (f" ({pair})" if pair else "")
    )
    problems = []
    if not np.all(np.isfinite(q)):
        problems.append("the answer is not finite")
    if not position_error <= params.position_tolerance:
        problems.append(f"position error above {params.position_tolerance * 1e3:g} mm")
    if not orientation_error <= params.orientation_tolerance:
        problems.append(f"orientation error above {params.orientation_tolerance:g} rad")
    eps = 1e-9
    lower = cfg.robot.lower if query.lower is None else query.lower
    upper = cfg.robot.upper if query.upper is None else query.upper
    outside = [
        cfg.robot.joint_names[i]
        for i in range(len(q))
        if not lower[i] - eps <= q[i] <= upper[i] + eps
    ]
    if outside:
        problems.append(f"{', '.join(outside)} outside the allowed bounds")
    if query.avoid_collisions and not margin > params.collision_padding:
        problems.append(
            f"in collision (distance not above the padding {params.collision_padding * 1e3:g} mm)"
        )
    if query.avoid_collisions and not margin >= params.required_clearance:
        problems.append(f"clearance below the required {params.required_clearance * 1e3:g} mm")
    if problems:
        query.code = Codes.NO_IK_SOLUTION
        query.message = (
            f"no IK solution for {query.ik_link} within {query.timeout:.3f} s: "
            f"best answer has {'; '.join(problems)} ({numbers})"
        )
    else:
        query.code, query.message = Codes.SUCCESS, f"solved {query.ik_link}: {numbers}"


def answer_fk(
    req: GetPositionFK.Request,
    cfg: ServerConfig,
    fk: ForwardKinematics,
    current: dict[str, float] | None,
    stamp: Time,
    source: str,
) -> GetPositionFK.Response:
    """GetPositionFK as move_group answers it (poses in the model frame or header.frame_id)."""
    res = GetPositionFK.Response()
    if len(req.fk_link_names) == 0:
        res.error_code = make_error_code(Codes.INVALID_LINK_NAME, "fk_link_names is empty", source)
        return res
    try:
        state, _ = _merge_state(cfg, joint_state_positions(req.robot_state.joint_state), current)
    except InvalidInputError as exc:
        res.error_code = make_error_code(Codes.INVALID_ROBOT_STATE, str(exc), source)
        return res
    q = np.array([state[n] for n in cfg.robot.joint_names])  # FK holds outside the limits too
    frame = req.header.frame_id or cfg.params.model_frame
    try:
        base_in_frame = invert_transform(frame_in_base(cfg, fk, frame, state))
    except RequestError as exc:
        res.error_code = make_error_code(exc.code, exc.message, source)
        return res
    known = [name for name in req.fk_link_names if name in cfg.robot.frame_names]
    unknown = [name for name in req.fk_link_names if name not in cfg.robot.frame_names]
    res.pose_stamped = [
        make_pose_stamped(base_in_frame @ _frame_transform(fk, q, name), frame, stamp)
        for name in known
    ]
    res.fk_link_names = known
    if unknown:
        res.error_code = make_error_code(
            Codes.INVALID_LINK_NAME, f"unknown links skipped: {', '.join(unknown)}", source
        )
    else:
        res.error_code = make_error_code(
            Codes.SUCCESS, f"{len(known)} link poses in {frame}", source
        )
    return res
