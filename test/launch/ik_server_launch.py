"""launch_testing test of launch/ik_server.launch.py, run by ``launch_test`` (test_ros_tools.py).

Starts the launch file as ``ros2 launch`` would (in a namespace of its own, without a network),
calls ``compute_ik`` once with a goal made by FK of a known configuration, and after the launch
is shut down (SIGINT to the server) checks that every process exited cleanly.
"""

import os
import unittest
from pathlib import Path

import launch_testing
import launch_testing.asserts
import numpy as np
import rclpy
from launch import LaunchDescription
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from moveit_msgs.msg import MoveItErrorCodes
from moveit_msgs.srv import GetPositionIK

LAUNCH_FILE = Path(__file__).resolve().parents[2] / "launch" / "ik_server.launch.py"
NAMESPACE = f"launch_test_{os.getpid()}"
#: A reachable configuration [rad] whose hand pose is the goal.
Q_GOAL = (0.3, -0.4, 0.2, -2.0, 0.1, 1.8, 0.6)
#: First start may compile the solver's kernels (about a minute, more on a loaded machine).
SERVICE_WAIT = 300.0  # [s]


def generate_test_description():
    server = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(LAUNCH_FILE)),
        launch_arguments={"namespace": NAMESPACE, "model_path": "none"}.items(),
    )
    return LaunchDescription([server, launch_testing.actions.ReadyToTest()])


def hand_goal(q) -> tuple[np.ndarray, np.ndarray]:
    """Position [m] and x-y-z-w quaternion of panda_hand at ``q``: the torch kinematics, which
    the kinematics tests check against pybullet's Panda."""
    import torch

    from dtd_ik.kinematics import Kinematics

    pose = Kinematics().forward(torch.tensor([q], dtype=torch.float64), "panda_hand")
    return pose.position[0].numpy(), pose.quaternion[0].numpy()


class TestComputeIK(unittest.TestCase):
    def test_compute_ik_answers_a_reachable_goal(self, proc_output):
        rclpy.init()
        try:
            node = rclpy.create_node("launch_test_client", namespace=NAMESPACE)
            client = node.create_client(GetPositionIK, "compute_ik")
            self.assertTrue(
                client.wait_for_service(timeout_sec=SERVICE_WAIT), "compute_ik was not served"
            )
            position, quaternion = hand_goal(Q_GOAL)
            request = GetPositionIK.Request()
            ik = request.ik_request
            ik.group_name = "panda_arm"
            ik.ik_link_name = "panda_hand"
            ik.pose_stamped.header.frame_id = "panda_link0"
            p, o = ik.pose_stamped.pose.position, ik.pose_stamped.pose.orientation
            p.x, p.y, p.z = (float(v) for v in position)
            o.x, o.y, o.z, o.w = (float(v) for v in quaternion)
            ik.timeout.nanosec = 500_000_000
            future = client.call_async(request)
            rclpy.spin_until_future_complete(node, future, timeout_sec=60.0)
            self.assertTrue(future.done(), "no answer within 60 s")
            response = future.result()
            self.assertEqual(response.error_code.val, MoveItErrorCodes.SUCCESS)
            js = response.solution.joint_state
            q = [js.position[js.name.index(f"panda_joint{i}")] for i in range(1, 8)]
            got_p, got_q = hand_goal(q)
            self.assertLess(np.linalg.norm(got_p - position), 1e-3)  # [m]
            self.assertGreater(abs(float(got_q @ quaternion)), np.cos(1e-2 / 2))  # < 0.01 rad
            node.destroy_node()
        finally:
            rclpy.shutdown()


@launch_testing.post_shutdown_test()
class TestCleanShutdown(unittest.TestCase):
    def test_server_exits_cleanly_on_sigint(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)  # 0 after launch's SIGINT
