"""Per-goal joint bounds and "no seed" rows in IKSolver.solve, checked by independent references:
pybullet's FK of the answers, the bounds themselves, and a brute-force search of a window."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from dtd_ik import IKSolver
from dtd_ik.exceptions import InvalidInputError
from pybullet_panda import FK_TOLERANCE

WINDOW = 0.05  # [rad] half-width of the narrow windows
NO_DEADLINE = 60.0  # [s] a budget no solve here reaches


@pytest.fixture(scope="module")
def solver():
    return IKSolver.load(None)


def free_joints(kin, pybullet_panda, n, seed):
    """(n, 7) uniform joints whose hulls are clear by pybullet (so their meshes are)."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        q = rng.uniform(kin.model.lower, kin.model.upper)
        if pybullet_panda.hull_distance(q) > 0.005:
            out.append(q)
    return np.array(out)


def hand_poses(panda, Q):
    """pybullet's hand positions (N, 3) [m] and quaternions x-y-z-w (N, 4) at joints Q."""
    out = []
    for q in Q:
        panda.set_joints(q)
        out.append(np.concatenate(panda.link_pose("panda_hand")))
    out = np.array(out)
    return out[:, :3], out[:, 3:]


def assert_reaches(panda, q, p, quat):
    """pybullet's FK of answers q (N, 7) meets the goals within the solver's tolerances."""
    hp, hq = hand_poses(panda, q)
    assert np.all(np.linalg.norm(hp - p, axis=1) <= 1e-4 + FK_TOLERANCE)
    angle = (Rotation.from_quat(hq) * Rotation.from_quat(quat).inv()).magnitude()
    assert np.all(angle <= 1e-3 + FK_TOLERANCE)


def test_a_narrow_window_around_a_known_answer_is_solved_inside_it(solver, kin, pybullet_panda):
    """+-0.05 rad around the generating joints: every goal solved, every answer inside its own
    window (per goal, in one batch) and on the goal by pybullet; without the windows the
    solver's answers mostly lie elsewhere, so the windows steered it."""
    Q = free_joints(kin, pybullet_panda, 12, seed=1)
    p, quat = hand_poses(pybullet_panda, Q)
    lower, upper = Q - WINDOW, Q + WINDOW
    r = solver.solve(p, quat, lower=lower, upper=upper, timeout=NO_DEADLINE)
    assert r.success.all()
    clipped_lo = np.maximum(lower, kin.model.lower)
    clipped_hi = np.minimum(upper, kin.model.upper)
    assert np.all(r.q >= clipped_lo) and np.all(r.q <= clipped_hi)
    assert_reaches(pybullet_panda, r.q, p, quat)
    free = solver.solve(p, quat, timeout=NO_DEADLINE)
    outside = ((free.q < lower) | (free.q > upper)).any(axis=1)
    assert outside.sum() >= 6


def test_an_impossible_window_is_not_solved(solver, kin, pybullet_panda):
    """A window around joints far from any answer: brute force over the window (the torch FK,
    20,000 samples) finds nothing within 5 cm of the goal, and the solver reports failure."""
    Q = free_joints(kin, pybullet_panda, 2, seed=2)
    p, quat = hand_poses(pybullet_panda, Q[:1])
    lower, upper = Q[1] - WINDOW, Q[1] + WINDOW
    samples = np.random.default_rng(3).uniform(lower, upper, (20000, 7))
    reach = kin.forward(torch.as_tensor(samples), "panda_hand").position.numpy()
    assert np.linalg.norm(reach - p, axis=1).min() > 0.05
    r = solver.solve(p, quat, lower=lower, upper=upper, timeout=NO_DEADLINE)
    assert not r.success[0] and r.attempts[0] > 0
    assert np.all(r.q >= np.maximum(lower, kin.model.lower) - 1e-12)
    assert np.all(r.q <= np.minimum(upper, kin.model.upper) + 1e-12)


def test_an_empty_window_fails_that_goal_alone(solver, kin, pybullet_panda):
    """lower > upper in one joint: that goal fails with no attempt, the other is solved; no
    exception."""
    Q = free_joints(kin, pybullet_panda, 2, seed=4)
    p, quat = hand_poses(pybullet_panda, Q)
    lower, upper = np.tile(kin.model.lower, (2, 1)), np.tile(kin.model.upper, (2, 1))
    lower[0, 2], upper[0, 2] = 0.2, -0.2
    r = solver.solve(p, quat, lower=lower, upper=upper, timeout=NO_DEADLINE)
    assert (r.success[0], r.attempts[0]) == (False, 0)
    assert r.success[1]
    assert_reaches(pybullet_panda, r.q[1:], p[1:], quat[1:])


def test_bounds_as_one_row_apply_to_every_goal(solver, kin, pybullet_panda):
    Q = free_joints(kin, pybullet_panda, 3, seed=5)
    p, quat = hand_poses(pybullet_panda, Q)
    lower = np.maximum(kin.model.lower, -2.0)
    r = solver.solve(p, quat, lower=lower, timeout=NO_DEADLINE)
    assert np.all(r.q >= lower)


def test_nan_seed_rows_mean_no_seed(solver, kin, pybullet_panda):
    """A mixed batch: a NaN row gives that goal exactly the answer it gets with no seeds at all;
    a seeded goal starts from its seed (one attempt: the seed is an answer)."""
    Q = free_joints(kin, pybullet_panda, 2, seed=6)
    p, quat = hand_poses(pybullet_panda, Q)
    seeds = np.vstack([np.full(7, np.nan), Q[1]])
    r = solver.solve(p, quat, seeds=seeds, timeout=NO_DEADLINE)
    alone = solver.solve(p[:1], quat[:1], timeout=NO_DEADLINE)
    assert r.success.all() and r.attempts[1] == 1
    np.testing.assert_array_equal(r.q[0], alone.q[0])
    np.testing.assert_allclose(r.q[1], Q[1], atol=1e-3)
    assert_reaches(pybullet_panda, r.q, p, quat)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(seeds=np.array([[np.nan] + [0.0] * 6])), "whole rows of NaN"),
        (dict(lower=np.full((2, 7), -1.0)), "lower must have shape"),
        (dict(upper=np.full(6, 1.0)), "upper must have shape"),
        (dict(lower=np.full(7, np.nan)), "NaN or inf"),
        (dict(world="table"), "CollisionWorld"),
    ],
)
def test_bad_bounds_seeds_and_worlds_are_refused(solver, kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        solver.solve(np.array([[0.4, 0.0, 0.4]]), np.array([[1.0, 0, 0, 0]]), **kwargs)
