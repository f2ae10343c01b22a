"""moveit_msgs built from ros_interfaces/ is wire-compatible with upstream moveit_msgs 2.6.0.

The reference hashes are those of upstream moveit_msgs 2.6.0 built against the ROS 2 Kilted
wheels (the environment scripts/setup_env.sh builds). A type hash covers every field name and
type, recursively, so equal hashes mean a real MoveIt client and this server agree on the bytes on
the wire.
"""

import json
import sys
from pathlib import Path

import pytest
import rclpy  # installed into .venv by scripts/setup_env.sh: its absence is a failure, not a skip

pytestmark = pytest.mark.ros

PREFIX = Path(sys.prefix)
ROOT = Path(__file__).resolve().parent.parent

UPSTREAM_HASHES = {
    "srv/GetPositionIK": "RIHS01_054ed6f6f71a09b01b5246c5d80beb4dacc6f444f58df039849c76292933e9e3",
    "srv/GetPositionFK": "RIHS01_2f16ec361a135d84b85a29385abeb9eeb025e39c09038bd6b2826645edc7edad",
    "msg/RobotState": "RIHS01_7c516dc15713e545cb2836c5ca745fbdcfcc10de4855a41c83e6b4bf1afc3f83",
    "msg/MoveItErrorCodes": "RIHS01_dcda8a9950cf6dd6ac221c2c0d2509f52f136afa0403dd19beacdf07e83e4a07",  # noqa: E501 (a hash)
}


@pytest.mark.parametrize("name", sorted(UPSTREAM_HASHES))
def test_built_type_hash_equals_upstream(name):
    path = PREFIX / "share" / "moveit_msgs" / f"{name}.json"
    assert path.is_file(), f"{path} missing: scripts/build_ros_interfaces.sh did not install it"
    described = json.loads(path.read_text())
    assert described["type_hashes"][0]["type_name"] == f"moveit_msgs/{name}"
    assert described["type_hashes"][0]["hash_string"] == UPSTREAM_HASHES[name]


def test_types_import_with_upstream_fields_and_constants():
    from moveit_msgs.msg import MoveItErrorCodes, PositionIKRequest, RobotState
    from moveit_msgs.srv import GetPositionFK, GetPositionIK
    from object_recognition_msgs.msg import ObjectType

    assert list(GetPositionIK.Request.get_fields_and_field_types()) == ["ik_request"]
    assert list(GetPositionIK.Response.get_fields_and_field_types()) == ["solution", "error_code"]
    assert list(GetPositionFK.Request.get_fields_and_field_types()) == [
        "header",
        "fk_link_names",
        "robot_state",
    ]
    assert list(PositionIKRequest.get_fields_and_field_types()) == [
        "group_name",
        "robot_state",
        "constraints",
        "avoid_collisions",
        "ik_link_name",
        "pose_stamped",
        "ik_link_names",
        "pose_stamped_vector",
        "timeout",
    ]
    assert RobotState.get_fields_and_field_types()["is_diff"] == "boolean"
    assert list(MoveItErrorCodes.get_fields_and_field_types()) == ["val", "message", "source"]
    assert list(ObjectType.get_fields_and_field_types()) == ["key", "db"]
    # constants do not enter the type hash: check the ones the server answers with
    codes = {
        "SUCCESS": 1,
        "UNDEFINED": 0,
        "FAILURE": 99999,
        "TIMED_OUT": -6,
        "INVALID_GROUP_NAME": -15,
        "INVALID_GOAL_CONSTRAINTS": -16,
        "INVALID_ROBOT_STATE": -17,
        "INVALID_LINK_NAME": -18,
        "FRAME_TRANSFORM_FAILURE": -21,
        "NO_IK_SOLUTION": -31,
    }
    assert {k: getattr(MoveItErrorCodes, k) for k in codes} == codes


def test_wire_type_hash_of_a_live_publisher_equals_upstream():
    """The hash the compiled type support announces over DDS, not just the installed JSON."""
    from moveit_msgs.msg import MoveItErrorCodes, RobotState

    context = rclpy.context.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("type_hash_probe", context=context)
        seen = {}
        for name, msg_type in [
            ("msg/RobotState", RobotState),
            ("msg/MoveItErrorCodes", MoveItErrorCodes),
        ]:
            topic = "probe_" + name.split("/")[1].lower()
            node.create_publisher(msg_type, topic, 1)
            (info,) = node.get_publishers_info_by_topic(topic)
            seen[name] = str(info.topic_type_hash)
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    assert seen == {k: UPSTREAM_HASHES[k] for k in seen}


def test_in_repo_definitions_are_kept_out_of_colcon():
    for pkg in ["moveit_msgs", "object_recognition_msgs"]:
        assert (ROOT / "ros_interfaces" / pkg / "COLCON_IGNORE").is_file(), pkg
