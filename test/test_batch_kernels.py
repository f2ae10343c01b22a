"""Batched compiled kinematics against pybullet's FK, finite differences and the torch collision
model; the serial and the all-cores loops against each other."""

import numpy as np
import torch

from dtd_ik.kinematics.rotations import matrix_to_quaternion
from dtd_ik.solver.kernels.batch import CompiledKinematics
from joint_samples import random_joints
from pybullet_panda import FK_TOLERANCE


def test_batch_forward_matches_pybullet_and_jacobian_matches_finite_differences(
    kin, pybullet_panda
):
    Q = random_joints(kin, 300, seed=31)
    batch = CompiledKinematics()
    R, p, J = batch.forward_and_jacobian(Q, "panda_hand")
    quat = matrix_to_quaternion(torch.tensor(R)).numpy()
    for i in range(0, 300, 10):
        pybullet_panda.set_joints(Q[i])
        ref_p, ref_q = pybullet_panda.link_pose("panda_hand")
        assert np.abs(p[i] - ref_p).max() < FK_TOLERANCE
        assert min(np.abs(quat[i] - ref_q).max(), np.abs(quat[i] + ref_q).max()) < FK_TOLERANCE
    h = 1e-6
    for j in range(7):
        dq = np.zeros(7)
        dq[j] = h
        _, p_hi, _ = batch.forward_and_jacobian(Q + dq, "panda_hand")
        _, p_lo, _ = batch.forward_and_jacobian(Q - dq, "panda_hand")
        assert np.abs(J[:, :3, j] - (p_hi - p_lo) / (2 * h)).max() < 1e-7


def test_batch_min_distance_matches_the_torch_collision_model(kin, capsules):
    Q = random_joints(kin, 2000, seed=32)
    d, k = CompiledKinematics().min_distance(Q)
    ref = capsules.distance(torch.tensor(Q))
    assert np.abs(d - ref.distance.numpy()).max() < 1e-9
    # the closest pair agrees wherever it is unambiguous
    gaps = np.sort(ref.pair_distances.numpy(), axis=1)
    clear = gaps[:, 1] - gaps[:, 0] > 1e-9
    assert (k[clear] == ref.pair_index.numpy()[clear]).all()


def test_serial_and_parallel_loops_give_the_same_answers(kin):
    """One entry point picks the serial or the all-cores loop by batch size: same numbers."""
    Q = random_joints(kin, 50, seed=33)
    serial, parallel = (
        CompiledKinematics(parallel_min_rows=10**9),
        CompiledKinematics(parallel_min_rows=1),
    )
    for a, b in (
        (
            serial.forward_and_jacobian(Q, "panda_hand_tcp"),
            parallel.forward_and_jacobian(Q, "panda_hand_tcp"),
        ),
        (serial.pair_distances(Q), parallel.pair_distances(Q)),
        (serial.min_distance(Q), parallel.min_distance(Q)),
    ):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    R, p = serial.forward(Q, "panda_hand_tcp")
    np.testing.assert_array_equal(p, serial.forward_and_jacobian(Q, "panda_hand_tcp")[1])
