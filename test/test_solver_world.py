"""IKSolver with a collision world (a table), judged by an independent reference: the same box
placed in pybullet beside pybullet's own Panda, its distance to every robot link, and pybullet's
FK of the answers."""

import numpy as np
import pybullet
import pytest
from scipy.spatial.transform import Rotation

from dtd_ik import IKSolver
from dtd_ik.collision import Box, CollisionWorld, pose_matrix
from pybullet_panda import FK_TOLERANCE, HAND_CLUSTER

TABLE_SIZE = (1.0, 1.0, 0.02)  # [m]
TABLE_X = 0.75  # [m] the table's centre, in front of the robot (its near edge at x = 0.25)
DOWN = np.array([1.0, 0.0, 0.0, 0.0])  # x-y-z-w: the hand pointing down
ROBOT_MARGIN = 0.001  # [m] Bullet's margin around the robot's convex hulls (the box has none)
AGREEMENT = 1e-4  # [m]
NO_DEADLINE = 60.0


@pytest.fixture(scope="module")
def solver():
    return IKSolver.load(None)


def robot_links(panda):
    return ["panda_link0"] + [f"panda_link{i}" for i in range(1, 8)] + list(HAND_CLUSTER)


def table_distance(panda, box, q, reach=0.5):
    """pybullet's smallest distance [m] from any robot link's hull to the box at joints q."""
    panda.set_joints(q)
    best = reach
    for link in robot_links(panda):
        for pt in pybullet.getClosestPoints(
            panda.body, box, reach, panda.link_index[link], -1, physicsClientId=panda.client
        ):
            best = min(best, pt[8])
    return best + ROBOT_MARGIN


def lowest_point(panda, q, links):
    """[m] the lowest z of the axis-aligned boxes of ``links`` at joints q (pybullet)."""
    panda.set_joints(q)
    return min(
        pybullet.getAABB(panda.body, panda.link_index[link], physicsClientId=panda.client)[0][2]
        for link in links
    )


@pytest.fixture(scope="module")
def scene(solver, pybullet_panda):
    """A goal above the table (hand down at (0.5, 0, 0.25)) and the table 1 cm below the lowest
    point of the arm's free answer: (goal position, world, pybullet box id, table top z)."""
    goal = np.array([0.5, 0.0, 0.25])
    free = solver.solve(goal, DOWN, timeout=NO_DEADLINE)
    assert free.success
    forearm = [f"panda_link{i}" for i in range(3, 8)] + list(HAND_CLUSTER)
    top = lowest_point(pybullet_panda, free.q, forearm) - 0.01
    centre = np.array([TABLE_X, 0.0, top - TABLE_SIZE[2] / 2])
    world = CollisionWorld()
    world.add("table", [Box(*TABLE_SIZE)], pose_matrix(centre, [0, 0, 0, 1.0]))
    shape = pybullet.createCollisionShape(
        pybullet.GEOM_BOX,
        halfExtents=list(np.array(TABLE_SIZE) / 2),
        physicsClientId=pybullet_panda.client,
    )
    box = pybullet.createMultiBody(
        0, shape, basePosition=list(centre), physicsClientId=pybullet_panda.client
    )
    yield goal, world, box, top
    pybullet.removeBody(box, physicsClientId=pybullet_panda.client)


def assert_reaches(panda, q, p, quat):
    panda.set_joints(q)
    hp, hq = panda.link_pose("panda_hand")
    assert np.linalg.norm(hp - p) <= 1e-4 + FK_TOLERANCE
    assert (
        Rotation.from_quat(hq) * Rotation.from_quat(quat).inv()
    ).magnitude() <= 1e-3 + FK_TOLERANCE


def test_a_goal_just_above_the_table_is_answered_clear_of_it(solver, scene, pybullet_panda):
    """The fingers 1 cm above the table: solved, clear of the table and of itself by pybullet,
    the reported margin FCL's (at most the table's 1 cm, and its pair named)."""
    goal, world, box, _ = scene
    r = solver.solve(goal, DOWN, world=world, timeout=NO_DEADLINE)
    assert r.success
    assert_reaches(pybullet_panda, r.q, goal, DOWN)
    clearance = table_distance(pybullet_panda, box, r.q)
    assert clearance > -AGREEMENT and pybullet_panda.hull_distance(r.q) > -AGREEMENT
    assert 0 < r.collision_margin <= min(clearance, pybullet_panda.hull_distance(r.q)) + 0.002
    assert r.closest_pair != ("", "")


def test_an_answer_through_the_table_is_never_returned(solver, scene, pybullet_panda):
    """Goals under the table top: without the world the solver answers them through the table
    (pybullet says so); with it, no success is in contact with the table by pybullet. Pinned to
    such an answer by its bounds, the goal fails, with contact reported against the table."""
    goal, world, box, top = scene
    rng = np.random.default_rng(7)
    below = np.column_stack(
        [rng.uniform(0.35, 0.6, 8), rng.uniform(-0.2, 0.2, 8), np.full(8, top - 0.1)]
    )
    quats = np.tile(DOWN, (8, 1))
    blind = solver.solve(below, quats, timeout=NO_DEADLINE)
    through = [
        i
        for i in range(8)
        if blind.success[i] and table_distance(pybullet_panda, box, blind.q[i]) < -0.005
    ]
    assert len(through) >= 4
    seen = solver.solve(below, quats, world=world, timeout=NO_DEADLINE)
    for i in np.flatnonzero(seen.success):
        assert table_distance(pybullet_panda, box, seen.q[i]) > -AGREEMENT
        assert_reaches(pybullet_panda, seen.q[i], below[i], DOWN)
    q = blind.q[through[0]]
    pinned = solver.solve(
        below[through[0]], DOWN, lower=q, upper=q, world=world, timeout=NO_DEADLINE
    )
    assert not pinned.success and pinned.collision_margin <= 0
    assert "table" in pinned.closest_pair
    free = solver.solve(below[through[0]], DOWN, lower=q, upper=q, timeout=NO_DEADLINE)
    assert free.success  # the same answer without the table: the table alone refused it


def test_without_the_table_the_old_answers_come_back(solver, scene):
    """An empty world answers as no world: same joints, bit for bit."""
    goal = scene[0]
    a = solver.solve(goal, DOWN, world=CollisionWorld(), timeout=NO_DEADLINE)
    b = solver.solve(goal, DOWN, timeout=NO_DEADLINE)
    np.testing.assert_array_equal(a.q, b.q)


def test_an_attached_object_must_clear_the_table_too(solver, scene):
    """A 20 cm stick held below the hand (attached to panda_hand, touching the hand): for the goal
    above the table its lower end lies 20 cm below the hand frame, under the table top (plain
    arithmetic on the goal pose), so every answer puts it through the table: the goal fails
    with the stick and the table named. Without the stick the goal is answered."""
    goal, _, _, top = scene
    world = CollisionWorld()
    table = scene[1].objects["table"]
    world.add("table", table.shapes, table.pose)
    stick = np.eye(4)
    stick[2, 3] = 0.1 + 0.06  # the stick's centre, along the hand's z (down here) [m]
    world.attach("stick", "panda_hand", [Box(0.01, 0.01, 0.2)], stick)
    lowest = goal[2] - (stick[2, 3] + 0.1)  # the hand points down: its z is the world's -z
    assert lowest < top - 0.05
    r = solver.solve(goal, DOWN, world=world, timeout=1.0)
    assert not r.success and r.collision_margin <= 0
    assert set(r.closest_pair) == {"stick", "table"}
    world.detach("stick")
    assert solver.solve(goal, DOWN, world=world, timeout=NO_DEADLINE).success
