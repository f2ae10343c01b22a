"""The model-file contract (docs/model_format.md): what loads, and what is refused with one
line."""

import pytest
import torch
from torch import nn

from contract_networks import MidRange
from dtd_ik.exceptions import InvalidInputError, ModelLoadError
from dtd_ik.robot.model import load_robot_model
from dtd_ik.solver.network import load_ik_network


@pytest.fixture(scope="module")
def robot():
    return load_robot_model()


def save(tmp_path, module, name="net.pt"):
    path = tmp_path / name
    torch.jit.script(module).save(str(path))
    return path


def test_a_contract_module_loads_and_runs(tmp_path, robot):
    net = load_ik_network(save(tmp_path, MidRange(robot.joint_names, robot.lower, robot.upper)))
    assert net.tip_frame == "panda_hand" and net.joint_names == robot.joint_names
    q = net(torch.zeros(5, 7))
    assert q.shape == (5, 7) and q.dtype == torch.float32
    assert torch.allclose(
        q[0].double(), torch.as_tensor((robot.lower + robot.upper) / 2), atol=1e-6
    )
    with pytest.raises(InvalidInputError, match=r"\(N, 7\)"):
        net(torch.zeros(5, 6))


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda r: MidRange(r.joint_names[::-1], r.lower, r.upper), "made for joints"),
        (lambda r: MidRange(r.joint_names, r.lower, r.upper, version=2), "format version 2"),
        (lambda r: MidRange(r.joint_names, r.lower, r.upper, tip="panda_link42"), "tip frame"),
        (lambda r: MidRange(r.joint_names, r.lower * 0.5, r.upper), "joint limits q_min"),
    ],
)
def test_a_model_for_another_robot_is_refused(tmp_path, robot, make, reason):
    path = save(tmp_path, make(robot))
    with pytest.raises(ModelLoadError, match=reason) as err:
        load_ik_network(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_truncated_and_foreign_files_are_refused_with_one_line(tmp_path, robot):
    good = save(tmp_path, MidRange(robot.joint_names, robot.lower, robot.upper))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a model at all")
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(3)}, plain)  # a pickle, not TorchScript
    bare = save(tmp_path, nn.Linear(7, 7), "bare.pt")  # TorchScript without the contract
    cases = [
        (tmp_path / "missing.pt", "not found"),
        (truncated, "not a readable TorchScript"),
        (garbage, "not a readable TorchScript"),
        (plain, "not a readable TorchScript"),
        (bare, "no attribute 'format_version'"),
    ]
    for path, reason in cases:
        with pytest.raises(ModelLoadError, match=reason) as err:
            load_ik_network(path)
        assert str(err.value).startswith(str(path)) and "\n" not in str(err.value), path
