"""The training objective builds the FK chain once per batch and shares it between the tip pose
and the capsules; both agree with pybullet's Panda and with the capsule model on its own."""

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from dtd_ik.kinematics.losses import collision_loss
from dtd_ik.training.objective import IKObjective
from joint_samples import random_joints


def test_losses_match_pybullet_poses_and_the_capsule_distance(kin, capsules, pybullet_panda):
    objective = IKObjective(kin, capsules, "panda_hand")
    q = torch.tensor(random_joints(kin, 64, seed=5), dtype=torch.float64)
    goal_q = torch.tensor(random_joints(kin, 64, seed=6))
    x = []
    for joints in goal_q.numpy():  # goals from pybullet's FK, not ours
        pybullet_panda.set_joints(joints)
        p, quat = pybullet_panda.link_pose("panda_hand")
        x.append(np.concatenate([p, quat]))
    x = torch.tensor(np.array(x))
    t = objective(q, x)
    pos_sq, angle = [], []
    for joints, goal in zip(q.numpy(), x.numpy()):
        pybullet_panda.set_joints(joints)
        p, quat = pybullet_panda.link_pose("panda_hand")
        pos_sq.append(((p - goal[:3]) ** 2).sum())
        angle.append((Rotation.from_quat(quat).inv() * Rotation.from_quat(goal[3:])).magnitude())
    np.testing.assert_allclose(t.position_sq.numpy(), pos_sq, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(t.orientation.numpy(), angle, atol=1e-6)
    # the distance from the shared chain is the capsule model's own (tested against meshes)
    assert torch.equal(t.distance, capsules.distance(q).distance)
    assert torch.allclose(
        t.losses,
        torch.stack(
            [
                torch.tensor(pos_sq).mean(),
                torch.tensor(angle).mean(),
                collision_loss(capsules.distance(q).distance).mean(),
            ]
        ),
        rtol=1e-6,
        atol=1e-9,
    )


def test_one_fk_chain_per_batch(kin, capsules):
    objective = IKObjective(kin, capsules, "panda_hand")
    calls = []
    chain = kin._chain

    def counting(q):
        calls.append(q.shape)
        return chain(q)

    kin._chain = counting
    try:
        q = torch.tensor(random_joints(kin, 8, seed=7), dtype=torch.float32, requires_grad=True)
        x = torch.zeros(8, 7)
        x[:, 6] = 1.0
        objective(q, x).losses.sum().backward()
        # and the capsule model alone still builds its own
        capsules.distance(q.detach())
    finally:
        del kin._chain
    assert len(calls) == 2
    assert torch.isfinite(q.grad).all()


def test_frame_pose_and_distance_from_a_shared_chain_for_any_batch_shape(kin, capsules):
    q = torch.tensor(random_joints(kin, 6, seed=8)).reshape(2, 3, 7)
    chain = kin.chain_transforms(q)
    assert chain.shape == (2, 3, 8, 4, 4)
    for frame in ("panda_link8", "panda_hand", "panda_hand_tcp"):
        pose, ref = kin.frame_pose(chain, frame), kin.forward(q, frame)
        assert pose.position.shape == (2, 3, 3) and pose.rotation.shape == (2, 3, 3, 3)
        assert torch.equal(pose.position, ref.position)
        assert torch.equal(pose.rotation, ref.rotation)
    shared = capsules.distance(q, chain=chain)
    assert torch.equal(shared.distance, capsules.distance(q).distance)
    assert shared.distance.shape == (2, 3)
