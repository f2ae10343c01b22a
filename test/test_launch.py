"""launch/ik_server.launch.py: what can be checked without launch_ros; the rest where it exists.

launch/launch_ros are not on PyPI (no system ROS here): the file is read as source to check that it
names an executable setup.py installs and a parameter file that exists; where launch_ros is
installed the launch description is built and its node inspected.
"""

import ast
import importlib.util
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.ros

ROOT = Path(__file__).resolve().parent.parent
LAUNCH = ROOT / "launch" / "ik_server.launch.py"


def constants(path: Path) -> dict:
    tree = ast.parse(path.read_text())
    return {
        t.id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    }


def test_launch_file_names_an_installed_executable_and_an_existing_parameter_file():
    c = constants(LAUNCH)
    assert ast.literal_eval(c["PACKAGE"]) == "dtd_ik"
    executable = ast.literal_eval(c["EXECUTABLE"])
    setup = (ROOT / "setup.py").read_text()
    assert f'"{executable} = dtd_ik.ros.server:main"' in setup
    params = ROOT / "config" / "ik_server.yaml"
    assert "ik_server.yaml" in ast.unparse(c["PARAMS_FILE"]) and params.is_file()
    assert 'share("config", "*.yaml")' in setup  # installed where FindPackageShare looks
    compile(LAUNCH.read_text(), str(LAUNCH), "exec")


def test_parameter_file_targets_the_node_and_restates_the_defaults():
    """config/ik_server.yaml lists every parameter for users to edit, each at the node's own
    default (the robot ones at the robot description's value): the two cannot drift apart."""
    from dtd_ik.robot import load_robot_model
    from dtd_ik.ros.parameters import NODE_NAME, parameter_table

    doc = yaml.safe_load((ROOT / "config" / "ik_server.yaml").read_text())
    (key,) = doc
    assert key.endswith("/" + NODE_NAME)
    params = doc[key]["ros__parameters"]
    table = {p.name: p.default for p in parameter_table(load_robot_model())}
    assert set(params) == set(table)
    for name, value in params.items():
        assert value == table[name] and type(value) is type(table[name]), name


def test_launch_description_builds_where_launch_ros_is_installed():
    if importlib.util.find_spec("launch_ros") is None:
        pytest.skip("launch_ros is not installable here (not on PyPI); checked on ROS installs")
    spec = importlib.util.spec_from_file_location("ik_server_launch", LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    from launch_ros.actions import Node

    nodes = [e for e in description.entities if isinstance(e, Node)]
    assert len(nodes) == 1 and nodes[0].node_executable == "ik_server"
