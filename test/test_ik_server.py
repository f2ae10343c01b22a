"""The IK server end to end: the ik_server executable in a subprocess, called over real Fast DDS.

The node runs in its own process under a namespace, on a private DDS domain limited to localhost,
started the way scripts/main starts it (console script + config/ik_server.yaml). The test process
is a plain rclpy client: no part of ROS is mocked.
"""

import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
import torch
from builtin_interfaces.msg import Duration
from diagnostic_msgs.msg import DiagnosticArray
from moveit_msgs.msg import JointConstraint, PositionConstraint
from moveit_msgs.msg import MoveItErrorCodes as Codes
from moveit_msgs.srv import GetPositionFK, GetPositionIK
from rcl_interfaces.srv import GetParameters
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64

from dtd_ik.robot.spatial import matrix_to_quaternion
from dtd_ik.ros.client import make_request, reachable_goals
from dtd_ik.ros.conversions import pose_to_matrix
from dtd_ik.ros.server_process import ik_server_command, running_ik_server
from ik_server_fixtures import (
    ALL_JOINTS,
    ARM,
    DOMAIN,
    ENV,
    NS,
    ROOT,
    WAIT,
    Client,
    fk_matrix,
    goal_error,
    set_params,
)

pytestmark = pytest.mark.ros

BIN = Path(sys.prefix) / "bin"


@pytest.fixture(scope="module")
def kin_goals():
    return reachable_goals(12, seed=11)


def test_solves_reachable_goals_and_answers_moveit_style(client, kin, capsules, kin_goals):
    for _, position, quaternion in kin_goals:
        req = make_request(position, quaternion, avoid_collisions=True)
        req.ik_request.pose_stamped.header.stamp.sec = 42
        res = client.call(client.ik, req)
        assert res.error_code.val == Codes.SUCCESS, res.error_code.message
        assert res.error_code.source == "dtd_ik_server"
        assert "collision margin" in res.error_code.message
        js = res.solution.joint_state
        assert list(js.name) == ALL_JOINTS and js.header.frame_id == "world"
        assert js.header.stamp.sec == 42 and not res.solution.is_diff
        assert list(res.solution.multi_dof_joint_state.joint_names) == ["virtual_joint"]
        q = np.array(js.position[:7])
        assert np.all(q >= kin.model.lower) and np.all(q <= kin.model.upper)
        dp, dr = goal_error(kin, q, position, quaternion)
        assert dp <= 1e-4 and dr <= 1e-3
        margin = capsules.distance(torch.tensor(q[None])).distance.item()
        assert margin >= 0.005 - 1e-9


def test_goal_in_the_hand_tcp_frame_via_the_manipulator_group(client, kin):
    q0 = np.array([0.1, -0.4, 0.2, -2.2, 0.1, 1.9, 0.5])
    T = fk_matrix(kin, q0, "panda_hand_tcp")
    req = make_request(T[:3, 3], [0, 0, 0, 1], group="panda_manipulator", link="")
    req.ik_request.pose_stamped.pose.orientation.__init__()
    o = req.ik_request.pose_stamped.pose.orientation
    o.x, o.y, o.z, o.w = matrix_to_quaternion(T[:3, :3])
    req.ik_request.pose_stamped.header.frame_id = ""  # the model frame
    res = client.call(client.ik, req)
    assert res.error_code.val == Codes.SUCCESS, res.error_code.message
    q = np.array(res.solution.joint_state.position[:7])
    assert np.allclose(fk_matrix(kin, q, "panda_hand_tcp"), T, atol=2e-4)


def bad_requests(kin_goals):
    _, p, quat = kin_goals[0]
    cases = {}
    cases["unknown group"] = (make_request(p, quat, group="arm"), Codes.INVALID_GROUP_NAME)
    cases["empty group"] = (make_request(p, quat, group=""), Codes.INVALID_GROUP_NAME)
    cases["unknown link"] = (make_request(p, quat, link="panda_link3"), Codes.INVALID_LINK_NAME)
    cases["unknown frame"] = (make_request(p, quat, frame="map"), Codes.FRAME_TRANSFORM_FAILURE)
    r = make_request(p, quat)
    r.ik_request.robot_state.joint_state = JointState(name=ARM, position=[0.0] * 6)
    cases["state lengths"] = (r, Codes.INVALID_ROBOT_STATE)
    r = make_request(p, [0, 0, 0, 0])
    cases["zero quaternion"] = (r, Codes.INVALID_GOAL_CONSTRAINTS)
    r = make_request([math.nan, 0, 0], quat)
    cases["nan position"] = (r, Codes.INVALID_GOAL_CONSTRAINTS)
    r = make_request(p, quat)
    r.ik_request.constraints.position_constraints = [PositionConstraint()]
    cases["position constraint"] = (r, Codes.INVALID_GOAL_CONSTRAINTS)
    r = make_request(p, quat)
    r.ik_request.constraints.joint_constraints = [JointConstraint(joint_name="nope")]
    cases["constraint joint"] = (r, Codes.INVALID_GOAL_CONSTRAINTS)
    r = make_request(p, quat)
    r.ik_request.pose_stamped_vector = [r.ik_request.pose_stamped] * 2
    cases["two poses"] = (r, Codes.INVALID_LINK_NAME)
    r = make_request([2.5, 0.0, 0.4], [1, 0, 0, 0])
    r.ik_request.timeout = Duration(sec=0, nanosec=20_000_000)
    cases["out of reach"] = (r, Codes.NO_IK_SOLUTION)
    return cases


@pytest.mark.parametrize(
    "case",
    [
        "unknown group",
        "empty group",
        "unknown link",
        "unknown frame",
        "state lengths",
        "zero quaternion",
        "nan position",
        "position constraint",
        "constraint joint",
        "two poses",
        "out of reach",
    ],
)
def test_bad_requests_get_their_moveit_error_code_and_a_message(client, kin_goals, case):
    request, code = bad_requests(kin_goals)[case]
    res = client.call(client.ik, request)
    assert res.error_code.val == code, res.error_code.message
    assert len(res.error_code.message) > 10 and res.error_code.source == "dtd_ik_server"
    assert len(res.solution.joint_state.position) == 0  # no solution on failure


def test_joint_constraint_is_honoured(client, kin_goals):
    q0, p, quat = kin_goals[1]
    req = make_request(p, quat)
    req.ik_request.constraints.joint_constraints = [
        JointConstraint(
            joint_name="panda_joint1",
            position=float(q0[0]),
            tolerance_above=0.05,
            tolerance_below=0.05,
            weight=1.0,
        )
    ]
    req.ik_request.timeout = Duration(sec=1)
    res = client.call(client.ik, req)
    if res.error_code.val == Codes.SUCCESS:
        assert abs(res.solution.joint_state.position[0] - q0[0]) <= 0.05 + 1e-9
    else:  # an honest refusal, never an answer outside the constraint
        assert res.error_code.val == Codes.NO_IK_SOLUTION, res.error_code.message


def test_narrow_joint_windows_around_known_answers_are_solved(client, kin, kin_goals):
    """Every joint held within +-0.02 rad of a configuration that reaches the goal, no seed:
    the solver searches inside the window and answers from it."""
    for q0, p, quat in kin_goals[:4]:
        req = make_request(p, quat)
        req.ik_request.constraints.joint_constraints = [
            JointConstraint(
                joint_name=name,
                position=float(v),
                tolerance_above=0.02,
                tolerance_below=0.02,
                weight=1.0,
            )
            for name, v in zip(ARM, q0)
        ]
        req.ik_request.timeout = Duration(sec=1)
        res = client.call(client.ik, req)
        assert res.error_code.val == Codes.SUCCESS, res.error_code.message
        q = np.array(res.solution.joint_state.position[:7])
        assert np.all(np.abs(q - q0) <= 0.02 + 1e-9), q - q0
        dp, dr = goal_error(kin, q, p, quat)
        assert dp <= 1e-4 and dr <= 1e-3


def test_fk_service_matches_the_kinematics_module(client, kin):
    req = GetPositionFK.Request()
    req.fk_link_names = ["panda_link4", "panda_hand", "panda_hand_tcp", "nose"]
    q = [0.2, -0.3, 0.1, -1.9, 0.4, 1.6, -0.2]
    req.robot_state.joint_state = JointState(name=ARM, position=q)
    res = client.call(client.fk, req)
    assert res.error_code.val == Codes.INVALID_LINK_NAME and "nose" in res.error_code.message
    assert list(res.fk_link_names) == ["panda_link4", "panda_hand", "panda_hand_tcp"]
    for link, ps in zip(res.fk_link_names, res.pose_stamped):
        assert ps.header.frame_id == "world"
        assert np.allclose(pose_to_matrix(ps.pose), fk_matrix(kin, q, link), atol=1e-12)


def test_solution_and_margin_are_published(client, kin_goals):
    got = {"solution": [], "margin": []}
    client.node.create_subscription(
        JointState, f"{NS}/dtd_ik_server/solution", got["solution"].append, 10
    )
    client.node.create_subscription(
        Float64, f"{NS}/dtd_ik_server/collision_margin", got["margin"].append, 10
    )
    _, p, quat = kin_goals[2]
    deadline = time.monotonic() + WAIT
    while not (got["solution"] and got["margin"]):  # the first messages may race discovery
        assert time.monotonic() < deadline, "no solution/margin messages"
        res = client.call(client.ik, make_request(p, quat, avoid_collisions=True))
        assert res.error_code.val == Codes.SUCCESS
        client.spin_until(lambda: True, "spin")
        for _ in range(10):
            client.executor.spin_once(timeout_sec=0.05)
    assert list(got["solution"][-1].name) == ALL_JOINTS
    assert np.allclose(got["solution"][-1].position, res.solution.joint_state.position)
    assert got["margin"][-1].data >= 0.005


def test_diagnostics_report_the_service(client):
    seen = []
    client.node.create_subscription(DiagnosticArray, "/diagnostics", seen.append, 10)
    client.spin_until(lambda: any(s.status for s in seen), "/diagnostics message")
    values = {kv.key: kv.value for kv in seen[-1].status[0].values}
    assert {"requests", "solved", "latency_p50_ms", "model"} <= set(values)
    assert values["model"].startswith("none")


def test_200_concurrent_requests_are_all_answered(client, kin_goals):
    futures = []
    for i in range(200):
        _, p, quat = kin_goals[i % len(kin_goals)]
        req = make_request(p, quat)
        req.ik_request.timeout = Duration(sec=2)
        futures.append(client.ik.call_async(req))
    client.spin_until(lambda: all(f.done() for f in futures), "200 answers", timeout=180)
    codes = [f.result().error_code.val for f in futures]
    assert codes == [Codes.SUCCESS] * 200
    # and they were solved in batches: the server drains its queue into one solver call
    seen = []
    sub = client.node.create_subscription(DiagnosticArray, "/diagnostics", seen.append, 10)
    client.spin_until(
        lambda: any(
            int({kv.key: kv.value for kv in m.status[0].values}["requests"]) >= 200 for m in seen
        ),
        "diagnostics after the burst",
    )
    values = {kv.key: kv.value for kv in seen[-1].status[0].values}
    assert int(values["largest_batch"]) > 1
    assert int(values["solver_calls"]) < int(values["requests"])
    client.node.destroy_subscription(sub)


def test_parameters_file_loaded_and_set_parameters_validated(client):
    getter = client.node.create_client(GetParameters, f"{NS}/dtd_ik_server/get_parameters")
    assert getter.wait_for_service(timeout_sec=WAIT)
    values = client.call(
        getter,
        GetParameters.Request(names=["max_timeout", "group_name", "ik_links", "default_timeout"]),
    ).values
    assert values[0].double_value == 4.0  # the command line over the file
    assert values[3].double_value == 0.07  # the file (its /**/dtd_ik_server key, namespaced)
    assert values[1].string_value == "panda_arm"
    assert list(values[2].string_array_value) == ["panda_link8", "panda_hand", "panda_hand_tcp"]
    (bad,) = set_params(client, position_tolerance=-1.0)
    assert not bad.successful and "position_tolerance" in bad.reason
    (ro,) = set_params(client, model_path="other.pt")
    assert not ro.successful
    (ok,) = set_params(client, position_tolerance=2e-4)
    assert ok.successful
    (ok,) = set_params(client, position_tolerance=1e-4)
    assert ok.successful


@pytest.mark.parametrize("model, words", [("/nonexistent/model.pt", "not found"), ("GARBAGE", "")])
def test_bad_model_stops_the_node_with_one_line(tmp_path, model, words):
    if model == "GARBAGE":
        model = str(tmp_path / "garbage.pt")
        Path(model).write_bytes(b"not a model")
    proc = subprocess.run(
        ik_server_command(f"model_path:={model}", namespace=NS),
        env=ENV,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ik_server: "), proc.stderr
    assert model in lines[0] and words in lines[0]


def test_demo_client_prints_answers_and_refusals(client):
    proc = subprocess.run(
        [str(BIN / "ik_client"), "--count", "2", "--service", f"{NS}/compute_ik"],
        env=ENV,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WAIT * 2,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.count("SUCCESS") == 2 and "INVALID_GROUP_NAME" in out and "NO_IK_SOLUTION" in out
    assert "round trip over 4 requests" in out


def test_runs_on_a_model_file_and_refuses_one_for_another_robot(tmp_path, kin, compiled_solver):
    """With a network that meets docs/model_format.md the node serves and reports the model;
    a network made for other joint names stops it with one line."""
    from contract_networks import MidRange

    good = tmp_path / "midrange.pt"
    torch.jit.script(MidRange(kin.model.joint_names, kin.model.lower, kin.model.upper)).save(
        str(good)
    )
    foreign = tmp_path / "foreign.pt"
    torch.jit.script(MidRange([f"j{i}" for i in range(7)], kin.model.lower, kin.model.upper)).save(
        str(foreign)
    )
    proc = subprocess.run(
        ik_server_command(f"model_path:={foreign}", namespace=NS),
        env=ENV,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1 and len(lines) == 1 and str(foreign) in lines[0], proc.stderr

    ns = "/e2e_model"
    with running_ik_server(
        f"model_path:={good}", "diagnostics_period:=0.2", namespace=ns, env=ENV, wait=WAIT
    ):
        context = rclpy.context.Context()
        rclpy.init(context=context, domain_id=DOMAIN)
        try:
            c = Client(context)
            ik = c.node.create_client(GetPositionIK, f"{ns}/compute_ik")
            assert ik.wait_for_service(timeout_sec=WAIT), "server with a model did not come up"
            ((_, p, quat),) = reachable_goals(1, seed=3)
            res = c.call(ik, make_request(p, quat))
            assert res.error_code.val == Codes.SUCCESS, res.error_code.message
            seen = []
            c.node.create_subscription(DiagnosticArray, "/diagnostics", seen.append, 10)
            c.spin_until(
                lambda: any(
                    m.status[0].name.startswith("dtd_ik_server")
                    and str(good) in {kv.key: kv.value for kv in m.status[0].values}["model"]
                    for m in seen
                ),
                "diagnostics naming the model",
            )
            c.node.destroy_node()
        finally:
            rclpy.shutdown(context=context)


def test_current_state_from_the_joint_state_topic_seeds_fk_and_frames(client, kin):
    """With joint_state_topic set, a request without a robot state is read at the current state:
    FK answers for it, and a goal in a moving link's frame is placed with it."""
    q_now = np.array([0.5, 0.3, -0.4, -1.5, 0.2, 2.2, -0.3])
    pub = client.node.create_publisher(JointState, f"{NS}/joint_states", 10)
    fk_req = GetPositionFK.Request(fk_link_names=["panda_hand"])
    deadline = time.monotonic() + WAIT
    while True:  # until the server has discovered us and taken the state
        pub.publish(JointState(name=ARM, position=q_now.tolist()))
        res = client.call(client.fk, fk_req)
        if np.allclose(pose_to_matrix(res.pose_stamped[0].pose), fk_matrix(kin, q_now), atol=1e-9):
            break
        assert time.monotonic() < deadline, "the server never took the published joint state"
    q_goal = np.array([0.1, -0.2, 0.3, -2.0, -0.1, 1.7, 0.4])
    T_link3 = fk_matrix(kin, q_now, "panda_link3")  # the frame as it is now
    goal_in_link3 = np.linalg.inv(T_link3) @ fk_matrix(kin, q_goal)
    req = make_request(goal_in_link3[:3, 3], [0, 0, 0, 1], frame="panda_link3")
    o = req.ik_request.pose_stamped.pose.orientation
    o.x, o.y, o.z, o.w = matrix_to_quaternion(goal_in_link3[:3, :3])
    res = client.call(client.ik, req)
    assert res.error_code.val == Codes.SUCCESS, res.error_code.message
    q = np.array(res.solution.joint_state.position[:7])
    assert np.allclose(fk_matrix(kin, q), T_link3 @ goal_in_link3, atol=2e-4)
    client.node.destroy_publisher(pub)
