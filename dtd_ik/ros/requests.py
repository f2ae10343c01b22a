"""MoveIt GetPositionIK / GetPositionFK request semantics, without a ROS graph.

Turns a ``moveit_msgs/PositionIKRequest`` into an :class:`IKQuery` (numpy goal for the solver,
seed, timeout, joint bounds) or a :class:`RequestError` carrying the MoveIt error code and a plain
sentence; judges a solver answer against the request (:func:`judge_answer`); and answers
GetPositionFK (:func:`answer_fk`). The behaviour mirrors move_group's kinematics service
(../shared/MOVEIT_IK_SEMANTICS.md); the table of codes is in docs/ik_server.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch
from builtin_interfaces.msg import Time
from moveit_msgs.msg import MoveItErrorCodes, PositionIKRequest
from moveit_msgs.srv import GetPositionFK

from dtd_ik.exceptions import InvalidInputError
from dtd_ik.kinematics.forward import Kinematics
from dtd_ik.robot.model import MoveItDescription
from dtd_ik.robot.spatial import invert_transform, matrix_to_quaternion, transform_matrix
from dtd_ik.ros.conversions import (
    duration_to_seconds,
    joint_state_positions,
    make_error_code,
    make_pose_stamped,
    pose_to_arrays,
)

Codes = MoveItErrorCodes


class RequestError(Exception):
    """A request the server refuses: ``code`` (MoveItErrorCodes value) and a plain ``message``."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = int(code)
        self.message = message


@dataclass(frozen=True)
class ServerConfig:
    """What the request semantics need from the node's parameters (units: m, rad, s)."""

    joint_names: tuple[str, ...]  # the group's joints, solver order
    moveit: MoveItDescription  # ready state, other joints, group aliases (robot description)
    base_frame: str = "panda_link0"
    group_name: str = "panda_arm"
    tip_link: str = "panda_link8"  # the group's tip (empty ik_link_name)
    ik_links: tuple[str, ...] = ("panda_link8", "panda_hand", "panda_hand_tcp")  # solver tips
    model_frame: str = "world"
    world_to_base: np.ndarray = field(default_factory=lambda: np.eye(4))  # T_world_base
    position_tolerance: float = 1e-4
    orientation_tolerance: float = 1e-3
    collision_margin: float = 0.005
    default_timeout: float = 0.05
    max_timeout: float = 5.0

    @cached_property
    def base_at_model_origin(self) -> bool:
        """Whether base_frame coincides with model_frame (world_to_base is the identity)."""
        return bool(np.array_equal(self.world_to_base, np.eye(4)))

    def is_base_frame(self, frame: str) -> bool:
        """Whether a pose in ``frame`` ("" = the model frame) is already in the base frame."""
        return frame == self.base_frame or (frame in ("", self.model_frame)
                                            and self.base_at_model_origin)

    @property
    def all_joints(self) -> tuple[str, ...]:
        """Every single-DOF joint of the robot in model order (the response's joint_state)."""
        return self.joint_names + self.moveit.other_joints


@dataclass
class IKQuery:
    """One parsed IK request: the goal of solver tip ``tip`` in the base frame."""

    position: np.ndarray  # (3,) [m]
    quaternion: np.ndarray  # (4,) x-y-z-w
    tip: str
    ik_link: str  # the link the request named (may differ from tip by a fixed offset)
    seed: np.ndarray | None  # (n,) [rad] or None: let the solver choose
    state: dict[str, float]  # every known joint value (request over current over defaults)
    timeout: float  # [s]
    avoid_collisions: bool
    lower: np.ndarray  # (n,) joint bounds the answer must satisfy (limits and constraints)
    upper: np.ndarray
    stamp: Time


def _resolve_group(cfg: ServerConfig, group: str) -> str:
    """The tip the group implies, or RequestError."""
    if group == cfg.group_name:
        return cfg.tip_link
    aliases = cfg.moveit.group_aliases
    if group in aliases:
        return aliases[group]
    if group in cfg.moveit.groups_without_ik:
        raise RequestError(Codes.NO_IK_SOLUTION,
                           f"group '{group}' has no IK solver here; use '{cfg.group_name}'")
    known = ", ".join([cfg.group_name, *aliases])
    shown = f"'{group}'" if group else "an empty group_name"
    raise RequestError(Codes.INVALID_GROUP_NAME,
                       f"unknown group {shown}; this server solves {known}")


def _merge_state(cfg: ServerConfig, request_js, current: dict[str, float] | None):
    """(state dict, whether the request or current state gave any group joint)."""
    state = dict(zip(cfg.joint_names, cfg.moveit.ready_state))
    state.update({name: 0.0 for name in cfg.moveit.other_joints})
    given = False
    for source in (current or {}, request_js):
        for name, value in source.items():
            state[name] = value
            given = given or name in cfg.joint_names
    return state, given


def _pick_pose(req: PositionIKRequest, default_link: str):
    """(PoseStamped, link name) per move_group's rules for the pose fields."""
    if len(req.pose_stamped_vector) == 0:
        return req.pose_stamped, req.ik_link_name or default_link
    if len(req.pose_stamped_vector) == 1:
        names = list(req.ik_link_names)
        if len(names) > 1:
            raise RequestError(Codes.INVALID_LINK_NAME,
                               f"one pose in pose_stamped_vector but {len(names)} ik_link_names")
        return req.pose_stamped_vector[0], (names[0] if names else "") or default_link
    if len(req.ik_link_names) != len(req.pose_stamped_vector):
        raise RequestError(Codes.INVALID_LINK_NAME,
                           f"{len(req.pose_stamped_vector)} poses but {len(req.ik_link_names)} "
                           "ik_link_names; they must have the same length")
    raise RequestError(Codes.INVALID_LINK_NAME,
                       f"{len(req.pose_stamped_vector)} poses for a group with one tip; send one "
                       "pose per request (concurrent requests are solved together in one batch)")


def _tip_for_link(cfg: ServerConfig, kin: Kinematics,
                  link: str) -> tuple[str, np.ndarray | None]:
    """(solver tip, T_link_tip): the link itself (and None) when the solver takes it, else the
    group tip when the link is rigidly attached to the last moving link."""
    if link in cfg.ik_links:
        return link, None
    model = kin.model
    if link in model.frame_names:
        index, offset_link = model.frame(link)
        if index == model.dof:
            _, offset_tip = model.frame(cfg.tip_link)
            return cfg.tip_link, invert_transform(offset_link) @ offset_tip
        raise RequestError(Codes.INVALID_LINK_NAME,
                           f"link '{link}' is not rigidly attached to the tip of the group; IK "
                           f"links: {', '.join(cfg.ik_links)} (or a link fixed to panda_link7)")
    raise RequestError(Codes.INVALID_LINK_NAME,
                       f"unknown link '{link}'; IK links: {', '.join(cfg.ik_links)}")


def frame_in_base(cfg: ServerConfig, kin: Kinematics, frame: str, state: dict[str, float]):
    """T_base_frame for the model frame, the base frame or any robot link (at ``state``)."""
    if frame in ("", cfg.model_frame):
        return invert_transform(cfg.world_to_base)
    if frame == cfg.base_frame:
        return np.eye(4)
    if frame in kin.model.frame_names:
        q = torch.tensor([[state[n] for n in cfg.joint_names]], dtype=torch.float64)
        return kin.frame_transforms(q, [frame])[0, 0].numpy()
    known = ", ".join(dict.fromkeys([cfg.model_frame, cfg.base_frame, *kin.model.frame_names]))
    raise RequestError(Codes.FRAME_TRANSFORM_FAILURE,
                       f"cannot transform from frame '{frame}' (no tf here); "
                       f"known frames: {known}")


def _joint_bounds(cfg: ServerConfig, kin: Kinematics, constraints):
    """(lower, upper) of the group joints: the limits narrowed by joint constraints."""
    lower, upper = kin.model.lower.copy(), kin.model.upper.copy()
    others = []
    if len(constraints.position_constraints):
        others.append("position")
    if len(constraints.orientation_constraints):
        others.append("orientation")
    if len(constraints.visibility_constraints):
        others.append("visibility")
    if others:
        raise RequestError(Codes.INVALID_GOAL_CONSTRAINTS,
                           f"{' and '.join(others)} constraints are not supported by this IK "
                           "server; only joint constraints are honoured")
    for jc in constraints.joint_constraints:
        name = jc.joint_name
        if name not in cfg.joint_names:
            raise RequestError(Codes.INVALID_GOAL_CONSTRAINTS,
                               f"joint constraint on '{name}', which is not a joint of group "
                               f"'{cfg.group_name}'")
        values = np.array([jc.position, jc.tolerance_above, jc.tolerance_below])
        if not np.all(np.isfinite(values)) or jc.tolerance_above < 0 or jc.tolerance_below < 0:
            raise RequestError(Codes.INVALID_GOAL_CONSTRAINTS,
                               f"joint constraint on '{name}' needs a finite position and "
                               "tolerances >= 0")
        i = cfg.joint_names.index(name)
        lower[i] = max(lower[i], jc.position - jc.tolerance_below)
        upper[i] = min(upper[i], jc.position + jc.tolerance_above)
        if lower[i] > upper[i]:
            raise RequestError(Codes.INVALID_GOAL_CONSTRAINTS,
                               f"joint constraint on '{name}' ({jc.position:.4f} "
                               f"-{jc.tolerance_below:.4f}/+{jc.tolerance_above:.4f} rad) lies "
                               "outside the joint's limits")
    return lower, upper


def parse_ik_request(req: PositionIKRequest, cfg: ServerConfig, kin: Kinematics,
                     current: dict[str, float] | None = None) -> IKQuery:
    """Check and convert one PositionIKRequest; raises :class:`RequestError` when refused."""
    group_tip = _resolve_group(cfg, req.group_name)
    try:
        request_js = joint_state_positions(req.robot_state.joint_state)
    except InvalidInputError as exc:
        raise RequestError(Codes.INVALID_ROBOT_STATE, str(exc)) from None
    if req.avoid_collisions and len(req.robot_state.attached_collision_objects):
        raise RequestError(Codes.COLLISION_CHECKING_UNAVAILABLE,
                           "attached collision objects are not collision-checked by this server; "
                           "send the request without them or with avoid_collisions false")
    state, seeded = _merge_state(cfg, request_js, current)
    pose_stamped, link = _pick_pose(req, group_tip)
    tip, link_to_tip = _tip_for_link(cfg, kin, link)
    try:
        position, quaternion = pose_to_arrays(pose_stamped.pose, "pose_stamped.pose")
    except InvalidInputError as exc:
        raise RequestError(Codes.INVALID_GOAL_CONSTRAINTS, str(exc)) from None
    frame = pose_stamped.header.frame_id
    if link_to_tip is not None or not cfg.is_base_frame(frame):  # else the pose is the goal
        goal = frame_in_base(cfg, kin, frame, state) @ transform_matrix(position, quaternion)
        if link_to_tip is not None:
            goal = goal @ link_to_tip
        position, quaternion = goal[:3, 3].copy(), matrix_to_quaternion(goal[:3, :3])
    lower, upper = _joint_bounds(cfg, kin, req.constraints)
    seed = np.array([state[n] for n in cfg.joint_names]) if seeded else None
    if seed is not None or len(req.constraints.joint_constraints):
        base = seed if seed is not None else (lower + upper) / 2
        seed = np.clip(base, lower, upper)
    timeout = duration_to_seconds(req.timeout)
    timeout = cfg.default_timeout if timeout <= 0 else min(timeout, cfg.max_timeout)
    return IKQuery(position=position, quaternion=quaternion, tip=tip, ik_link=link, seed=seed,
                   state=state, timeout=timeout, avoid_collisions=bool(req.avoid_collisions),
                   lower=lower, upper=upper, stamp=pose_stamped.header.stamp)


@dataclass(frozen=True)
class Verdict:
    """The server's judgement of one answer."""

    success: bool
    code: int
    message: str


def judge_answer(query: IKQuery, cfg: ServerConfig, q: np.ndarray, position_error: float,
                 orientation_error: float, margin: float) -> Verdict:
    """Accept an answer only if it meets the tolerances, the bounds and (when asked) the margin."""
    shown = (f"{position_error * 1e6:.3g} um" if position_error < 1e-3
             else f"{position_error * 1e3:.1f} mm")
    numbers = (f"position error {shown}, orientation error {orientation_error:.2e} rad, "
               f"collision margin {margin * 1e3:.2f} mm")
    problems = []
    if not np.all(np.isfinite(q)):
        problems.append("the answer is not finite")
    if not position_error <= cfg.position_tolerance:
        problems.append(f"position error above {cfg.position_tolerance * 1e3:g} mm")
    if not orientation_error <= cfg.orientation_tolerance:
        problems.append(f"orientation error above {cfg.orientation_tolerance:g} rad")
    eps = 1e-9
    outside = [cfg.joint_names[i] for i in range(len(q))
               if not query.lower[i] - eps <= q[i] <= query.upper[i] + eps]
    if outside:
        problems.append(f"{', '.join(outside)} outside the allowed bounds")
    if query.avoid_collisions and not margin >= cfg.collision_margin:
        problems.append(f"self-collision margin below {cfg.collision_margin * 1e3:g} mm")
    if problems:
        return Verdict(False, Codes.NO_IK_SOLUTION,
                       f"no IK solution for {query.ik_link} within {query.timeout:.3f} s: "
                       f"best answer has {'; '.join(problems)} ({numbers})")
    return Verdict(True, Codes.SUCCESS, f"solved {query.ik_link}: {numbers}")


def answer_fk(req: GetPositionFK.Request, cfg: ServerConfig, kin: Kinematics,
              current: dict[str, float] | None, stamp: Time,
              source: str) -> GetPositionFK.Response:
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
    q = np.array([state[n] for n in cfg.joint_names])  # FK is defined outside the limits too
    frame = req.header.frame_id or cfg.model_frame
    try:
        base_in_frame = invert_transform(frame_in_base(cfg, kin, frame, state))
    except RequestError as exc:
        res.error_code = make_error_code(exc.code, exc.message, source)
        return res
    known = [name for name in req.fk_link_names if name in kin.model.frame_names]
    unknown = [name for name in req.fk_link_names if name not in kin.model.frame_names]
    if known:
        qt = torch.tensor(q[None], dtype=torch.float64)
        T = kin.frame_transforms(qt, known)[0].numpy()
        res.pose_stamped = [make_pose_stamped(base_in_frame @ T[i], frame, stamp)
                            for i in range(len(known))]
    res.fk_link_names = known
    if unknown:
        res.error_code = make_error_code(
            Codes.INVALID_LINK_NAME, f"unknown links skipped: {', '.join(unknown)}", source)
    else:
        res.error_code = make_error_code(Codes.SUCCESS, f"{len(known)} link poses in {frame}",
                                         source)
    return res
