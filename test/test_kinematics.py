"""FK and Jacobian against independent references: pybullet's Panda URDF, TRAC-IK's KDL FK, and
finite differences."""

import math
import os

import numpy as np
import pybullet_data
import pytest
import torch
from scipy.spatial.transform import Rotation

from dtd_ik.exceptions import InvalidInputError, UnknownFrameError
from joint_samples import random_joints
from pybullet_panda import FK_TOLERANCE

TCP_OFFSET = 0.1034  # panda_hand -> panda_hand_tcp along the hand's z [m] (Franka's hand TCP)
N_CONFIGS = 2000


def test_model_matches_franka_facts(kin):
    m = kin.model
    assert m.joint_names == tuple(f"panda_joint{i}" for i in range(1, 8))
    assert m.base_frame == "panda_link0" and m.tip_frame == "panda_link8"
    np.testing.assert_allclose(
        m.lower, [-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973]
    )
    np.testing.assert_allclose(m.upper, [2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973])
    assert set(m.ik_frames) == {"panda_link8", "panda_hand", "panda_hand_tcp"}


@pytest.mark.parametrize("tip", ["panda_link8", "panda_hand", "panda_hand_tcp"])
def test_fk_matches_pybullet(kin, pybullet_panda, tip):
    Q = random_joints(kin, N_CONFIGS, seed=1)
    pose = kin.forward(torch.tensor(Q), tip)
    pb_link = "panda_hand" if tip == "panda_hand_tcp" else tip
    worst_p = worst_r = 0.0
    for q, p, R in zip(Q, pose.position.numpy(), pose.rotation.numpy()):
        pybullet_panda.set_joints(q)
        ref_p, ref_quat = pybullet_panda.link_pose(pb_link)
        ref_R = Rotation.from_quat(ref_quat).as_matrix()
        if tip == "panda_hand_tcp":
            ref_p = ref_p + ref_R[:, 2] * TCP_OFFSET
        worst_p = max(worst_p, np.abs(p - ref_p).max())
        worst_r = max(worst_r, Rotation.from_matrix(R @ ref_R.T).magnitude())
    assert worst_p < FK_TOLERANCE and worst_r < FK_TOLERANCE, (worst_p, worst_r)


def test_fk_matches_tracik(kin):
    pytracik = pytest.importorskip("pytracik")
    urdf = open(os.path.join(pybullet_data.getDataPath(), "franka_panda", "panda.urdf")).read()
    solver = pytracik.TRAC_IK("panda_link0", "panda_hand", urdf, 0.02, 1e-5, pytracik.Speed)
    Q = random_joints(kin, N_CONFIGS, seed=2)
    pose = kin.forward(torch.tensor(Q), "panda_hand")
    for q, p, R in zip(Q, pose.position.numpy(), pose.rotation.numpy()):
        T = np.asarray(pytracik.fk(solver, q))
        assert np.abs(T[:3, 3] - p).max() < 1e-6
        assert Rotation.from_matrix(T[:3, :3] @ R.T).magnitude() < 1e-6


def test_quaternion_output_is_xyzw_of_the_rotation(kin):
    Q = torch.tensor(random_joints(kin, 200, seed=3))
    pose = kin.forward(Q, "panda_hand")
    expected = Rotation.from_matrix(pose.rotation.numpy()).as_quat()
    q = pose.quaternion.numpy()
    assert np.all(q[:, 3] >= 0)
    assert np.minimum(np.abs(q - expected).max(1), np.abs(q + expected).max(1)).max() < 1e-12


@pytest.mark.parametrize("tip", ["panda_link8", "panda_hand_tcp"])
def test_jacobian_matches_finite_differences(kin, tip):
    Q = torch.tensor(random_joints(kin, 50, seed=4))
    pose, J = kin.forward_and_jacobian(Q, tip)
    h = 1e-6
    for i in range(kin.dof):
        dq = torch.zeros(kin.dof, dtype=torch.float64)
        dq[i] = h
        plus, minus = kin.forward(Q + dq, tip), kin.forward(Q - dq, tip)
        dp = (plus.position - minus.position) / (2 * h)
        # angular velocity from the rotation derivative: [w]x = dR/dq R^T
        dR = (plus.rotation - minus.rotation) / (2 * h)
        W = dR @ pose.rotation.transpose(-1, -2)
        w = torch.stack([W[:, 2, 1], W[:, 0, 2], W[:, 1, 0]], dim=-1)
        assert torch.allclose(J[:, :3, i], dp, atol=1e-8)
        assert torch.allclose(J[:, 3:, i], w, atol=1e-8)


def test_batch_shapes_and_dtypes(kin):
    q64 = torch.tensor(random_joints(kin, 24, seed=5)).reshape(2, 3, 4, 7)
    pose, J = kin.forward_and_jacobian(q64, "panda_hand")
    assert pose.position.shape == (2, 3, 4, 3) and pose.rotation.shape == (2, 3, 4, 3, 3)
    assert J.shape == (2, 3, 4, 6, 7) and pose.quaternion.shape == (2, 3, 4, 4)
    single = kin.forward(q64[1, 2, 3], "panda_hand")
    assert single.position.shape == (3,)
    assert torch.allclose(single.position, pose.position[1, 2, 3])
    p32 = kin.forward(q64.float(), "panda_hand")
    assert p32.position.dtype == torch.float32
    assert torch.allclose(p32.position.double(), pose.position, atol=1e-5)
    frames = kin.frame_transforms(q64, ["panda_link3", "panda_hand"])
    assert frames.shape == (2, 3, 4, 2, 4, 4)


def test_local_transform_terms_are_the_joint_origin_times_the_axis_rotation(kin):
    terms = kin.local_transform_terms()
    for q in random_joints(kin, 5, seed=9):
        chain = np.eye(4)
        for i, qi in enumerate(q):
            local = (
                terms["M0"][i] + np.sin(qi) * terms["M1"][i] + (1 - np.cos(qi)) * terms["M2"][i]
            )
            rotation = np.eye(4)
            rotation[:3, :3] = Rotation.from_rotvec(qi * terms["axes"][i]).as_matrix()
            np.testing.assert_allclose(local, kin.model.joint_origins[i] @ rotation, atol=1e-12)
            chain = chain @ local
        np.testing.assert_allclose(
            chain, kin.chain_transforms(torch.tensor(q))[-1].numpy(), atol=1e-12
        )


def test_fk_is_differentiable(kin):
    q = torch.tensor(random_joints(kin, 8, seed=6), requires_grad=True)
    kin.forward(q, "panda_hand").position.sum().backward()
    J = kin.jacobian(q.detach(), "panda_hand")
    assert torch.allclose(q.grad, J[:, :3].sum(1), atol=1e-10)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_matches_cpu(kin):
    q = torch.tensor(random_joints(kin, 64, seed=7))
    cpu = kin.forward(q, "panda_hand").position
    gpu = kin.forward(q.cuda(), "panda_hand").position
    assert gpu.device.type == "cuda" and torch.allclose(gpu.cpu(), cpu, atol=1e-9)


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.zeros(6), "shape"),
        (torch.zeros(3, 8), "shape"),
        (torch.tensor(0.0), "shape"),
        (torch.tensor([0.0, 0, 0, math.nan, 0, 0, 0]), "NaN"),
        (torch.tensor([0.0, 0, 0, -1, math.inf, 0, 0]), "NaN or inf"),
        ("seven", "numeric"),
    ],
)
def test_bad_joint_input_raises_value_error(kin, bad, message):
    with pytest.raises(ValueError, match=message):
        kin.forward(bad)
    with pytest.raises(InvalidInputError):
        kin.forward_and_jacobian(bad)


def test_unknown_frame(kin):
    with pytest.raises(UnknownFrameError, match="panda_link9"):
        kin.forward(torch.zeros(7), "panda_link9")


def test_validate_false_leaves_out_only_the_nan_check(kin, capsules):
    """The training objective's path (validate=False: no device synchronisation) still refuses
    bad shapes, and on finite input gives what the checked path gives."""
    q = torch.tensor([[0.0, 0, 0, math.nan, 0, 0, 0], [0.1, -0.2, 0.3, -1.5, 0.2, 1.2, 0.4]])
    pose = kin.forward(q, validate=False)
    assert torch.isnan(pose.position[0]).any()
    assert torch.equal(pose.position[1], kin.forward(q[1]).position)
    capsules.distance(q, validate=False)  # answers (NaN in, meaningless out) without raising
    assert torch.equal(
        capsules.distance(q, validate=False).distance[1], capsules.distance(q[1]).distance
    )
    with pytest.raises(InvalidInputError, match="NaN"):
        capsules.distance(q)
    with pytest.raises(InvalidInputError, match="shape"):
        kin.forward(torch.zeros(6), validate=False)
