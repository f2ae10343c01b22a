"""Start the dtd_ik IK server: ``ros2 launch dtd_ik ik_server.launch.py [model_path:=...]``.

Serves moveit_msgs/GetPositionIK on ``compute_ik`` and GetPositionFK on ``compute_fk`` (relative
names: ``namespace:=`` and remaps apply) with the parameters of config/ik_server.yaml.
"""
from pathlib import Path

from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from dtd_ik.ros.parameters import NODE_NAME, ServerParameters
from launch import LaunchDescription

PACKAGE = "dtd_ik"
EXECUTABLE = "ik_server"
PARAMS_FILE = Path("config") / "ik_server.yaml"
DEFAULTS = ServerParameters()  # the node's own defaults, not restated here


def generate_launch_description() -> LaunchDescription:
    args = [
        DeclareLaunchArgument("namespace", default_value="", description="node namespace"),
        DeclareLaunchArgument("params_file", default_value=PathJoinSubstitution(
            [FindPackageShare(PACKAGE), str(PARAMS_FILE)]), description="node parameters"),
        DeclareLaunchArgument("model_path", default_value=DEFAULTS.model_path,
                              description="IK network (auto, none, or a path)"),
        DeclareLaunchArgument("solution_topic", default_value=DEFAULTS.solution_topic,
                              description="JointState of every solution (e.g. /joint_states)"),
    ]
    server = Node(
        package=PACKAGE,
        executable=EXECUTABLE,
        name=NODE_NAME,
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        parameters=[LaunchConfiguration("params_file"),
                    {"model_path": LaunchConfiguration("model_path"),
                     "solution_topic": LaunchConfiguration("solution_topic")}],
    )
    return LaunchDescription([*args, server])
