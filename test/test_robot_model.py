"""Robot description loading: the shipped files, and clear errors for broken ones."""

import numpy as np
import pytest
import yaml
from scipy.spatial.transform import Rotation

from dtd_ik.exceptions import ConfigError
from dtd_ik.paths import config_path, share_dir
from dtd_ik.robot.model import load_robot_model, rpy_to_matrix


def test_rpy_matches_scipy_extrinsic_xyz():
    rpy = [0.3, -1.1, 2.0]
    assert np.allclose(rpy_to_matrix(*rpy), Rotation.from_euler("xyz", rpy).as_matrix())


def test_shipped_model_frames():
    m = load_robot_model()
    assert m.chain_links[0] == "panda_link0" and m.chain_links[-1] == "panda_link7"
    index, offset = m.frame("panda_hand_tcp")
    assert index == 7
    assert np.allclose(offset[:3, 3], [0, 0, 0.107 + 0.1034])
    assert np.allclose(Rotation.from_matrix(offset[:3, :3]).as_rotvec(), [0, 0, -np.pi / 4])


def test_shipped_moveit_facts_are_moveit_panda_config():
    """The values of MoveIt's Panda SRDF (moveit_resources_panda_moveit_config)."""
    moveit = load_robot_model().moveit
    assert moveit.ready_state == (0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785)
    assert moveit.other_joints == ("panda_finger_joint1", "panda_finger_joint2")
    assert moveit.virtual_joint == "virtual_joint"
    assert moveit.group_aliases == {"panda_manipulator": "panda_hand_tcp"}
    assert moveit.groups_without_ik == ("hand",)


def write_config(tmp_path, mutate):
    cfg = yaml.safe_load(config_path("panda_robot.yaml").read_text())
    cfg["robot"]["urdf"] = str(share_dir() / cfg["robot"]["urdf"])
    mutate(cfg)
    path = tmp_path / "robot.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c["robot"].pop("base_frame"), "robot.base_frame"),
        (
            lambda c: c["robot"].update(joint_names=["panda_joint1", "panda_joint3"]),
            "panda_joint3",
        ),
        (lambda c: c["robot"].update(tip_frame="nowhere"), "robot.tip_frame"),
        (lambda c: c["robot"].update(urdf="/does/not/exist.urdf"), "robot.urdf"),
        (lambda c: c["collision"]["capsules"][0].update(radius=-0.1), r"capsules\[0\].radius"),
        (lambda c: c["collision"]["capsules"][1].update(a=[0, 1]), r"capsules\[1\].a"),
        (
            lambda c: c["collision"]["capsules"][0].update(link="panda_link42"),
            r"capsules\[0\].link",
        ),
        (lambda c: c["collision"]["disabled_pairs"].append(["panda_link0"]), "disabled_pairs"),
        (
            lambda c: c["collision"]["distance_maps"][0].update(
                joints=["panda_joint5", "panda_joint7"]
            ),
            r"distance_maps\[0\]: the pose",
        ),
        (
            lambda c: c["collision"]["distance_maps"][0].update(links=["panda_link6"]),
            r"distance_maps\[0\]: the pose",
        ),
        (
            lambda c: c["collision"]["distance_maps"][0].update(file="/does/not/exist.npz"),
            r"distance_maps\[0\].file",
        ),
        (lambda c: c["collision"]["distance_maps"][0].pop("joints"), r"distance_maps\[0\].joints"),
        (lambda c: c["moveit"].update(ready_state=[0.0] * 6), "moveit.ready_state: expected 7"),
        (lambda c: c["moveit"].update(ready_state=[0.0] * 7), "moveit.ready_state: outside"),
        (
            lambda c: c["moveit"].update(group_aliases={"arm": "panda_link7"}),
            "moveit.group_aliases.arm",
        ),
        (lambda c: c["moveit"].update(other_joints=["panda_joint1"]), "moveit.other_joints"),
        (lambda c: c["moveit"].update(ready=[0.0] * 7), "moveit.ready: unknown key"),
    ],
)
def test_bad_robot_config_names_the_key(tmp_path, mutate, message):
    with pytest.raises(ConfigError, match=message):
        load_robot_model(write_config(tmp_path, mutate))


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_robot_model(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("robot: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_robot_model(bad)
