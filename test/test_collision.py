"""Capsule distances against brute force and finite differences; the capsule model against
pybullet's mesh self-collision; the paper's collision loss against its formula."""

import math

import numpy as np
import pytest
import torch

from dtd_ik.kinematics.capsules import segment_closest_points
from dtd_ik.kinematics.losses import (
    COLLISION_MARGIN,
    collision_loss,
    orientation_loss,
    position_loss,
)
from joint_samples import random_joints
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
    yield (
        "crossing",
        np.zeros(3),
        np.array([1.0, 0, 0]),
        np.array([0.5, -1, 0]),
        np.array([0.5, 1, 0]),
    )
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
            fd = (
                segment_closest_points(*(pts + e).detach().unbind(1)).distance
                - segment_closest_points(*(pts - e).detach().unbind(1)).distance
            ) / (2 * h)
            assert torch.allclose(pts.grad[:, k, c], fd, atol=1e-6)
    crossing = torch.tensor(
        [[0.0, 0, 0], [1, 0, 0], [0.5, -1, 0], [0.5, 1, 0]], requires_grad=True
    )
    d = segment_closest_points(*crossing.unbind(0)).distance
    d.backward()
    assert d.item() == 0 and torch.isfinite(crossing.grad).all()


def test_capsule_model_shape_and_pairs(capsules, kin):
    q = torch.tensor(random_joints(kin, 12, seed=13)).reshape(3, 4, 7)
    out = capsules.distance(q)
    assert out.distance.shape == (3, 4)
    assert out.pair_distances.shape == (3, 4, len(capsules.pair_names))
    assert torch.equal(out.distance, out.pair_distances.min(-1).values)
    # the checked link pairs are exactly the ones MoveIt's Panda SRDF leaves enabled; a distance
    # map's column stands for several pairs ("link7|hand")
    checked = {(a, x) for a, b in capsules.pair_names for x in b.split("|")}
    assert checked == set(CHECKED_PAIRS) and len(checked) == len(CHECKED_PAIRS)


def test_capsule_distance_gradient_matches_finite_differences(capsules, kin):
    q = torch.tensor(random_joints(kin, 40, seed=14), requires_grad=True)
    capsules.distance(q).distance.sum().backward()
    h = 1e-6
    for i in range(kin.dof):
        dq = torch.zeros(kin.dof, dtype=torch.float64)
        dq[i] = h
        fd = (
            capsules.distance(q.detach() + dq).distance
            - capsules.distance(q.detach() - dq).distance
        ) / (2 * h)
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
    print(
        f"\nmesh-colliding {colliding.mean():.3f}; capsule false positives among mesh-free "
        f"configurations: {false_positive:.3f}"
    )
    assert false_positive <= 0.10  # the capsule model's goal (measured: docs/kinematics.md)


def test_wrist_distance_map_is_a_tight_lower_bound_of_the_mesh_distance(capsules, pybullet_panda):
    """The tabulated link5 | link7+hand distance never exceeds pybullet's, at random
    (q6, q7, finger) off the grid, and is not needlessly loose (within its certified slack of the
    truth)."""
    ((spec, table),) = capsules.maps
    rng = np.random.default_rng(21)
    n, reach = 1500, 0.1
    q6q7 = rng.uniform(-np.pi, np.pi, (n, 2))
    mapped = table.distance(torch.tensor(q6q7[:, 0]), torch.tensor(q6q7[:, 1])).numpy()
    mesh = np.empty(n)
    for i, (q6, q7) in enumerate(q6q7):
        q = np.zeros(7)
        q[5], q[6] = q6, q7
        pybullet_panda.set_joints(q, finger=rng.uniform(0.0, 0.04))
        mesh[i] = min(
            pybullet_panda.pair_distance("panda_link5", link, reach) for link in spec.links
        )
    assert (mapped <= mesh).all(), f"map above the mesh distance at {q6q7[mapped > mesh][:3]}"
    slack = mesh - mapped
    below = mesh < reach - 0.01  # away from the cap
    print(
        f"\nmap slack below pybullet: median {np.median(slack[below]) * 1e3:.2f} mm, "
        f"max {slack[below].max() * 1e3:.2f} mm (certified interpolation bound "
        f"{table.delta * 1e3:.2f} mm + finger sampling)"
    )
    assert np.median(slack[below]) < 2 * table.delta + 0.005


def test_distance_map_is_periodic_and_reproduces_grid_values(capsules):
    ((_, table),) = capsules.maps
    i, j = torch.tensor([0, 17, 300, table.size - 1]), torch.tensor([5, 0, 411, table.size - 1])
    qa = table.start + table.step * i.double()
    qb = table.start + table.step * j.double()
    angles, values = table.grid()
    assert np.allclose(angles[[0, 17]], [table.start, table.start + 17 * table.step])
    grid = torch.as_tensor(values)[i, j]
    assert torch.allclose(table.distance(qa, qb), grid, atol=1e-9)
    turn = 2 * math.pi
    assert torch.allclose(table.distance(qa + turn, qb - 3 * turn), grid, atol=1e-9)
    # gradient: the slope of the bilinear patch, checked by central differences inside a cell
    qa = (qa + 0.3 * table.step).requires_grad_(True)
    qb = qb + 0.6 * table.step
    table.distance(qa, qb).sum().backward()
    h = 1e-3 * table.step
    fd = (table.distance(qa.detach() + h, qb) - table.distance(qa.detach() - h, qb)) / (2 * h)
    assert torch.allclose(qa.grad, fd, atol=1e-6)


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
    loss = (
        position_loss(pose.position, goal.position)
        + orientation_loss(pose.rotation, goal.rotation)
        + collision_loss(capsules.distance(q_hat).distance)
    ).sum()
    loss.backward()
    assert torch.isfinite(q_hat.grad).all()
    assert position_loss(pose.position, goal.position).max() == 0
    assert orientation_loss(pose.rotation, goal.rotation).max() < 1e-7
