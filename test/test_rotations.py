"""Rotation utilities against scipy's Rotation (an independent implementation) and autograd."""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from dtd_ik.kinematics.rotations import (
    canonical_hemisphere,
    geodesic_angle,
    matrix_to_quaternion,
    quaternion_matrix_basis,
    quaternion_to_matrix,
    rotation_error_vector,
)


def random_rotations(n: int, seed: int = 0) -> Rotation:
    return Rotation.random(n, random_state=seed)


def test_quaternion_to_matrix_matches_scipy():
    rot = random_rotations(500)
    q = torch.tensor(rot.as_quat())  # scipy: x-y-z-w
    assert torch.allclose(quaternion_to_matrix(q), torch.tensor(rot.as_matrix()), atol=1e-12)


def test_quaternion_to_matrix_normalises_input():
    rot = random_rotations(10, seed=1)
    q = torch.tensor(rot.as_quat()) * 3.7
    assert torch.allclose(quaternion_to_matrix(q), torch.tensor(rot.as_matrix()), atol=1e-12)


def test_quaternion_to_matrix_any_scale_and_sign_with_a_given_basis():
    rot = random_rotations(200, seed=3)
    scale = torch.tensor(np.random.default_rng(3).uniform(-50, 50, (200, 1)))
    q = torch.tensor(rot.as_quat()) * scale  # negative scales: the other hemisphere
    basis = quaternion_matrix_basis(q)
    assert basis.shape == (16, 9) and basis.dtype == torch.float64
    assert torch.allclose(
        quaternion_to_matrix(q, basis), torch.tensor(rot.as_matrix()), atol=1e-12
    )
    assert torch.equal(quaternion_to_matrix(q, basis), quaternion_to_matrix(-q, basis))


def test_matrix_to_quaternion_matches_scipy_up_to_sign_and_is_canonical():
    rot = random_rotations(2000, seed=2)
    # include the branch-critical cases: identity and half turns about each axis
    special = Rotation.from_rotvec(
        np.array([[0, 0, 0], [math.pi, 0, 0], [0, math.pi, 0], [0, 0, math.pi], [1e-9, 0, 0]])
    )
    mats = np.concatenate([rot.as_matrix(), special.as_matrix()])
    expected = Rotation.from_matrix(mats).as_quat()
    q = matrix_to_quaternion(torch.tensor(mats)).numpy()
    assert np.all(q[:, 3] >= 0)
    same = np.minimum(np.abs(q - expected).max(1), np.abs(q + expected).max(1))
    assert same.max() < 1e-12


def test_canonical_hemisphere():
    q = torch.tensor(
        [[0.1, 0.2, 0.3, -0.9], [0.1, 0.2, 0.3, 0.9], [-0.6, 0.8, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0]]
    )
    out = canonical_hemisphere(q)
    assert torch.equal(out[0], -q[0]) and torch.equal(out[1], q[1])
    assert torch.equal(out[2], -q[2]) and torch.equal(out[3], -q[3])


def test_geodesic_angle_matches_scipy_magnitude():
    a, b = random_rotations(1000, seed=3), random_rotations(1000, seed=4)
    expected = (a * b.inv()).magnitude()
    got = geodesic_angle(torch.tensor(a.as_matrix()), torch.tensor(b.as_matrix())).numpy()
    assert np.abs(got - expected).max() < 1e-9


@pytest.mark.parametrize("angle", [0.0, 1e-8, 1.0, math.pi - 1e-6, math.pi])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_geodesic_angle_gradient_is_finite(angle, dtype):
    R_goal = torch.tensor(Rotation.from_rotvec([0.3, -0.2, 0.5]).as_matrix(), dtype=dtype)
    delta = torch.tensor(Rotation.from_rotvec([0, 0, angle]).as_matrix(), dtype=dtype)
    R_hat = (delta @ R_goal).requires_grad_(True)
    value = geodesic_angle(R_hat, R_goal)
    value.backward()
    assert abs(value.item() - angle) < (1e-3 if dtype == torch.float32 else 1e-7)
    assert torch.isfinite(R_hat.grad).all()


def test_rotation_error_vector_is_the_rotation_still_to_go():
    goal, cur = random_rotations(500, seed=5), random_rotations(500, seed=6)
    v = rotation_error_vector(torch.tensor(goal.as_matrix()), torch.tensor(cur.as_matrix()))
    expected = (goal * cur.inv()).as_rotvec()
    # near pi the axis sign is ambiguous: compare the rotations, not the vectors
    err = (Rotation.from_rotvec(v.numpy()) * Rotation.from_rotvec(expected).inv()).magnitude()
    assert err.max() < 1e-8
