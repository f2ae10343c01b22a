"""MoveIt request semantics of the IK server, on hand-built requests (no ROS graph).

Each refusal is checked for its MoveIt error code and a message that names the problem; goals are
checked against the kinematics module (FK of a known configuration is the expected goal).
"""

import math
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import Pose, PoseStamped
from moveit_msgs.msg import (
    AttachedCollisionObject,
    CollisionObject,
    JointConstraint,
    OrientationConstraint,
    PositionConstraint,
    PositionIKRequest,
)
from moveit_msgs.msg import MoveItErrorCodes as Codes
from moveit_msgs.srv import GetPositionFK
from sensor_msgs.msg import JointState
from shape_msgs.msg import SolidPrimitive

from dtd_ik.robot.spatial import quaternion_to_matrix
from dtd_ik.ros.conversions import matrix_to_pose, pose_to_matrix
from dtd_ik.ros.parameters import ServerParameters
from dtd_ik.ros.requests import (
    RequestError,
    ServerConfig,
    answer_fk,
    judge_answer,
    parse_ik_request,
)
from dtd_ik.ros.world import WorldKeeper, fixed_frames, world_change

pytestmark = pytest.mark.ros

Q = np.array([0.3, -0.5, 0.2, -2.0, 0.1, 1.8, 0.6])
READY = (0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785)  # MoveIt's Panda SRDF group state "ready"


@pytest.fixture(scope="module")
def solver():
    """The node's FK: the solver's compiled kernels (checked here against torch's kinematics)."""
    from dtd_ik.solver import IKSolver

    return IKSolver.load(None)


@pytest.fixture
def scene():
    return WorldKeeper()


def table_message() -> CollisionObject:
    """A 1 m x 1 m x 2 cm table top 20 cm above the base, 0.5 m ahead."""
    msg = CollisionObject(id="table", operation=CollisionObject.ADD)
    msg.header.frame_id = "panda_link0"
    msg.pose.position.x, msg.pose.position.z, msg.pose.orientation.w = 0.5, 0.2, 1.0
    msg.primitives = [SolidPrimitive(type=SolidPrimitive.BOX, dimensions=[1.0, 1.0, 0.02])]
    pose = Pose()
    pose.orientation.w = 1.0
    msg.primitive_poses = [pose]
    return msg


@pytest.fixture(scope="module")
def cfg(kin):
    return ServerConfig.resolve(ServerParameters(), kin.model)


def fk(kin, q, link):
    return kin.frame_transforms(torch.tensor(q[None], dtype=torch.float64), [link])[0, 0].numpy()


def request(kin, q=Q, link="panda_hand", frame="panda_link0", group="panda_arm", T=None):
    req = PositionIKRequest()
    req.group_name, req.ik_link_name = group, link
    ps = PoseStamped()
    ps.header.frame_id = frame
    ps.header.stamp = Time(sec=7, nanosec=8)
    ps.pose = matrix_to_pose(fk(kin, q, link or "panda_link8") if T is None else T)
    req.pose_stamped = ps
    return req


def goal_matrix(query):
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = quaternion_to_matrix(query.quaternion), query.position
    return T


def refused(req, cfg, fk, current=None):
    with pytest.raises(RequestError) as info:
        parse_ik_request(req, cfg, fk, current)
    return info.value


def test_plain_request_gives_the_goal_in_the_base_frame(kin, cfg, solver):
    query = parse_ik_request(request(kin), cfg, solver)
    assert query.tip == "panda_hand" and query.ik_link == "panda_hand"
    assert np.allclose(goal_matrix(query), fk(kin, Q, "panda_hand"), atol=1e-12)
    assert query.seed is None and query.timeout == cfg.params.default_timeout
    assert query.stamp == Time(sec=7, nanosec=8) and not query.avoid_collisions
    assert query.lower is None and query.upper is None  # the solver's own limits
    assert query.world is None  # no avoid_collisions: nothing to stay clear of


def test_world_of_a_request_follows_avoid_collisions(kin, cfg, solver, scene):
    req = request(kin)
    assert parse_ik_request(req, cfg, solver, None, scene).world is None  # empty world
    scene.apply(world_change(table_message(), fixed_frames("panda_link0", "world", np.eye(4))))
    assert parse_ik_request(req, cfg, solver, None, scene).world is None  # not asked
    req.avoid_collisions = True
    assert parse_ik_request(req, cfg, solver, None, scene).world is scene.world


@pytest.mark.parametrize(
    "group, code, words",
    [
        ("", Codes.INVALID_GROUP_NAME, "empty group_name"),
        ("arm", Codes.INVALID_GROUP_NAME, "unknown group 'arm'"),
        ("hand", Codes.NO_IK_SOLUTION, "no IK solver"),
    ],
)
def test_groups_refused(kin, cfg, group, code, words, solver):
    err = refused(request(kin, group=group), cfg, solver)
    assert err.code == code and words in err.message


def test_empty_link_means_the_group_tip_and_the_alias_group_its_own_tip(kin, cfg, solver):
    assert parse_ik_request(request(kin, link=""), cfg, solver).tip == "panda_link8"
    req = request(kin, link="", group="panda_manipulator", T=fk(kin, Q, "panda_hand_tcp"))
    query = parse_ik_request(req, cfg, solver)
    assert query.tip == "panda_hand_tcp"
    assert np.allclose(goal_matrix(query), fk(kin, Q, "panda_hand_tcp"), atol=1e-12)


def test_link_fixed_to_the_last_link_is_re_expressed_for_the_tip(kin, cfg, solver):
    query = parse_ik_request(request(kin, link="panda_link7"), cfg, solver)
    assert query.tip == "panda_link8" and query.ik_link == "panda_link7"
    assert np.allclose(goal_matrix(query), fk(kin, Q, "panda_link8"), atol=1e-12)


@pytest.mark.parametrize(
    "link, words", [("panda_link3", "not rigidly attached"), ("gripper", "unknown link 'gripper'")]
)
def test_links_refused(kin, cfg, link, words, solver):
    req = request(kin, link="panda_hand")
    req.ik_link_name = link
    err = refused(req, cfg, solver)
    assert err.code == Codes.INVALID_LINK_NAME and words in err.message


def test_frames_world_base_and_robot_links(kin, cfg, solver):
    T_world_base = np.eye(4)
    T_world_base[:3, 3] = [0.2, -0.1, 0.05]
    moved = replace(cfg, world_to_base=T_world_base)
    goal_base = fk(kin, Q, "panda_hand")
    for frame in ["", "world"]:
        req = request(kin, frame=frame, T=T_world_base @ goal_base)
        query = parse_ik_request(req, moved, solver)
        assert np.allclose(goal_matrix(query), goal_base, atol=1e-12), frame
    # a goal in a moving link's frame is read at the request's state (the seed)
    req = request(kin, frame="panda_link3", T=np.linalg.inv(fk(kin, Q, "panda_link3")) @ goal_base)
    req.robot_state.joint_state = JointState(name=list(cfg.robot.joint_names), position=Q.tolist())
    query = parse_ik_request(req, cfg, solver)
    assert np.allclose(goal_matrix(query), goal_base, atol=1e-10)
    err = refused(request(kin, frame="camera_link"), cfg, solver)
    assert err.code == Codes.FRAME_TRANSFORM_FAILURE and "camera_link" in err.message


def test_seed_by_name_over_current_over_defaults(kin, cfg, solver):
    req = request(kin)
    req.robot_state.joint_state = JointState(
        name=["panda_joint2", "panda_finger_joint1"], position=[0.4, 0.02]
    )
    query = parse_ik_request(req, cfg, solver, current={"panda_joint1": -0.3})
    expected = np.array(READY)
    expected[0], expected[1] = -0.3, 0.4
    assert np.allclose(query.seed, expected)
    assert query.state["panda_finger_joint1"] == 0.02 and query.state["panda_finger_joint2"] == 0


@pytest.mark.parametrize(
    "js, words",
    [
        (JointState(name=["panda_joint1", "panda_joint2"], position=[0.1]), "2 names but 1"),
        (JointState(name=["panda_joint1"], position=[math.inf]), "non-finite"),
    ],
)
def test_malformed_robot_state_refused(kin, cfg, js, words, solver):
    req = request(kin)
    req.robot_state.joint_state = js
    err = refused(req, cfg, solver)
    assert err.code == Codes.INVALID_ROBOT_STATE and words in err.message


@pytest.mark.parametrize(
    "orientation, words", [((0, 0, 0, 0), "zero orientation"), ((math.nan, 0, 0, 1), "NaN")]
)
def test_bad_goal_pose_refused(kin, cfg, orientation, words, solver):
    req = request(kin)
    o = req.pose_stamped.pose.orientation
    o.x, o.y, o.z, o.w = orientation
    err = refused(req, cfg, solver)
    assert err.code == Codes.INVALID_GOAL_CONSTRAINTS and words in err.message


def test_timeout_zero_default_nanoseconds_honoured_and_capped(kin, cfg, solver):
    req = request(kin)
    req.timeout = Duration(sec=0, nanosec=20_000_000)
    assert parse_ik_request(req, cfg, solver).timeout == pytest.approx(0.02)
    req.timeout = Duration(sec=1000)
    assert parse_ik_request(req, cfg, solver).timeout == cfg.params.max_timeout
    req.timeout = Duration(sec=-1)
    assert parse_ik_request(req, cfg, solver).timeout == cfg.params.default_timeout


def test_joint_constraints_narrow_the_bounds_and_the_seed(kin, cfg, solver):
    req = request(kin)
    req.constraints.joint_constraints = [
        JointConstraint(
            joint_name="panda_joint1", position=0.3, tolerance_above=0.05, tolerance_below=0.1
        )
    ]
    query = parse_ik_request(req, cfg, solver)
    assert query.lower[0] == pytest.approx(0.2) and query.upper[0] == pytest.approx(0.35)
    np.testing.assert_array_equal(query.lower[1:], kin.model.lower[1:])  # the limits elsewhere
    np.testing.assert_array_equal(query.upper[1:], kin.model.upper[1:])
    assert query.seed is None  # no state given: the solver seeds inside the bounds
    req.robot_state.joint_state = JointState(name=["panda_joint1"], position=[0.0])
    query = parse_ik_request(req, cfg, solver)
    assert query.seed[0] == pytest.approx(0.2)  # the given state, moved into the window


@pytest.mark.parametrize(
    "constraint, words",
    [
        (JointConstraint(joint_name="elbow", position=0.0), "not a joint of group"),
        (
            JointConstraint(joint_name="panda_joint1", position=0.0, tolerance_above=-1),
            "tolerances",
        ),
        (
            JointConstraint(
                joint_name="panda_joint4", position=1.0, tolerance_above=0.1, tolerance_below=0.1
            ),
            "outside the joint's limits",
        ),
    ],
)
def test_bad_joint_constraints_refused(kin, cfg, constraint, words, solver):
    req = request(kin)
    req.constraints.joint_constraints = [constraint]
    err = refused(req, cfg, solver)
    assert err.code == Codes.INVALID_GOAL_CONSTRAINTS and words in err.message


def test_cartesian_constraints_refused_not_ignored(kin, cfg, solver):
    req = request(kin)
    req.constraints.position_constraints = [PositionConstraint()]
    req.constraints.orientation_constraints = [OrientationConstraint()]
    err = refused(req, cfg, solver)
    assert err.code == Codes.INVALID_GOAL_CONSTRAINTS
    assert "position and orientation constraints are not supported" in err.message


def test_pose_vector_rules(kin, cfg, solver):
    req = request(kin, link="")
    req.pose_stamped = PoseStamped()  # ignored when the vector is set
    one = PoseStamped()
    one.header.frame_id = "panda_link0"
    one.pose = matrix_to_pose(fk(kin, Q, "panda_hand_tcp"))
    req.pose_stamped_vector = [one]
    req.ik_link_names = ["panda_hand_tcp"]
    query = parse_ik_request(req, cfg, solver)
    assert query.tip == "panda_hand_tcp"
    assert np.allclose(goal_matrix(query), fk(kin, Q, "panda_hand_tcp"), atol=1e-12)
    req.pose_stamped_vector = [one, one]
    err = refused(req, cfg, solver)
    assert err.code == Codes.INVALID_LINK_NAME and "same length" in err.message
    req.ik_link_names = ["panda_hand_tcp", "panda_hand"]
    err = refused(req, cfg, solver)
    assert err.code == Codes.INVALID_LINK_NAME and "one tip" in err.message


def attached_tool(link="panda_hand", frame="panda_hand") -> AttachedCollisionObject:
    """A 2 cm sphere 10 cm along the hand's z."""
    obj = AttachedCollisionObject(link_name=link, touch_links=["panda_leftfinger"])
    obj.object.id, obj.object.operation = "tool", CollisionObject.ADD
    obj.object.header.frame_id = frame
    obj.object.pose.orientation.w = 1.0
    obj.object.primitives = [SolidPrimitive(type=SolidPrimitive.SPHERE, dimensions=[0.02])]
    pose = Pose()
    pose.position.z = 0.1
    obj.object.primitive_poses = [pose]
    return obj


def test_attached_objects_ride_on_their_link_for_this_request_only(kin, cfg, solver, scene):
    req = request(kin)
    req.avoid_collisions = True
    req.robot_state.joint_state = JointState(
        name=[f"panda_joint{i}" for i in range(1, 8)], position=list(Q)
    )
    # given in the base frame at the hand's pose at Q: the identity in the hand's frame
    tool = attached_tool(frame="panda_link0")
    tool.object.pose = matrix_to_pose(fk(kin, Q, "panda_hand"))
    req.robot_state.attached_collision_objects = [tool]
    world = parse_ik_request(req, cfg, solver, None, scene).world
    (spec,) = world.attached.values()
    np.testing.assert_allclose(spec.pose, np.eye(4), atol=1e-9)
    assert spec.link == "panda_hand" and spec.touch_links == {"panda_hand", "panda_leftfinger"}
    assert scene.world.attached == {}
    err = refused(req, cfg, solver)  # without the node's world it cannot be checked
    assert err.code == Codes.COLLISION_CHECKING_UNAVAILABLE and "attached" in err.message
    req.avoid_collisions = False  # not asked: attached objects do not matter
    assert parse_ik_request(req, cfg, solver, None, scene).world is None


@pytest.mark.parametrize(
    "tool, words",
    [
        (attached_tool(link="nose"), "unknown link 'nose'"),
        (attached_tool(frame="map"), "cannot transform from frame 'map'"),
        (AttachedCollisionObject(link_name="panda_hand"), "empty id"),
    ],
)
def test_bad_attached_objects_refused(kin, cfg, solver, scene, tool, words):
    req = request(kin)
    req.avoid_collisions = True
    req.robot_state.attached_collision_objects = [tool]
    with pytest.raises(RequestError) as info:
        parse_ik_request(req, cfg, solver, None, scene)
    assert info.value.code == Codes.INVALID_ROBOT_STATE and words in info.value.message


def judged(query, cfg, q, position_error, orientation_error, margin, pair=("", "")):
    """The query's verdict on a hand-made one-row solver answer."""
    query.result = SimpleNamespace(
        q=np.asarray(q)[None],
        success=np.array([True]),
        position_error=np.array([position_error]),
        orientation_error=np.array([orientation_error]),
        collision_margin=np.array([margin]),
        closest_pair=(pair,),
    )
    query.row = 0
    judge_answer(query, cfg)
    return query


def test_judge_answer_checks_every_criterion(kin, cfg, solver):
    query = parse_ik_request(request(kin), cfg, solver)
    query.avoid_collisions = True
    ok = judged(query, cfg, Q, 1e-6, 1e-5, 0.02)
    assert ok.code == Codes.SUCCESS and "collision margin 20.00 mm" in ok.message
    near = judged(query, cfg, Q, 1e-6, 1e-5, 0.0118, ("panda_hand", "table"))
    assert "collision margin 11.80 mm (panda_hand/table)" in near.message  # the closest pair
    for args, words in [
        ((2e-4, 0.0, 0.02), "position error above"),
        ((0.0, 2e-3, 0.02), "orientation error above"),
        ((0.0, 0.0, 0.0), "in collision"),
        ((0.0, 0.0, -0.001), "in collision"),
    ]:
        verdict = judged(query, cfg, Q, *args)
        assert verdict.code == Codes.NO_IK_SOLUTION
        assert words in verdict.message
    # MoveIt's rule: any clearance above the padding (0) is enough; the 5 mm is a preference
    assert judged(query, cfg, Q, 0.0, 0.0, 1e-5).code == Codes.SUCCESS
    strict = replace(
        cfg, params=replace(cfg.params, collision_padding=0.002, required_clearance=0.004)
    )
    assert "padding 2 mm" in judged(query, strict, Q, 0.0, 0.0, 0.002).message
    assert "below the required 4 mm" in judged(query, strict, Q, 0.0, 0.0, 0.003).message
    assert judged(query, strict, Q, 0.0, 0.0, 0.004).code == Codes.SUCCESS
    outside = Q.copy()
    outside[3] = 0.5
    assert "panda_joint4 outside" in judged(query, cfg, outside, 0, 0, 0.02).message
    query.avoid_collisions = False
    assert judged(query, cfg, Q, 0.0, 0.0, -0.01).code == Codes.SUCCESS  # margin when asked


def fk_request(links, q=Q, frame=""):
    req = GetPositionFK.Request()
    req.header.frame_id = frame
    req.fk_link_names = links
    req.robot_state.joint_state = JointState(
        name=[f"panda_joint{i}" for i in range(1, 8)], position=list(q)
    )
    return req


def test_fk_matches_the_kinematics_module(kin, cfg, solver):
    links = ["panda_link3", "panda_hand", "panda_hand_tcp"]
    res = answer_fk(fk_request(links), cfg, solver, None, Time(sec=1), "test")
    assert res.error_code.val == Codes.SUCCESS and list(res.fk_link_names) == links
    for link, ps in zip(links, res.pose_stamped):
        assert ps.header.frame_id == "world"
        assert np.allclose(pose_to_matrix(ps.pose), fk(kin, Q, link), atol=1e-12)
    res = answer_fk(
        fk_request(["panda_hand"], frame="panda_link3"), cfg, solver, None, Time(), "t"
    )
    expected = np.linalg.inv(fk(kin, Q, "panda_link3")) @ fk(kin, Q, "panda_hand")
    assert np.allclose(pose_to_matrix(res.pose_stamped[0].pose), expected, atol=1e-12)


def test_fk_refusals(kin, cfg, solver):
    res = answer_fk(fk_request([]), cfg, solver, None, Time(), "t")
    assert res.error_code.val == Codes.INVALID_LINK_NAME and "empty" in res.error_code.message
    res = answer_fk(fk_request(["panda_hand", "nose"]), cfg, solver, None, Time(), "t")
    assert res.error_code.val == Codes.INVALID_LINK_NAME and "nose" in res.error_code.message
    assert list(res.fk_link_names) == ["panda_hand"] and len(res.pose_stamped) == 1
    res = answer_fk(fk_request(["panda_hand"], frame="map"), cfg, solver, None, Time(), "t")
    assert res.error_code.val == Codes.FRAME_TRANSFORM_FAILURE
    bad = fk_request(["panda_hand"])
    bad.robot_state.joint_state.position = [0.0]
    res = answer_fk(bad, cfg, solver, None, Time(), "t")
    assert res.error_code.val == Codes.INVALID_ROBOT_STATE
