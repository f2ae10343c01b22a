"""The solver's compiled kernels (dtd_ik.solver.kernels.kinematics) against independent references:
pybullet's Panda for FK, finite differences for the Jacobian and the distance gradients, and the
torch kinematics / capsule model (a separate implementation of the same constants)."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from dtd_ik.exceptions import UnknownFrameError
from dtd_ik.solver.kernels.batch import CompiledKinematics
from joint_samples import random_joints
from pybullet_panda import FK_TOLERANCE

TCP_OFFSET = 0.1034  # panda_hand -> panda_hand_tcp along the hand's z [m] (Franka's hand TCP)


@pytest.fixture(scope="module")
def ck():
    return CompiledKinematics()


@pytest.mark.parametrize("tip", ["panda_link8", "panda_hand", "panda_hand_tcp"])
def test_compiled_fk_matches_pybullet(ck, kin, pybullet_panda, tip):
    Q = random_joints(kin, 300, seed=11)
    R, p = ck.forward(Q, tip)
    pb_link = "panda_hand" if tip == "panda_hand_tcp" else tip
    for q, p_i, R_i in zip(Q, p, R):
        pybullet_panda.set_joints(q)
        ref_p, ref_quat = pybullet_panda.link_pose(pb_link)
        ref_R = Rotation.from_quat(ref_quat).as_matrix()
        if tip == "panda_hand_tcp":
            ref_p = ref_p + ref_R[:, 2] * TCP_OFFSET
        assert np.abs(p_i - ref_p).max() < FK_TOLERANCE
        assert Rotation.from_matrix(R_i @ ref_R.T).magnitude() < FK_TOLERANCE


@pytest.mark.parametrize("tip", ["panda_link8", "panda_hand_tcp"])
def test_compiled_fk_and_jacobian_equal_torch_kinematics(ck, kin, tip):
    Q = random_joints(kin, 500, seed=12)
    pose, J_ref = kin.forward_and_jacobian(torch.tensor(Q), tip)
    R, p = ck.forward(Q, tip)
    np.testing.assert_allclose(p, pose.position.numpy(), atol=1e-12)
    np.testing.assert_allclose(R, pose.rotation.numpy(), atol=1e-12)
    np.testing.assert_allclose(ck.jacobian(Q, tip), J_ref.numpy(), atol=1e-12)


def test_compiled_jacobian_matches_finite_differences(ck, kin):
    Q = random_joints(kin, 100, seed=13)
    J = ck.jacobian(Q, "panda_hand")
    h = 1e-6
    for j in range(kin.dof):
        dq = np.zeros(kin.dof)
        dq[j] = h
        (Rp, pp), (Rm, pm) = ck.forward(Q + dq, "panda_hand"), ck.forward(Q - dq, "panda_hand")
        np.testing.assert_allclose((pp - pm) / (2 * h), J[:, :3, j], atol=1e-8)
        # angular velocity: axis-angle of R(q + h) R(q - h)^T over 2h
        w = Rotation.from_matrix(Rp @ np.swapaxes(Rm, 1, 2)).as_rotvec() / (2 * h)
        np.testing.assert_allclose(w, J[:, 3:, j], atol=1e-8)


def test_compiled_pair_distances_equal_the_torch_collision_model(ck, kin, capsules):
    Q = random_joints(kin, 1000, seed=14)
    D, _ = ck.pair_distances(Q)
    ref = capsules.distance(torch.tensor(Q))
    assert ck.robot.pair_names == capsules.pair_names
    np.testing.assert_allclose(D, ref.pair_distances.numpy(), atol=1e-12)
    np.testing.assert_allclose(ck.min_distance(Q)[0], ref.distance.numpy(), atol=1e-12)


def test_compiled_distance_gradients_match_finite_differences(ck, kin):
    Q = random_joints(kin, 200, seed=15)
    _, G = ck.pair_distances(Q)
    h = 1e-7  # small against the distance map's cells (0.012 rad), so few differences straddle one
    worst = []
    for j in range(kin.dof):
        dq = np.zeros(kin.dof)
        dq[j] = h
        fd = (ck.pair_distances(Q + dq)[0] - ck.pair_distances(Q - dq)[0]) / (2 * h)
        worst.append(np.abs(fd - G[:, :, j]))
    err = np.stack(worst)
    # a difference straddling a kink (segment end switch, map cell edge) may differ; the rest
    # agree
    assert np.mean(err < 1e-5) > 0.999, np.sort(err.ravel())[-5:]
    assert np.median(err) < 1e-8


def test_segment_kernel_handles_parallel_and_point_segments(ck):
    from dtd_ik.solver.kernels.kinematics import segment_params

    # parallel, overlapping in x
    s, t = segment_params(*np.array([0, 0, 0, 1, 0, 0, 0.5, 1, 0, 1.5, 1, 0.0]))
    assert 0 <= s <= 1 and 0 <= t <= 1 and abs((0 + s) - (0.5 + t)) < 1e-12
    s, t = segment_params(*np.array([0, 0, 0, 0, 0, 0, -1, 1, 0, 1, 1, 0.0]))
    assert s == 0.0 and abs(t - 0.5) < 1e-12  # a point against a segment: the perpendicular foot


def test_compiled_kinematics_refuses_unknown_frames(ck, kin):
    with pytest.raises(UnknownFrameError, match="panda_link42"):
        ck.forward(random_joints(kin, 1), "panda_link42")


def test_far_pairs_get_a_lower_bound_and_near_pairs_their_exact_distance(ck, kin):
    """The solver's inner loop computes exact distances only below its push margin."""
    from dtd_ik.solver.kernels.kinematics import chain_fk, collision_distances, joint_axes_world

    r, a = ck.robot, ck.robot.arrays
    Q = random_joints(kin, 500, seed=16)
    exact, _ = ck.pair_distances(Q)
    n, P = r.dof, len(r.pair_names)
    F, A, W = np.empty((n + 1, 3, 4)), np.empty((n, 3)), np.empty((len(a.cap_frame), 2, 3))
    D, G = np.empty(P), np.zeros((P, n))
    for threshold in (0.006, 0.05):
        for q, ref in zip(Q, exact):
            chain_fk(q, a.M0, a.M1, a.M2, F)
            joint_axes_world(F, a.axes, A)
            k = collision_distances(q, F, A, W, a, threshold, threshold, D, G)
            assert np.all(D <= ref + 1e-12)
            near = ref < threshold
            np.testing.assert_allclose(D[near], ref[near], atol=1e-12)
            assert D[k] == D.min() and (D.min() >= threshold) == (ref.min() >= threshold)


def test_nearest_table_entries_equal_a_brute_force_search(kin):
    """The grid-shell search finds exactly the k nearest poses of an exhaustive search, for goals
    inside and outside the grid's box."""
    from dtd_ik.solver.seed_table import SeedTable, nearest_table_entries

    rng = np.random.default_rng(17)
    K, k, w2 = 3000, 6, 0.09
    p = rng.uniform(-1, 1, (K, 3)) * [1.0, 0.8, 0.5]
    quat = Rotation.random(K, random_state=17).as_quat()
    table = SeedTable.from_samples(np.zeros((K, 7)), p, quat)
    pose = table.pose
    for _ in range(300):
        gp, gq = rng.uniform(-1.5, 1.5, 3), Rotation.random(random_state=rng).as_quat()
        dist = ((pose[:, :3] - gp) ** 2).sum(1) + 4 * w2 * (1 - (pose[:, 3:] @ gq) ** 2)
        out = np.zeros(k, dtype=np.int64)
        assert nearest_table_entries(table, gp, gq, w2, 10**6, out) == k
        np.testing.assert_array_equal(out, np.argsort(dist, kind="stable")[:k])
    empty = SeedTable.empty(7)
    assert nearest_table_entries(empty, gp, gq, w2, 10**6, out) == 0
    # approximate (one shell): still k distinct entries
    approx = np.zeros(k, dtype=np.int64)
    assert nearest_table_entries(table, gp, gq, w2, 1, approx) == k
    assert len(set(approx)) == k


def test_kernel_quaternion_of_a_matrix_matches_scipy():
    from dtd_ik.solver.kernels.refinement import matrix_quaternion

    R = Rotation.random(500, random_state=18)
    out = np.empty(4)
    for M, ref in zip(R.as_matrix(), R.as_quat()):
        matrix_quaternion(np.ascontiguousarray(M), out)
        assert min(np.abs(out - ref).max(), np.abs(out + ref).max()) < 1e-12


def test_kernel_rotation_residual_matches_scipy_including_near_pi():
    """axis * angle of Rg R^T, against scipy's rotation vector (independent), away from and near
    a half turn (the kernel's second branch)."""
    from dtd_ik.solver.kernels.lm_attempt import rotation_residual

    rng = np.random.default_rng(19)
    R = Rotation.random(400, random_state=19)
    axes = Rotation.random(400, random_state=20).apply([0.0, 0.0, 1.0])
    angles = np.concatenate([rng.uniform(0, 3.0, 200), rng.uniform(3.0, np.pi - 1e-6, 200)])
    rel = Rotation.from_rotvec(axes * angles[:, None])
    goal = rel * R
    e = np.empty(3)
    for Rg, Ri, ref in zip(goal.as_matrix(), R.as_matrix(), rel.as_rotvec()):
        angle = rotation_residual(np.ascontiguousarray(Rg), np.ascontiguousarray(Ri), e)
        assert abs(angle - np.linalg.norm(ref)) < 1e-9
        np.testing.assert_allclose(e, ref, atol=1e-7)


def test_the_kernels_and_the_solver_config_import_without_torch():
    """The compiled side builds its arrays from the robot description with numpy alone."""
    import subprocess
    import sys

    code = (
        "import sys, dtd_ik.solver.kernels.kinematics, dtd_ik.solver.kernels.refinement, "
        "dtd_ik.solver.kernels.path_refinement, dtd_ik.solver.kernels.batch, "
        "dtd_ik.solver.kernels.lm_attempt, dtd_ik.solver.config, dtd_ik.solver.seed_table; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_numpy_matrix_to_quaternion_equals_the_torch_one_and_scipy():
    from dtd_ik.kinematics.rotations import matrix_to_quaternion as torch_matrix_to_quaternion
    from dtd_ik.robot.spatial import matrix_to_quaternion

    R = Rotation.random(2000, random_state=21)
    half_turns = Rotation.from_rotvec(
        np.pi * Rotation.random(50, random_state=22).apply([1.0, 0.0, 0.0])
    )  # w = 0: the sign rule decides
    M = np.concatenate([R.as_matrix(), half_turns.as_matrix(), np.eye(3)[None]])
    quat = matrix_to_quaternion(M)
    np.testing.assert_allclose(
        quat, torch_matrix_to_quaternion(torch.tensor(M)).numpy(), rtol=0, atol=1e-15
    )
    ref = Rotation.from_matrix(M).as_quat()
    assert np.minimum(np.abs(quat - ref).max(axis=1), np.abs(quat + ref).max(axis=1)).max() < 1e-12
    assert (quat[:, 3] >= 0).all()
    assert quat.shape == (2051, 4) and matrix_to_quaternion(M[0]).shape == (4,)
