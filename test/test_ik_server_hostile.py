"""Malformed and hostile GetPositionIK / GetPositionFK requests against ONE live ik_server.

The node is a subprocess of its own for this module (ik_server_fixtures' ``server`` and
``client``) and every request travels over real Fast DDS. Each row of ROWS is one bad (or awkward)
request and the exact MoveItErrorCodes value the node must answer, read from
dtd_ik/ros/requests.py, docs/ik_server.md and move_group's kinematics service. After every row a
valid reachable goal must still be solved: the node's answer, put through both the local
kinematics and the node's own compute_fk, must reach the goal within 1e-4 m.

A row whose answer today differs from those semantics carries ``wrong=...``: the row then asserts
that the node still gives today's answer (so the row fails, and must be updated, once the node is
fixed) and the module summary lists it. The node is not changed here.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Pose, PoseStamped, Transform
from moveit_msgs.msg import (
    AttachedCollisionObject,
    JointConstraint,
    OrientationConstraint,
    PositionConstraint,
    VisibilityConstraint,
)
from moveit_msgs.msg import (
    MoveItErrorCodes as Codes,
)
from moveit_msgs.srv import GetPositionFK, GetPositionIK
from sensor_msgs.msg import JointState
from shape_msgs.msg import SolidPrimitive

import ik_server_fixtures as fx
from dtd_ik.robot import load_robot_model
from dtd_ik.ros.client import make_request, reachable_goals
from dtd_ik.ros.conversions import error_name, pose_to_matrix

pytestmark = pytest.mark.ros

READY = load_robot_model().moveit.ready_state  # fills joints that no request gives
SHORT = Duration(sec=0, nanosec=100_000_000)  # 0.1 s for requests that cannot be solved
BIG_VECTOR = 3000  # poses in the pose_stamped_vector rows


@dataclass(frozen=True)
class Goal:
    q: np.ndarray  # a configuration that reaches it
    position: np.ndarray
    quaternion: np.ndarray  # x-y-z-w, panda_hand in panda_link0


@dataclass(frozen=True)
class Row:
    name: str
    kind: str
    service: str  # "ik" or "fk"
    build: Callable  # (goal, kin) -> request
    code: int  # the MoveItErrorCodes value expected
    check: Callable | None = None  # (response, goal, kin) -> None, extra assertions
    wrong: str | None = None  # the node's answer differs from the semantics: why


# ---------------------------------------------------------------------------------------------
# request builders


def ik(g: Goal, quaternion=None, position=None, **kw) -> GetPositionIK.Request:
    """A GetPositionIK request for panda_hand in panda_link0 (avoid_collisions true)."""
    return make_request(
        g.position if position is None else position,
        g.quaternion if quaternion is None else quaternion,
        **kw,
    )


def with_js(names, positions, **extra):
    def build(g, kin):
        req = ik(g)
        req.ik_request.robot_state.joint_state = JointState(
            name=list(names), position=list(positions), **extra
        )
        return req

    return build


def with_constraints(*joint, position=(), orientation=(), visibility=(), timeout=SHORT):
    def build(g, kin):
        req = ik(g)
        c = req.ik_request.constraints
        c.joint_constraints = [JointConstraint(**kw) for kw in joint]
        c.position_constraints = list(position)
        c.orientation_constraints = list(orientation)
        c.visibility_constraints = list(visibility)
        req.ik_request.timeout = timeout
        return req

    return build


def with_timeout(sec, nanosec=0, position=None):
    def build(g, kin):
        req = ik(g, position=position)
        req.ik_request.timeout = Duration(sec=sec, nanosec=nanosec)
        return req

    return build


def pose_vector(count, links):
    def build(g, kin):
        req = ik(g)
        req.ik_request.pose_stamped_vector = [req.ik_request.pose_stamped] * count
        req.ik_request.ik_link_names = list(links(count))
        return req

    return build


def one_bad_pose_in_vector(g, kin):
    req = ik(g)  # pose_stamped itself is fine: the vector's one pose is the goal (move_group)
    bad = PoseStamped()
    bad.header.frame_id = "panda_link0"
    bad.pose.position.x = math.nan
    bad.pose.orientation.w = 1.0
    req.ik_request.pose_stamped_vector = [bad]
    return req


def attached(avoid, link="panda_hand", nan_pose=False, ball=0.0):
    """An attached object "box" on ``link``: no geometry, or a sphere of radius ``ball`` [m]
    0.15 m along the link's z (for the hand: beyond the fingertips, as a held tool)."""

    def build(g, kin):
        req = ik(g, avoid_collisions=avoid)
        obj = AttachedCollisionObject(link_name=link)
        obj.object.id = "box"
        obj.object.header.frame_id = link
        if nan_pose:
            obj.object.pose.position.x = math.nan
        if ball:
            obj.object.pose.orientation.w = 1.0
            obj.object.primitives = [SolidPrimitive(type=SolidPrimitive.SPHERE, dimensions=[ball])]
            ahead = Pose()
            ahead.position.z, ahead.orientation.w = 0.15, 1.0
            obj.object.primitive_poses = [ahead]
        req.ik_request.robot_state.attached_collision_objects = [obj]
        return req

    return build


def multi_dof(names, transforms):
    def build(g, kin):
        req = ik(g)
        md = req.ik_request.robot_state.multi_dof_joint_state
        md.joint_names = list(names)
        md.transforms = list(transforms)
        return req

    return build


def transform(x=0.0, y=0.0, z=0.0, w=1.0):
    t = Transform()
    t.translation.x, t.translation.y, t.translation.z = x, y, z
    t.rotation.w = w
    return t


def all_joints_held_at_ready(g, kin):
    """Every arm joint constrained to READY +- 1 mrad: any answer within them is within a few mm
    of FK(READY), and the goal is far from it, so no solution exists."""
    assert np.linalg.norm(fx.fk_matrix(kin, np.array(READY))[:3, 3] - g.position) > 0.05
    return with_constraints(
        *[
            dict(joint_name=n, position=v, tolerance_above=1e-3, tolerance_below=1e-3, weight=1.0)
            for n, v in zip(fx.ARM, READY)
        ]
    )(g, kin)


def fk(links, names=fx.ARM, positions=None, frame=""):
    def build(g, kin):
        req = GetPositionFK.Request()
        req.header.frame_id = frame
        req.fk_link_names = list(links)
        req.robot_state.joint_state = JointState(
            name=list(names), position=list(g.q if positions is None else positions)
        )
        return req

    return build


# ---------------------------------------------------------------------------------------------
# response checks (beyond the code, the message and the empty solution on failure)


def solves(link="panda_hand"):
    """SUCCESS with a full state whose FK reaches the row's goal (normalised quaternion)."""

    def check(res, g, kin):
        js = res.solution.joint_state
        assert list(js.name) == fx.ALL_JOINTS
        q = np.array(js.position[:7])
        assert np.all(q >= kin.model.lower - 1e-9) and np.all(q <= kin.model.upper + 1e-9)
        dp, dr = fx.goal_error(kin, q, g.position, g.quaternion, link)
        assert dp <= 1e-4 and dr <= 1e-3, (dp, dr)

    return check


def mentions(*words):
    def check(res, g, kin):
        for w in words:
            assert w in res.error_code.message, (w, res.error_code.message)

    return check


def fk_poses(links, frame="world", q=None):
    """FK SUCCESS/partial answer: exactly ``links`` answered, each pose finite and equal to the
    local kinematics in ``frame``."""

    def check(res, g, kin):
        assert list(res.fk_link_names) == list(links)
        assert len(res.pose_stamped) == len(links)
        qq = g.q if q is None else np.asarray(q)
        base_in_frame = (
            np.eye(4)
            if frame in ("world", "panda_link0")
            else np.linalg.inv(fx.fk_matrix(kin, qq, frame))
        )
        for link, ps in zip(links, res.pose_stamped):
            assert ps.header.frame_id == frame
            T = pose_to_matrix(ps.pose)
            assert np.all(np.isfinite(T))
            assert np.allclose(T, base_in_frame @ fx.fk_matrix(kin, qq, link), atol=1e-9)

    return check


# ---------------------------------------------------------------------------------------------
# the table

SCALED = lambda s: lambda g, kin: ik(g, quaternion=np.asarray(g.quaternion) * s)  # noqa: E731
NAN, INF = math.nan, math.inf

ROWS = [
    # --- poses: non-finite values and degenerate / unnormalised quaternions
    Row(
        "nan position x",
        "non-finite pose",
        "ik",
        lambda g, kin: ik(g, position=[NAN, g.position[1], g.position[2]]),
        Codes.INVALID_GOAL_CONSTRAINTS,
        mentions("NaN or inf"),
    ),
    Row(
        "+inf position z",
        "non-finite pose",
        "ik",
        lambda g, kin: ik(g, position=[g.position[0], g.position[1], INF]),
        Codes.INVALID_GOAL_CONSTRAINTS,
        mentions("NaN or inf"),
    ),
    Row(
        "-inf position y",
        "non-finite pose",
        "ik",
        lambda g, kin: ik(g, position=[g.position[0], -INF, g.position[2]]),
        Codes.INVALID_GOAL_CONSTRAINTS,
    ),
    Row(
        "nan quaternion",
        "non-finite pose",
        "ik",
        lambda g, kin: ik(g, quaternion=[NAN, 0, 0, 1]),
        Codes.INVALID_GOAL_CONSTRAINTS,
    ),
    Row(
        "inf quaternion w",
        "non-finite pose",
        "ik",
        lambda g, kin: ik(g, quaternion=[0, 0, 0, INF]),
        Codes.INVALID_GOAL_CONSTRAINTS,
    ),
    Row(
        "zero quaternion",
        "degenerate quaternion",
        "ik",
        lambda g, kin: ik(g, quaternion=[0, 0, 0, 0]),
        Codes.INVALID_GOAL_CONSTRAINTS,
        mentions("zero orientation quaternion"),
    ),
    Row(
        "quaternion of norm 2e-9",
        "degenerate quaternion",
        "ik",
        SCALED(1e-9),
        Codes.INVALID_GOAL_CONSTRAINTS,
    ),
    Row(
        "quaternion x 3.7 (normalised)",
        "unnormalised quaternion",
        "ik",
        SCALED(3.7),
        Codes.SUCCESS,
        solves(),
    ),
    Row(
        "quaternion x 1.001 (normalised)",
        "unnormalised quaternion",
        "ik",
        SCALED(1.001),
        Codes.SUCCESS,
        solves(),
    ),
    Row(
        "quaternion x 1e-3 (normalised)",
        "unnormalised quaternion",
        "ik",
        SCALED(1e-3),
        Codes.SUCCESS,
        solves(),
    ),
    Row(
        "quaternion x 1e150 (normalised)",
        "huge quaternion",
        "ik",
        SCALED(1e150),
        Codes.SUCCESS,
        solves(),
    ),
    # the norm is taken after scaling by the largest component: squaring 1e200 would overflow
    Row(
        "quaternion x 1e200 (normalised)",
        "huge quaternion",
        "ik",
        SCALED(1e200),
        Codes.SUCCESS,
        solves(),
    ),
    Row(
        "unreachable position 5 m",
        "unreachable",
        "ik",
        with_timeout(0, 100_000_000, position=[5.0, 0.0, 0.4]),
        Codes.NO_IK_SOLUTION,
        mentions("no IK solution"),
    ),
    # --- group, link and frame names
    Row(
        "empty group",
        "group name",
        "ik",
        lambda g, kin: ik(g, group=""),
        Codes.INVALID_GROUP_NAME,
        mentions("empty group_name"),
    ),
    Row(
        "unknown group",
        "group name",
        "ik",
        lambda g, kin: ik(g, group="arm"),
        Codes.INVALID_GROUP_NAME,
        mentions("'arm'"),
    ),
    Row(
        "10k-character unicode group",
        "group name",
        "ik",
        lambda g, kin: ik(g, group="панда_arm_" * 1000),
        Codes.INVALID_GROUP_NAME,
    ),
    Row(
        "group without IK (hand)",
        "group name",
        "ik",
        lambda g, kin: ik(g, group="hand"),
        Codes.NO_IK_SOLUTION,
        mentions("hand"),
    ),
    Row(
        "unknown ik link",
        "link name",
        "ik",
        lambda g, kin: ik(g, link="nose"),
        Codes.INVALID_LINK_NAME,
        mentions("'nose'"),
    ),
    Row(
        "non-rigid ik link panda_link3",
        "link name",
        "ik",
        lambda g, kin: ik(g, link="panda_link3"),
        Codes.INVALID_LINK_NAME,
    ),
    Row(
        "unknown frame",
        "frame name",
        "ik",
        lambda g, kin: ik(g, frame="map"),
        Codes.FRAME_TRANSFORM_FAILURE,
        mentions("'map'"),
    ),
    Row(
        "frame with a leading slash",
        "frame name",
        "ik",
        lambda g, kin: ik(g, frame="/panda_link0"),
        Codes.FRAME_TRANSFORM_FAILURE,
    ),
    # --- robot_state.joint_state
    Row(
        "state: 7 names, 6 positions",
        "joint state",
        "ik",
        with_js(fx.ARM, [0.0] * 6),
        Codes.INVALID_ROBOT_STATE,
        mentions("7 names but 6 positions"),
    ),
    Row(
        "state: no names, 7 positions",
        "joint state",
        "ik",
        with_js([], [0.0] * 7),
        Codes.INVALID_ROBOT_STATE,
    ),
    Row(
        "state: duplicate name",
        "joint state",
        "ik",
        with_js(fx.ARM + ["panda_joint3"], list(READY) + [0.1]),
        Codes.INVALID_ROBOT_STATE,
        mentions("twice"),
    ),
    Row(
        "state: NaN position",
        "joint state",
        "ik",
        with_js(fx.ARM, [0.0, NAN, 0.0, -2.0, 0.0, 1.5, 0.7]),
        Codes.INVALID_ROBOT_STATE,
        mentions("panda_joint2"),
    ),
    Row(
        "state: -inf position",
        "joint state",
        "ik",
        with_js(fx.ARM, [0.0, 0.0, 0.0, -INF, 0.0, 1.5, 0.7]),
        Codes.INVALID_ROBOT_STATE,
    ),
    Row(
        "state: unknown names only (ignored)",
        "joint state",
        "ik",
        with_js(["elbow", "wrist", "nose"], [1.0, 2.0, 3.0]),
        Codes.SUCCESS,
        solves(),
    ),
    Row(
        "state: 5000 unknown names",
        "joint state",
        "ik",
        with_js([f"j{i}" for i in range(5000)], [0.5] * 5000),
        Codes.SUCCESS,
        solves(),
    ),
    Row(
        "state: two arm joints only (rest ready)",
        "joint state",
        "ik",
        with_js(["panda_joint4", "panda_joint1"], [-1.9, 0.2]),
        Codes.SUCCESS,
        solves(),
    ),
    Row(
        "state: values 1e300 rad (seed clipped)",
        "joint state",
        "ik",
        with_js(fx.ARM, [1e300, -1e300] * 3 + [1e300]),
        Codes.SUCCESS,
        solves(),
    ),
    Row(
        "state: velocity/effort of other lengths",
        "joint state",
        "ik",
        with_js(fx.ARM, READY, velocity=[1.0, 2.0], effort=[NAN]),
        Codes.SUCCESS,
        solves(),
    ),
    # --- timeouts
    Row("timeout -5 s (default)", "timeout", "ik", with_timeout(-5), Codes.SUCCESS, solves()),
    Row(
        "timeout -1 ns (default)",
        "timeout",
        "ik",
        with_timeout(-1, 999_999_999),
        Codes.SUCCESS,
        solves(),
    ),
    Row(
        "timeout 2^31-1 s (capped)",
        "timeout",
        "ik",
        with_timeout(2**31 - 1),
        Codes.SUCCESS,
        solves(),
    ),
    Row(
        "timeout nanosec 2^32-1 (capped)",
        "timeout",
        "ik",
        with_timeout(0, 2**32 - 1),
        Codes.SUCCESS,
        solves(),
    ),
    Row(
        "unreachable with timeout 2^31-1 s",
        "timeout",
        "ik",
        with_timeout(2**31 - 1, position=[5.0, 0.0, 0.4]),
        Codes.NO_IK_SOLUTION,
        mentions("within 4.000 s"),
    ),  # the fixture's max_timeout
    # --- pose_stamped_vector
    Row(
        f"{BIG_VECTOR} poses, {BIG_VECTOR} link names",
        "pose vector",
        "ik",
        pose_vector(BIG_VECTOR, lambda n: ["panda_hand"] * n),
        Codes.INVALID_LINK_NAME,
        mentions("one pose per request"),
    ),
    Row(
        f"{BIG_VECTOR} poses, no link names",
        "pose vector",
        "ik",
        pose_vector(BIG_VECTOR, lambda n: []),
        Codes.INVALID_LINK_NAME,
        mentions("same length"),
    ),
    Row(
        "1 pose, 2 link names",
        "pose vector",
        "ik",
        pose_vector(1, lambda n: ["panda_hand", "panda_hand"]),
        Codes.INVALID_LINK_NAME,
    ),
    Row(
        "1 pose in vector (used), link name given",
        "pose vector",
        "ik",
        pose_vector(1, lambda n: ["panda_hand"]),
        Codes.SUCCESS,
        solves(),
    ),
    Row(
        "vector's one pose is NaN",
        "pose vector",
        "ik",
        one_bad_pose_in_vector,
        Codes.INVALID_GOAL_CONSTRAINTS,
    ),
    # --- constraints
    Row(
        "joint constraint on unknown joint",
        "constraints",
        "ik",
        with_constraints(
            dict(joint_name="nope", position=0.0, tolerance_above=0.1, tolerance_below=0.1)
        ),
        Codes.INVALID_GOAL_CONSTRAINTS,
        mentions("'nope'"),
    ),
    Row(
        "joint constraint on a finger joint",
        "constraints",
        "ik",
        with_constraints(
            dict(
                joint_name="panda_finger_joint1",
                position=0.01,
                tolerance_above=0.01,
                tolerance_below=0.01,
            )
        ),
        Codes.INVALID_GOAL_CONSTRAINTS,
    ),
    Row(
        "joint constraint negative tolerance",
        "constraints",
        "ik",
        with_constraints(
            dict(
                joint_name="panda_joint1", position=0.0, tolerance_above=-0.1, tolerance_below=0.1
            )
        ),
        Codes.INVALID_GOAL_CONSTRAINTS,
    ),
    Row(
        "joint constraint NaN position",
        "constraints",
        "ik",
        with_constraints(
            dict(joint_name="panda_joint2", position=NAN, tolerance_above=0.1, tolerance_below=0.1)
        ),
        Codes.INVALID_GOAL_CONSTRAINTS,
    ),
    Row(
        "joint constraint outside limits",
        "constraints",
        "ik",
        with_constraints(
            dict(
                joint_name="panda_joint1", position=10.0, tolerance_above=0.1, tolerance_below=0.1
            )
        ),
        Codes.INVALID_GOAL_CONSTRAINTS,
        mentions("outside the joint's limits"),
    ),
    Row(
        "joint constraints exclude every solution",
        "constraints",
        "ik",
        all_joints_held_at_ready,
        Codes.NO_IK_SOLUTION,
        mentions("no IK solution"),
    ),
    Row(
        "position + orientation constraints",
        "constraints",
        "ik",
        with_constraints(position=[PositionConstraint()], orientation=[OrientationConstraint()]),
        Codes.INVALID_GOAL_CONSTRAINTS,
        mentions("position and orientation"),
    ),
    Row(
        "visibility constraint",
        "constraints",
        "ik",
        with_constraints(visibility=[VisibilityConstraint()]),
        Codes.INVALID_GOAL_CONSTRAINTS,
    ),
    # --- multi-DOF states (the Panda's virtual joint is fixed: move_group ignores them too)
    Row(
        "multi-DOF virtual_joint moved 1 m",
        "multi-DOF state",
        "ik",
        multi_dof(["virtual_joint"], [transform(1.0, 2.0, 3.0)]),
        Codes.SUCCESS,
        solves(),
    ),
    Row(
        "multi-DOF unknown joint, NaN, lengths differ",
        "multi-DOF state",
        "ik",
        multi_dof(["base_mover", "virtual_joint"], [transform(NAN, 0.0, 0.0, 0.0)]),
        Codes.SUCCESS,
        solves(),
    ),
    # --- attached collision objects
    Row(
        "attached object without geometry, avoid_collisions",
        "attached object",
        "ik",
        attached(True),
        Codes.INVALID_ROBOT_STATE,
        mentions("no primitives or meshes"),
    ),
    Row(
        "attached sphere in the hand, avoid_collisions",
        "attached object",
        "ik",
        attached(True, ball=0.02),
        Codes.SUCCESS,
        solves(),
    ),
    Row(
        "attached object, no avoid_collisions",
        "attached object",
        "ik",
        attached(False),
        Codes.SUCCESS,
        solves(),
    ),
    Row(
        "attached NaN object on unknown link, avoid",
        "attached object",
        "ik",
        attached(True, link="nose", nan_pose=True),
        Codes.INVALID_ROBOT_STATE,
        mentions("unknown link 'nose'"),
    ),
    # --- GetPositionFK
    Row(
        "FK: no link names",
        "FK",
        "fk",
        fk([]),
        Codes.INVALID_LINK_NAME,
        mentions("fk_link_names is empty"),
    ),
    Row("FK: unknown link only", "FK", "fk", fk(["nose"]), Codes.INVALID_LINK_NAME, fk_poses([])),
    Row(
        "FK: empty link name and a known one",
        "FK",
        "fk",
        fk(["", "panda_hand"]),
        Codes.INVALID_LINK_NAME,
        fk_poses(["panda_hand"]),
    ),
    Row(
        "FK: 7 names, 5 positions",
        "FK",
        "fk",
        fk(["panda_hand"], fx.ARM, [0.0] * 5),
        Codes.INVALID_ROBOT_STATE,
    ),
    Row(
        "FK: NaN joint",
        "FK",
        "fk",
        fk(["panda_hand"], fx.ARM, [NAN] * 7),
        Codes.INVALID_ROBOT_STATE,
    ),
    Row(
        "FK: duplicate joint name",
        "FK",
        "fk",
        fk(["panda_hand"], ["panda_joint1", "panda_joint1"], [0.0, 0.1]),
        Codes.INVALID_ROBOT_STATE,
    ),
    Row(
        "FK: unknown frame",
        "FK",
        "fk",
        fk(["panda_hand"], frame="map"),
        Codes.FRAME_TRANSFORM_FAILURE,
        mentions("'map'"),
    ),
    Row(
        "FK: 2000 link names",
        "FK",
        "fk",
        fk(["panda_hand", "panda_link4"] * 1000),
        Codes.SUCCESS,
        fk_poses(["panda_hand", "panda_link4"] * 1000),
    ),
    Row(
        "FK: joints at 1e6 rad (outside limits)",
        "FK",
        "fk",
        fk(["panda_hand"], fx.ARM, [1e6] * 7),
        Codes.SUCCESS,
        fk_poses(["panda_hand"], q=[1e6] * 7),
    ),
    Row(
        "FK: in a robot link's frame",
        "FK",
        "fk",
        fk(["panda_hand"], frame="panda_link3"),
        Codes.SUCCESS,
        fk_poses(["panda_hand"], frame="panda_link3"),
    ),
]

TALLY = {
    "rows": 0,
    "answered": 0,
    "health": 0,
    "codes": Counter(),
    "kinds": Counter(),
    "wrong": [],
}


@pytest.fixture(scope="module")
def goals():
    found = reachable_goals(12, seed=23)
    return [Goal(q, p, quat) for q, p, quat in found]


@pytest.fixture(scope="module", autouse=True)
def summary():
    yield
    kinds = ", ".join(f"{k} {n}" for k, n in TALLY["kinds"].items())
    codes = ", ".join(f"{error_name(c)} {n}" for c, n in sorted(TALLY["codes"].items()))
    print(
        f"\nhostile requests: {TALLY['rows']} tried, {TALLY['answered']} answered with the "
        f"expected code, {TALLY['health']} good requests solved after them; kinds: {kinds}; "
        f"codes: {codes}; rows at odds with the semantics: {len(TALLY['wrong'])} "
        f"({'; '.join(TALLY['wrong']) or 'none'})"
    )


def check_still_serving(client, kin, g: Goal) -> None:
    """A valid reachable goal is solved, and the answer's FK (local and the node's) reaches it."""
    res = client.call(client.ik, ik(g))
    assert res.error_code.val == Codes.SUCCESS, res.error_code.message
    q = np.array(res.solution.joint_state.position[:7])
    dp, dr = fx.goal_error(kin, q, g.position, g.quaternion)
    assert dp <= 1e-4 and dr <= 1e-3, (dp, dr)
    req = GetPositionFK.Request(fk_link_names=["panda_hand"])
    req.robot_state.joint_state = JointState(name=fx.ARM, position=q.tolist())
    fk_res = client.call(client.fk, req)
    assert fk_res.error_code.val == Codes.SUCCESS, fk_res.error_code.message
    assert np.linalg.norm(pose_to_matrix(fk_res.pose_stamped[0].pose)[:3, 3] - g.position) <= 1e-4
    TALLY["health"] += 1


def test_table_is_large_and_names_are_unique():
    assert len(ROWS) >= 30
    assert len({r.name for r in ROWS}) == len(ROWS)


@pytest.mark.parametrize("index", range(len(ROWS)), ids=[r.name for r in ROWS])
def test_hostile_request_gets_its_code_and_the_node_keeps_serving(client, kin, goals, index):
    row = ROWS[index]
    g = goals[0]
    TALLY["rows"] += 1
    TALLY["kinds"][row.kind] += 1
    request = row.build(g, kin)
    res = client.call(client.ik if row.service == "ik" else client.fk, request)
    code = res.error_code
    assert code.val == row.code, (
        f"{row.name}: expected {error_name(row.code)}, got {error_name(code.val)}: {code.message}"
    )
    assert code.message.strip(), f"{row.name}: empty error_code.message"
    assert code.source == "dtd_ik_server"
    if row.service == "ik" and code.val != Codes.SUCCESS:
        assert len(res.solution.joint_state.name) == 0  # no solution on failure
    if row.check is not None:
        row.check(res, g, kin)
    TALLY["answered"] += 1
    TALLY["codes"][code.val] += 1
    if row.wrong:
        TALLY["wrong"].append(f"{row.name}: {row.wrong}")
    check_still_serving(client, kin, goals[1 + index % (len(goals) - 1)])
