"""Runtime parameter changes over DDS: each takes effect in the next answer, or is refused with a
reason.

The node is ik_server_fixtures' ``server`` (a fresh node for this module) and ``client``;
parameters are set through the node's ``~/set_parameters`` service, as ``ros2 param set`` does.
The tolerances and the collision margin must reach the solver's refinement targets, not only the
node's acceptance test: a tightened tolerance is met (the solver refines further) and a raised
margin is reached (the solver pushes answers further from self-collision), where before only the
acceptance changed.
"""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest
import torch
from builtin_interfaces.msg import Duration
from moveit_msgs.msg import MoveItErrorCodes as Codes
from rcl_interfaces.srv import GetParameters
from sensor_msgs.msg import JointState

import ik_server_fixtures as fx
from dtd_ik.exceptions import ConfigError
from dtd_ik.robot.spatial import quaternion_to_matrix
from dtd_ik.ros.client import make_request, reachable_goals
from dtd_ik.ros.server_process import ik_server_command

pytestmark = pytest.mark.ros

DEFAULTS = {
    "position_tolerance": 1e-4,
    "orientation_tolerance": 1e-3,
    "collision_padding": 0.0,
    "required_clearance": 0.0,
    "preferred_clearance": 0.005,
    "default_timeout": 0.07,
    "max_timeout": 4.0,
}  # the fixture's values
# A configuration at the Panda's longest reach found by sampling (0.858 m from the shoulder):
# its hand pose moved 30 mm further out is out of reach by at least ~2 cm.
STRETCHED = [2.29379466, 0.00283188, 0.41824005, -0.46102424, 0.03936235, 2.68134082, -1.46365513]
SHOULDER = np.array([0.0, 0.0, 0.333])


def get_params(client, *names):
    getter = client.node.create_client(GetParameters, f"{fx.NS}/dtd_ik_server/get_parameters")
    assert getter.wait_for_service(timeout_sec=fx.WAIT)
    values = client.call(getter, GetParameters.Request(names=list(names))).values
    client.node.destroy_client(getter)
    return [v.double_value for v in values]


@pytest.fixture
def restore(client):
    """Put the changed parameters back after the test (one node for the module)."""
    yield
    results = fx.set_params(client, **DEFAULTS)
    assert all(r.successful for r in results), [r.reason for r in results]


def margin_mm(message: str) -> float:
    return float(re.search(r"collision margin (-?[\d.]+) mm", message).group(1))


def small_errors(kin, q, position, quaternion) -> tuple[float, float]:
    """Position [m] and orientation [rad] error, the angle from the sine (exact near zero,
    where acos of the trace loses ~1e-8 rad)."""
    T = fx.fk_matrix(kin, q)
    dR = quaternion_to_matrix(np.asarray(quaternion)).T @ T[:3, :3]
    axis = np.array([dR[2, 1] - dR[1, 2], dR[0, 2] - dR[2, 0], dR[1, 0] - dR[0, 1]]) / 2
    return float(np.linalg.norm(T[:3, 3] - position)), float(np.arcsin(np.linalg.norm(axis)))


def solve(client, position, quaternion, seed=None, timeout=1.0, avoid_collisions=True):
    req = make_request(position, quaternion, avoid_collisions=avoid_collisions)
    req.ik_request.timeout = Duration(sec=int(timeout), nanosec=int(timeout % 1 * 1e9))
    if seed is not None:
        req.ik_request.robot_state.joint_state = JointState(name=fx.ARM, position=list(seed))
    return client.call(client.ik, req)


def test_solver_targets_follow_set_targets_and_refuse_bad_values():
    """No ROS: IKSolver.set_targets changes what solve() refines to, and nothing on error."""
    from dtd_ik.solver import IKSolver

    solver = IKSolver.load(None)
    ((_, p, quat),) = reachable_goals(1, seed=21, margin=0.015)

    def meets_the_targets():
        result = solver.solve(p[None], quat[None], tip="panda_hand", timeout=1.0)
        assert result.success[0]
        assert result.position_error[0] <= 1e-9  # converges at least that far
        assert result.collision_margin[0] >= 0.012

    solver.set_targets(position_tolerance=1e-9, required_clearance=0.012)
    assert solver.config.position_tolerance == 1e-9
    assert solver.config.orientation_tolerance == 1e-3  # None keeps a value
    assert solver.config.required_clearance == 0.012
    meets_the_targets()
    with pytest.raises(ConfigError, match="orientation_tolerance"):
        solver.set_targets(orientation_tolerance=-1.0, position_tolerance=1e-3)
    assert solver.config.position_tolerance == 1e-9
    meets_the_targets()


def test_tighter_tolerances_are_met_by_the_next_answers(client, kin, restore):
    """1e-10 m / 1e-10 rad: the solver must refine below its start-up convergence (1e-7);
    with the start-up targets most answers stopped between 1e-10 and 1e-8 and were refused."""
    goals = reachable_goals(8, seed=21)
    results = fx.set_params(client, position_tolerance=1e-10, orientation_tolerance=1e-10)
    assert all(r.successful for r in results), [r.reason for r in results]
    assert get_params(client, "position_tolerance", "orientation_tolerance") == [1e-10, 1e-10]
    for _, p, quat in goals:
        res = solve(client, p, quat)
        assert res.error_code.val == Codes.SUCCESS, res.error_code.message
        dp, dr = small_errors(kin, res.solution.joint_state.position[:7], p, quat)
        assert dp <= 1e-9 and dr <= 1e-9  # our FK in float64 agrees with the node's judgement


def test_looser_tolerances_accept_a_goal_out_of_reach(client, kin, restore):
    pose = kin.forward(torch.tensor([STRETCHED], dtype=torch.float64), "panda_hand")
    p, quat = pose.position[0].numpy(), pose.quaternion[0].numpy()
    goal = p + 0.03 * (p - SHOULDER) / np.linalg.norm(p - SHOULDER)
    res = solve(client, goal, quat, timeout=0.2)
    assert res.error_code.val == Codes.NO_IK_SOLUTION, res.error_code.message
    assert "position error above 0.1 mm" in res.error_code.message
    results = fx.set_params(client, position_tolerance=0.1, orientation_tolerance=1.0)
    assert all(r.successful for r in results)
    res = solve(client, goal, quat, timeout=0.2)
    assert res.error_code.val == Codes.SUCCESS, res.error_code.message
    dp, _ = fx.goal_error(kin, res.solution.joint_state.position[:7], goal, quat)
    assert 0.005 < dp <= 0.1  # accepted although centimetres off: the new tolerance


def test_required_clearance_is_reached_by_the_solver(
    client, kin, capsules, pybullet_panda, restore
):
    """Goals seeded at configurations 8-12 mm (capsule distance) from self-collision: by
    default the seed itself is an answer; with required_clearance 15 mm the solver must push
    the arm out, and pybullet's meshes agree that the answers keep 15 mm."""
    rng = np.random.default_rng(4)
    q = rng.uniform(kin.model.lower, kin.model.upper, size=(3000, 7))
    d = capsules.distance(torch.tensor(q)).distance.numpy()
    seeds = q[(d > 0.008) & (d < 0.012)][:8]
    pose = kin.forward(torch.tensor(seeds), "panda_hand")
    goals = list(zip(seeds, pose.position.numpy(), pose.quaternion.numpy()))
    before = [solve(client, p, quat, seed=s) for s, p, quat in goals]
    assert all(r.error_code.val == Codes.SUCCESS for r in before)
    results = fx.set_params(client, required_clearance=0.015)
    assert all(r.successful for r in results)
    after = [solve(client, p, quat, seed=s) for s, p, quat in goals]
    solved = [r for r in after if r.error_code.val == Codes.SUCCESS]
    assert len(solved) >= len(goals) // 2, [r.error_code.message for r in after]
    for r in solved:
        assert margin_mm(r.error_code.message) >= 15.0
        pybullet_panda.set_joints(np.array(r.solution.joint_state.position[:7]))
        assert pybullet_panda.min_distance() >= 0.015 - 1e-4  # pybullet's margins: 0.1 mm
    for r in after:  # a refusal says why
        if r.error_code.val != Codes.SUCCESS:
            assert r.error_code.val == Codes.NO_IK_SOLUTION
            assert "below the required 15 mm" in r.error_code.message
    # without avoid_collisions the margin is reported, not required
    s, p, quat = goals[0]
    res = solve(client, p, quat, seed=s, avoid_collisions=False)
    assert res.error_code.val == Codes.SUCCESS, res.error_code.message


def test_clearance_beyond_reach_refuses_with_the_reason(client, restore):
    ((_, p, quat),) = reachable_goals(1, seed=5)
    results = fx.set_params(client, required_clearance=0.25)
    assert all(r.successful for r in results)
    res = solve(client, p, quat, timeout=0.2)
    assert res.error_code.val == Codes.NO_IK_SOLUTION
    assert "below the required 250 mm" in res.error_code.message


def test_removed_collision_margin_is_refused_with_what_to_use(client):
    (result,) = fx.set_params(client, collision_margin=0.005)
    assert not result.successful
    assert "collision_margin" in result.reason and "required_clearance" in result.reason


def test_timeouts_take_effect(client, restore):
    """The budget a request gets is named in a refusal: default_timeout for a zero timeout,
    max_timeout as the cap."""
    far = [2.5, 0.0, 0.4]  # out of reach: always refused, with the budget in the message
    results = fx.set_params(client, default_timeout=0.123)
    assert all(r.successful for r in results)
    res = client.call(client.ik, make_request(far, [1, 0, 0, 0]))
    assert (
        res.error_code.val == Codes.NO_IK_SOLUTION and "within 0.123 s" in res.error_code.message
    )
    results = fx.set_params(client, max_timeout=0.25)
    assert all(r.successful for r in results)
    res = solve(client, far, [1, 0, 0, 0], timeout=3.0)
    assert (
        res.error_code.val == Codes.NO_IK_SOLUTION and "within 0.250 s" in res.error_code.message
    )


@pytest.mark.parametrize(
    "name, value, words",
    [
        ("position_tolerance", 0.0, "must be > 0"),
        ("position_tolerance", -1e-3, "must be > 0"),
        ("orientation_tolerance", float("nan"), "must be > 0"),
        ("collision_padding", -0.001, "must be >= 0"),
        ("required_clearance", -0.001, "must be >= 0"),
        ("preferred_clearance", float("nan"), "must be >= 0"),
        ("default_timeout", 0.0, "must be > 0"),
        ("max_timeout", -5.0, "must be > 0"),
        ("position_tolerance", "loose", "type"),
    ],
)
def test_out_of_range_values_are_refused_with_a_reason_and_change_nothing(
    client, kin, name, value, words
):
    (result,) = fx.set_params(client, **{name: value})
    assert not result.successful
    assert words in result.reason and (name in result.reason or words == "type"), result.reason
    assert get_params(client, name) == [DEFAULTS[name]]
    ((_, p, quat),) = reachable_goals(1, seed=6)
    res = solve(client, p, quat)  # still served under the old rules
    assert res.error_code.val == Codes.SUCCESS, res.error_code.message
    dp, dr = fx.goal_error(kin, res.solution.joint_state.position[:7], p, quat)
    assert dp <= 1e-4 and dr <= 1e-3


def test_removed_collision_margin_in_a_parameter_file_stops_the_node(tmp_path):
    """An old configuration naming collision_margin is refused at start-up with one line, not
    silently reinterpreted (a capsule distance read as a mesh clearance)."""
    text = (fx.ROOT / "config" / "ik_server.yaml").read_text()
    old = tmp_path / "old.yaml"
    old.write_text(
        text.replace(
            "    required_clearance:", "    collision_margin: 0.005\n    required_clearance:"
        )
    )
    proc = subprocess.run(
        ik_server_command(namespace=fx.NS, params_file=old),
        env=fx.ENV,
        capture_output=True,
        text=True,
        timeout=fx.WAIT,
    )
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ik_server: "), proc.stderr
    assert "collision_margin" in lines[0] and "required_clearance" in lines[0]
