"""Message <-> numpy conversions, on hand-built messages (no ROS graph)."""

import math

import numpy as np
import pytest
import torch
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import Pose
from sensor_msgs.msg import JointState

from dtd_ik.exceptions import InvalidInputError
from dtd_ik.kinematics.rotations import quaternion_to_matrix as torch_quaternion_to_matrix
from dtd_ik.robot.spatial import (
    invert_transform,
    matrix_to_quaternion,
    quaternion_to_matrix,
    xyz_quat_to_matrix,
)
from dtd_ik.ros.conversions import (
    duration_to_seconds,
    error_name,
    joint_state_positions,
    make_robot_state,
    matrix_to_pose,
    pose_to_arrays,
    pose_to_matrix,
)

pytestmark = pytest.mark.ros


def random_quaternions(n, seed=0):
    q = np.random.default_rng(seed).normal(size=(n, 4))
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def test_quaternion_matrix_round_trip_and_agreement_with_dtd_ik_rotations():
    for q in random_quaternions(200):
        R = quaternion_to_matrix(q)
        assert np.allclose(R @ R.T, np.eye(3), atol=1e-12) and np.isclose(np.linalg.det(R), 1)
        ref = torch_quaternion_to_matrix(torch.tensor(q)).numpy()
        assert np.allclose(R, ref, atol=1e-12)
        back = matrix_to_quaternion(R)
        assert back[3] >= 0 and np.isclose(abs(back @ q), 1, atol=1e-12)  # same rotation


def test_matrix_to_quaternion_near_180_degree_rotations():
    for axis in np.eye(3):
        q = np.append(axis, 0.0)  # 180 deg about a principal axis: the trace < 0 branches
        assert np.allclose(
            quaternion_to_matrix(matrix_to_quaternion(quaternion_to_matrix(q))),
            quaternion_to_matrix(q),
            atol=1e-12,
        )


def pose(x, y, z, qx, qy, qz, qw):
    p = Pose()
    p.position.x, p.position.y, p.position.z = x, y, z
    p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w = qx, qy, qz, qw
    return p


def test_pose_round_trip_and_normalisation():
    T = pose_to_matrix(pose(0.1, -0.2, 0.3, 0.0, 0.0, 2.0, 2.0))  # not unit: normalised
    assert np.allclose(T[:3, 3], [0.1, -0.2, 0.3])
    assert np.allclose(T[:3, :3], quaternion_to_matrix(np.array([0, 0, 1, 1]) / math.sqrt(2)))
    assert np.allclose(pose_to_matrix(matrix_to_pose(T)), T, atol=1e-12)
    assert np.allclose(invert_transform(T) @ T, np.eye(4), atol=1e-12)
    # components so large that their squares overflow (1e400) are still normalised
    for scale in (1e200, 1e300):
        big = pose_to_matrix(pose(0.1, -0.2, 0.3, 0.0, 0.0, 2.0 * scale, 2.0 * scale))
        assert np.allclose(big, T, atol=1e-12), scale


@pytest.mark.parametrize(
    "bad, words",
    [
        (pose(math.nan, 0, 0, 0, 0, 0, 1), "NaN or inf"),
        (pose(0, 0, 0, 0, 0, math.inf, 1), "NaN or inf"),
        (pose(0, 0, 0, 0, 0, 0, 0), "zero orientation quaternion"),
    ],
)
def test_pose_refusals_name_the_problem(bad, words):
    with pytest.raises(InvalidInputError, match=words):
        pose_to_arrays(bad, "goal")


def test_joint_state_positions_checks_lengths_duplicates_and_values():
    js = JointState(name=["a", "b"], position=[0.1, 0.2])
    assert joint_state_positions(js) == {"a": 0.1, "b": 0.2}
    with pytest.raises(InvalidInputError, match="2 names but 1 positions"):
        joint_state_positions(JointState(name=["a", "b"], position=[0.1]))
    with pytest.raises(InvalidInputError, match="names a joint twice"):
        joint_state_positions(JointState(name=["a", "a"], position=[0.1, 0.2]))
    with pytest.raises(InvalidInputError, match="non-finite positions for b"):
        joint_state_positions(JointState(name=["a", "b"], position=[0.1, math.nan]))


def test_duration_honours_nanoseconds():
    assert duration_to_seconds(Duration(sec=1, nanosec=500_000_000)) == 1.5
    assert duration_to_seconds(Duration(sec=0, nanosec=20_000_000)) == pytest.approx(0.02)


def test_parameter_pose_needs_seven_numbers():
    expected = [[1, 0, 0, 1], [0, 1, 0, 2], [0, 0, 1, 3], [0, 0, 0, 1]]
    assert np.allclose(xyz_quat_to_matrix([1, 2, 3, 0, 0, 0, 1], "p"), expected)
    with pytest.raises(InvalidInputError, match="must be"):
        xyz_quat_to_matrix([1, 2, 3], "p")


def test_full_robot_state_has_every_joint_and_the_virtual_joint():
    stamp = Time(sec=3, nanosec=4)
    T = np.eye(4)
    T[:3, 3] = [0.5, 0, 0]
    state = make_robot_state(
        ["j1", "j2", "f1"], [0.1, 0.2, 0.0], stamp, "world", "virtual_joint", T
    )
    assert not state.is_diff
    assert list(state.joint_state.name) == ["j1", "j2", "f1"]
    assert list(state.joint_state.position) == [0.1, 0.2, 0.0]
    assert state.joint_state.header.frame_id == "world" and state.joint_state.header.stamp == stamp
    assert list(state.multi_dof_joint_state.joint_names) == ["virtual_joint"]
    assert state.multi_dof_joint_state.transforms[0].translation.x == 0.5


def test_error_names():
    assert error_name(-31) == "NO_IK_SOLUTION" and error_name(1) == "SUCCESS"
    assert error_name(12345) == "12345"
