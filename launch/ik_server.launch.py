"""Start the dtd_ik IK server: ``ros2 launch dtd_ik ik_server.launch.py [model_path:=...]``.

Serves moveit_msgs/GetPositionIK on ``compute_ik`` and GetPositionFK on ``compute_fk`` (relative
names: ``namespace:=`` and remaps apply) with the parameters of config/ik_server.yaml. When the
server exits, the launch ends: ``ros2 launch`` exits 0 after a clean stop and 1 when the server
failed (a bad model file, say), so scripts and supervisors see the failure.
"""

from pathlib import Path

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, Shutdown
from launch.events.process import ProcessExited
from launch.launch_context import LaunchContext
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from dtd_ik.ros.parameters import NODE_NAME, ServerParameters

PACKAGE = "dtd_ik"
EXECUTABLE = "ik_server"
PARAMS_FILE = Path("config") / "ik_server.yaml"
DEFAULTS = ServerParameters()  # the node's own defaults, not restated here


def end_launch_with_server(event: ProcessExited, context: LaunchContext) -> list:
    """The server's exit ends the launch; a failure is raised so ``ros2 launch`` returns 1
    (launch reports an exception raised in an event handler with exit code 1)."""
    if event.returncode != 0:
        raise RuntimeError(f"{event.action.name} exited with code {event.returncode}")
    return [Shutdown(reason=f"{event.action.name} exited")]


def generate_launch_description() -> LaunchDescription:
    args = [
        DeclareLaunchArgument("namespace", default_value="", description="node namespace"),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([FindPackageShare(PACKAGE), str(PARAMS_FILE)]),
            description="node parameters",
        ),
        DeclareLaunchArgument(
            "model_path",
            default_value=DEFAULTS.model_path,
            description="IK network (auto, none, or a path)",
        ),
        DeclareLaunchArgument(
            "solution_topic",
            default_value=DEFAULTS.solution_topic,
            description="JointState of every solution (e.g. /joint_states)",
        ),
    ]
    server = Node(
        package=PACKAGE,
        executable=EXECUTABLE,
        name=NODE_NAME,
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        on_exit=end_launch_with_server,
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "model_path": LaunchConfiguration("model_path"),
                "solution_topic": LaunchConfiguration("solution_topic"),
            },
        ],
    )
    return LaunchDescription([*args, server])
