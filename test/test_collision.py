"""Capsule distances against brute force and finite differences; the capsule model against
pybullet's mesh self-collision; the paper's collision loss against its formula."""
import math

import numpy as np
import pytest
import torch

from conftest import random_joints
from dtd_ik.collision import segment_closest_points
from dtd_ik.losses import COLLISION_MARGIN, collision_loss, orientation_loss, position_loss
from pybullet_panda import CHECKED_PAIRS


def brute_force_segment_distance(p1, q1, p2, q2, samples=1501):
    """Minimum distance over a dense sampling of both segments (numpy)."""
    s = np.linspace(0, 1, samples)[:, None]
    A = p1 + s * (q1 - p1)
    B = p2 + s * (q2 - p2)
    # the exact distance from each sampled point of A to segment B, then the minimum
    d = q2 - p2
    t = np.clip(((A - p2) @ d) / max(d @ d, 1e-300), 0, 1)
    da = np.linalg.norm(A - (p2 + t[:, None] * d), axis=1).min()
    d = q1 - p1
    t = np.clip(((B - p1) @ d) / max(d @ d, 1e-300), 0, 1)
    db = np.linalg.norm(B - (p1 + t[:, None] * d), axis=1).min()
    return min(da, db)


def special_cases():
    r = np.random.default_rng(10)
    p, d = r.normal(size=3), r.normal(size=3)
    yield "parallel", p, p + d, p + [0.1, 0.2, 0.0], p + [0.1, 0.2, 0.0] + 0.5 * d
    yield "collinear-overlap", p, p + d, p + 0.5 * d, p + 2 * d
    yield "collinear-apart", p, p + d, p + 2 * d, p + 3 * d
    yield "antiparallel", p, p + d, p + 2 * d + [0, 0, 0.3], p + d + [0, 0, 0.3]
    yield "point-segment", p, p, p + [0.3, 0.0, 0.1], p + [0.3, 1.0, 0.1]
    yield "segment-point", p, p + d, p + [0.2, 0.2, 0.2], p + [0.2, 0.2, 0.2]
    yield "point-point", p, p, p + d, p + d
    yield "crossing", np.zeros(3), np.array([1.0, 0, 0]), np.array([0.5, -1, 0]), np.array([0.5, 1, 0])
    yield "touching-ends", np.zeros(3), np.ones(3), np.ones(3), np.array([2.0, 0, 1])


@pytest.mark.parametrize("case", list(special_cases()), ids=lambda c: c[0])
def test_segment_distance_special_cases(case):
    _, p1, q1, p2, q2 = case
    got = segment_closest_points(*(torch.tensor(v, dtype=torch.float64) for v in (p1, q1, p2, q2)))
    assert abs(got.distance.item() - brute_force_segment_distance(p1, q1, p2, q2)) < 1e-6
    assert 0 <= got.s.item() <= 1 and 0 <= got.t.item() <= 1


def test_segment_distance_random_against_brute_force():
    rng = np.random.default_rng(11)
    P = rng.normal(size=(300, 4, 3)) * rng.uniform(0.01, 1, size=(300, 1, 1))
    got = segment_closest_points(*torch.tensor(P).unbind(1)).distance.numpy()
    ref = np.array([brute_force_segment_distance(*row, samples=20001) for row in P])
    # sampling only ever overestimates, by at most about the sample spacing times the length
    assert np.all(got <= ref + 1e-12)
    assert (ref - got).max() < 5e-6


def test_segment_distance_gradient_matches_finite_differences_and_is_finite_at_zero():
    rng = np.random.default_rng(12)
    pts = torch.tensor(rng.normal(size=(50, 4, 3)), requires_grad=True)
    segment_closest_points(*pts.unbind(1)).distance.sum().backward()
    h = 1e-6
    for k in range(4):
        for c in range(3):
            e = torch.zeros_like(pts)
            e[:, k, c] = h
            fd = (segment_closest_points(*(pts + e).detach().unbind(1)).distance
                  - segment_closest_points(*(pts - e).detach().unbind(1)).distance) / (2 * h)
            assert torch.allclose(pts.grad[:, k, c], fd, atol=1e-6)
    crossing = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0.5, -1, 0], [0.5, 1, 0]], requires_grad=True)
    d = segment_closest_points(*crossing.unbind(0)).distance
    d.backward()
    assert d.item() == 0 and torch.isfinite(crossing.grad).all()


def test_capsule_model_shape_and_pairs(capsules, kin):
    q = torch.tensor(random_joints(kin, 12, seed=13)).reshape(3, 4, 7)
    out = capsules.distance(q)
    assert out.distance.shape == (3, 4) and out.pair_distances.shape == (3, 4, len(capsules.pair_names))
    assert torch.equal(out.distance, out.pair_distances.min(-1).values)
    # the checked link pairs are exactly the ones MoveIt's Panda SRDF leaves enabled
    assert {tuple(p) for p in capsules.pair_names} == set(CHECKED_PAIRS)


def test_capsule_distance_gradient_matches_finite_differences(capsules, kin):
    q = torch.tensor(random_joints(kin, 40, seed=14), requires_grad=True)
    capsules.distance(q).distance.sum().backward()
    h = 1e-6
    for i in range(kin.dof):
        dq = torch.zeros(kin.dof, dtype=torch.float64)
        dq[i] = h
        fd = (capsules.distance(q.detach() + dq).distance
              - capsules.distance(q.detach() - dq).distance) / (2 * h)
        assert torch.allclose(q.grad[:, i], fd, atol=1e-5)


def test_capsule_model_is_conservative_against_pybullet_meshes(capsules, kin, pybullet_panda):
    """Every mesh-colliding configuration is capsule-colliding; report the false positives."""
    n = 10_000
    rng = np.random.default_rng(15)
    Q = random_joints(kin, n, seed=15)
    mesh = np.empty(n)
    for i, q in enumerate(Q):
        pybullet_panda.set_joints(q, finger=rng.uniform(0.0, 0.04))
        mesh[i] = pybullet_panda.min_distance(reach=0.01)
    capsule = capsules.distance(torch.tensor(Q)).distance.numpy()
    colliding = mesh < 0
    assert colliding.sum() > 100  # the sample does exercise collisions
    missed = np.flatnonzero(colliding & (capsule > 0))
    assert missed.size == 0, f"capsules miss mesh collisions at {Q[missed[:3]]}"
    false_positive = float((capsule[~colliding] <= 0).mean())
    print(f"\nmesh-colliding {colliding.mean():.3f}; capsule false positives among mesh-free "
          f"configurations: {false_positive:.3f}")
    # Measured 0.34 with the shipped model (docs/kinematics.md explains the link5-link7 gap);
    # the goal is <= 0.10. This bound stops a regression, it is not the goal.
    assert false_positive <= 0.36


def test_collision_loss_matches_the_paper_formula():
    d = torch.tensor([-0.02, 0.0, 0.005, 0.01, 0.1], dtype=torch.float64)
    tau = 0.002
    expected = [tau * math.log1p(math.exp((COLLISION_MARGIN - v) / tau)) for v in d.tolist()]
    assert torch.allclose(collision_loss(d, tau=tau), torch.tensor(expected, dtype=torch.float64))
    assert collision_loss(torch.tensor(1.0), tau=tau) == 0  # far beyond the margin: no penalty
    with pytest.raises(ValueError, match="tau"):
        collision_loss(d, tau=0.0)


def test_losses_have_finite_gradients_at_exact_solutions(kin, capsules):
    q = torch.tensor(random_joints(kin, 16, seed=16))
    goal = kin.forward(q, "panda_hand")
    q_hat = q.clone().requires_grad_(True)
    pose = kin.forward(q_hat, "panda_hand")
    loss = (position_loss(pose.position, goal.position) + orientation_loss(pose.rotation, goal.rotation)
            + collision_loss(capsules.distance(q_hat).distance)).sum()
    loss.backward()
    assert torch.isfinite(q_hat.grad).all()
    assert position_loss(pose.position, goal.position).max() == 0
    assert orientation_loss(pose.rotation, goal.rotation).max() < 1e-7
