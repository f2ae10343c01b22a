"""ROS message <-> numpy conversions for the IK server: pure functions, no ROS graph.

Quaternions are x-y-z-w everywhere (as in ROS and in dtd_ik). Transforms are (4, 4) float64
homogeneous matrices [m]; the maths on them lives in :mod:`dtd_ik.robot.spatial`. These functions
import message types only, never rclpy's node layer, so they are tested with hand-built messages
(test/test_ros_conversions.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import Pose, PoseStamped, Transform
from moveit_msgs.msg import MoveItErrorCodes, RobotState
from sensor_msgs.msg import JointState

from dtd_ik.exceptions import InvalidInputError
from dtd_ik.robot.spatial import checked_pose, matrix_to_quaternion, transform_matrix


def pose_to_arrays(pose: Pose, what: str = "pose") -> tuple[np.ndarray, np.ndarray]:
    """A geometry_msgs/Pose -> (position (3,) [m], unit quaternion (4,) x-y-z-w).

    Raises InvalidInputError for NaN/inf or a quaternion of norm ~0; any other quaternion is
    normalised (clients often send slightly non-unit quaternions).
    """
    p, o = pose.position, pose.orientation
    return checked_pose((p.x, p.y, p.z), (o.x, o.y, o.z, o.w), what)


def pose_to_matrix(pose: Pose, what: str = "pose") -> np.ndarray:
    """A geometry_msgs/Pose -> (4, 4) transform; see :func:`pose_to_arrays` for the checks."""
    return transform_matrix(*pose_to_arrays(pose, what))


def matrix_to_pose(T: np.ndarray) -> Pose:
    """(4, 4) transform -> geometry_msgs/Pose."""
    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in T[:3, 3])
    q = matrix_to_quaternion(T[:3, :3])
    o = pose.orientation
    o.x, o.y, o.z, o.w = (float(v) for v in q)
    return pose


def matrix_to_transform(T: np.ndarray) -> Transform:
    """(4, 4) transform -> geometry_msgs/Transform."""
    t = Transform()
    t.translation.x, t.translation.y, t.translation.z = (float(v) for v in T[:3, 3])
    q = matrix_to_quaternion(T[:3, :3])
    t.rotation.x, t.rotation.y, t.rotation.z, t.rotation.w = (float(v) for v in q)
    return t


def duration_to_seconds(d: Duration) -> float:
    """builtin_interfaces/Duration -> seconds (sec + nanosec, both honoured)."""
    return float(d.sec) + float(d.nanosec) * 1e-9


def joint_state_positions(
    js: JointState, what: str = "robot_state.joint_state"
) -> dict[str, float]:
    """name -> position of a JointState; InvalidInputError when lengths differ or values are not
    finite (move_group silently ignores such a state; dtd_ik says what is wrong)."""
    names, positions = list(js.name), list(js.position)
    if len(names) != len(positions):
        raise InvalidInputError(f"{what} has {len(names)} names but {len(positions)} positions")
    if len(set(names)) != len(names):
        raise InvalidInputError(f"{what} names a joint twice")
    values = np.asarray(positions, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        bad = [n for n, v in zip(names, values) if not math.isfinite(v)]
        raise InvalidInputError(f"{what} has non-finite positions for {', '.join(bad)}")
    return dict(zip(names, values.tolist()))


def make_joint_state(
    names: Sequence[str],
    positions: Sequence[float],
    stamp: Time,
    frame_id: str = "",
    msg: JointState | None = None,
) -> JointState:
    """A sensor_msgs/JointState with positions only (filling ``msg`` when given)."""
    js = JointState() if msg is None else msg
    js.header.stamp = stamp
    js.header.frame_id = frame_id
    js.name = list(names)
    js.position = [float(v) for v in positions]
    return js


def make_robot_state(
    names: Sequence[str],
    positions: Sequence[float],
    stamp: Time,
    frame_id: str,
    virtual_joint: str | None = None,
    virtual_transform: np.ndarray | Transform | None = None,
    state: RobotState | None = None,
) -> RobotState:
    """A full (is_diff false) moveit_msgs/RobotState: every single-DOF joint in ``names`` order
    and, when given, the virtual joint tying the model frame to the robot's base (a (4, 4)
    matrix, or a ready Transform message that callers may cache). Fills ``state`` when given
    (e.g. a response's own field: one message construction less per answer)."""
    state = RobotState() if state is None else state
    state.is_diff = False
    make_joint_state(names, positions, stamp, frame_id, msg=state.joint_state)
    if virtual_joint:
        mdof = state.multi_dof_joint_state
        mdof.header.stamp = stamp
        mdof.header.frame_id = frame_id
        mdof.joint_names = [virtual_joint]
        if not isinstance(virtual_transform, Transform):
            virtual_transform = matrix_to_transform(
                np.eye(4) if virtual_transform is None else virtual_transform
            )
        mdof.transforms = [virtual_transform]
    return state


def make_error_code(val: int, message: str, source: str) -> MoveItErrorCodes:
    """A moveit_msgs/MoveItErrorCodes with its 2.6.0 ``message`` and ``source`` filled in."""
    code = MoveItErrorCodes()
    code.val = int(val)
    code.message = message
    code.source = source
    return code


def make_pose_stamped(T: np.ndarray, frame_id: str, stamp: Time) -> PoseStamped:
    """(4, 4) transform -> geometry_msgs/PoseStamped in ``frame_id``."""
    ps = PoseStamped()
    ps.header.frame_id = frame_id
    ps.header.stamp = stamp
    ps.pose = matrix_to_pose(T)
    return ps


ERROR_NAMES = {
    getattr(MoveItErrorCodes, k): k
    for k in dir(MoveItErrorCodes)
    if k.isupper() and isinstance(getattr(MoveItErrorCodes, k), int)
}


def error_name(val: int) -> str:
    """MoveItErrorCodes value -> its constant name (e.g. -31 -> 'NO_IK_SOLUTION')."""
    return ERROR_NAMES.get(int(val), str(val))
