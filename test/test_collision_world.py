"""CollisionWorld (dtd_ik.collision): primitive distances against closed forms, MoveIt's
operation semantics and errors, a table and attached objects checked with pybullet's own link
frames and vertices, and robot-object distances against pybullet's."""

import fcl
import numpy as np
import pybullet
import pytest
import torch

from dtd_ik.collision import (
    Box,
    CollisionWorld,
    Cone,
    Cylinder,
    InvalidShapeError,
    Operation,
    PlacedShape,
    RobotGeometry,
    Sphere,
    TriangleMesh,
    UnknownObjectError,
    pose_matrix,
)
from dtd_ik.collision.pair_distance import pair_distance
from dtd_ik.collision.poses import fcl_transform
from dtd_ik.collision.robot_geometry import load_mesh_pieces
from dtd_ik.collision.shapes import fcl_geometry
from dtd_ik.robot.spatial import quaternion_to_matrix

# A reachable, self-collision-free configuration with the hand pointing down in front [rad].
DOWN = np.array([0.0, 0.5, 0.0, -2.0, 0.0, 2.5, 0.785])
TOL = 1e-5  # [m] FCL's GJK works to about 1e-6 m


@pytest.fixture(scope="module")
def robot() -> RobotGeometry:
    return RobotGeometry.from_config()


@pytest.fixture()
def world(robot) -> CollisionWorld:
    return CollisionWorld(robot)


def placed(shape, pose: np.ndarray) -> fcl.CollisionObject:
    obj = fcl.CollisionObject(fcl_geometry(shape))
    obj.setTransform(fcl_transform(pose))
    return obj


def random_pose(rng) -> np.ndarray:
    quat = rng.normal(size=4)
    return pose_matrix(rng.uniform(-1, 1, 3), quat)


def pybullet_poses(panda, q: np.ndarray, links) -> dict[str, np.ndarray]:
    """Link poses (4, 4) [m] from pybullet's own Panda (fingers at 0.04 m)."""
    panda.set_joints(q, finger=0.04)
    out = {}
    for link in links:
        pos, quat = panda.link_pose(link)
        out[link] = pose_matrix(pos, quat)
    return out


def pybullet_vertices(panda, robot: RobotGeometry, q: np.ndarray) -> list[np.ndarray]:
    """(V, 3) per mesh piece: its vertices in the base frame, placed by pybullet's link frames
    (each piece's own link there; the right finger's mesh turned by pi about z as its URDF)."""
    panda.set_joints(q, finger=0.04)
    out = []
    for piece in robot.pieces:
        pos, quat = panda.link_pose(piece.name)
        R = quaternion_to_matrix(np.array(quat))
        if piece.name == "panda_rightfinger":
            R = R @ np.diag([-1.0, -1.0, 1.0])
        out.append(piece.mesh.vertices @ R.T + pos)
    return out


# -- shapes against closed forms ---------------------------------------------------------------


def test_sphere_sphere_and_box_sphere_match_closed_forms():
    rng = np.random.default_rng(0)
    for _ in range(50):
        r1, r2 = rng.uniform(0.01, 0.3, 2)
        c1, c2 = rng.uniform(-0.5, 0.5, (2, 3))
        d, _ = pair_distance(
            placed(Sphere(r1), pose_matrix(c1, [0, 0, 0, 1])),
            placed(Sphere(r2), pose_matrix(c2, [0, 0, 0, 1])),
        )
        assert d == pytest.approx(np.linalg.norm(c1 - c2) - r1 - r2, abs=TOL)
        dims = rng.uniform(0.05, 0.6, 3)
        box_pose = random_pose(rng)
        centre = rng.uniform(-1.5, 1.5, 3)
        local = box_pose[:3, :3].T @ (centre - box_pose[:3, 3])  # sphere centre, box frame
        outside = np.linalg.norm(local - np.clip(local, -dims / 2, dims / 2))
        if outside > 1e-3:  # clear: distance to the box minus the radius
            d, points = pair_distance(
                placed(Box(*dims), box_pose),
                placed(Sphere(r2), pose_matrix(centre, [0, 0, 0, 1])),
                nearest_points=True,
            )
            assert d == pytest.approx(outside - r2, abs=TOL)
            if d > 1e-3:
                assert np.linalg.norm(points[0] - points[1]) == pytest.approx(d, abs=TOL)


def test_overlapping_spheres_give_the_penetration_depth():
    d, _ = pair_distance(
        placed(Sphere(0.5), np.eye(4)), placed(Sphere(0.5), pose_matrix([0.8, 0, 0], [0, 0, 0, 1]))
    )
    assert d == pytest.approx(-0.2, abs=TOL)


def test_cylinder_and_cone_follow_solid_primitive_conventions():
    """Height along z, centred; the cone's tip up at +height/2, its base radius at -height/2."""
    h, r, s = 0.4, 0.1, 0.05
    probe = Sphere(s)
    at = lambda p: pose_matrix(p, [0, 0, 0, 1])  # noqa: E731
    cyl, cone = placed(Cylinder(h, r), np.eye(4)), placed(Cone(h, r), np.eye(4))
    assert pair_distance(cyl, placed(probe, at([0, 0, 0.5])))[0] == pytest.approx(
        0.5 - h / 2 - s, abs=TOL
    )
    assert pair_distance(cyl, placed(probe, at([0.3, 0, 0.1])))[0] == pytest.approx(
        0.3 - r - s, abs=TOL
    )
    assert pair_distance(cone, placed(probe, at([0, 0, 0.5])))[0] == pytest.approx(
        0.5 - h / 2 - s, abs=TOL
    )
    assert pair_distance(cone, placed(probe, at([0, 0, -0.5])))[0] == pytest.approx(
        0.5 - h / 2 - s, abs=TOL
    )
    # beside the base the full radius counts, beside the tip almost none
    assert pair_distance(cone, placed(probe, at([0.3, 0, -h / 2])))[0] == pytest.approx(
        0.3 - r - s, abs=TOL
    )


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Box(0.0, 1.0, 1.0), "Box.x"),
        (lambda: Box(1.0, -1.0, 1.0), "Box.y"),
        (lambda: Sphere(float("nan")), "Sphere.radius"),
        (lambda: Cylinder(float("inf"), 0.1), "Cylinder.height"),
        (lambda: Cone(0.1, "2"), "Cone.radius"),
        (lambda: TriangleMesh(np.zeros((0, 3)), np.zeros((0, 3))), "vertices"),
        (lambda: TriangleMesh(np.eye(3), [[0, 1, 5]]), "indices"),
        (lambda: TriangleMesh([[0, 0, 0], [1, 0, 0], [np.nan, 0, 0]], [[0, 1, 2]]), "NaN"),
        (lambda: PlacedShape(Sphere(0.1), np.diag([2.0, 1.0, 1.0, 1.0])), "rigid"),
        (lambda: PlacedShape(Sphere(0.1), np.full((4, 4), np.nan)), "NaN"),
        (lambda: pose_matrix([0, 0, 0], [0, 0, 0, 0]), "quaternion"),
        (lambda: PlacedShape("box"), "not a shape: str"),
    ],
)
def test_invalid_shapes_are_refused(make, message):
    with pytest.raises(InvalidShapeError, match=message):
        make()


# -- operations --------------------------------------------------------------------------------


def test_add_replaces_append_extends_keeping_the_pose(world):
    p1, p2 = pose_matrix([1, 0, 0], [0, 0, 0, 1]), pose_matrix([0, 2, 0], [0, 0, 0, 1])
    world.add("a", [Box(0.1, 0.1, 0.1), Sphere(0.1)], p1)
    world.add("a", [Sphere(0.2)], p2)  # replaced
    assert len(world.objects["a"].shapes) == 1
    np.testing.assert_array_equal(world.objects["a"].pose, p2)
    world.append("a", [PlacedShape(Box(0.1, 0.2, 0.3), p1)], p1)  # pose kept, shape relative
    obj = world.objects["a"]
    assert [type(s.shape) for s in obj.shapes] == [Sphere, Box]
    np.testing.assert_array_equal(obj.pose, p2)
    np.testing.assert_array_equal(obj.shapes[1].pose, p1)
    world.append("b", [Sphere(0.1)], p1)  # APPEND to an unknown id adds it (moveit_msgs)
    np.testing.assert_array_equal(world.objects["b"].pose, p1)


def test_remove_one_all_and_unknown(world):
    for name in "abc":
        world.add(name, [Sphere(0.1)])
    world.remove("b")
    assert set(world.objects) == {"a", "c"}
    with pytest.raises(UnknownObjectError, match="REMOVE: no world object 'b'"):
        world.remove("b")
    world.remove("")
    assert world.objects == {}


def test_move_sets_the_pose_and_refuses_unknown_or_miscounted(world):
    world.add("a", [Sphere(0.1), Sphere(0.2)])
    p = pose_matrix([0.5, 0.5, 0.5], [0, 0, 1, 1])
    world.move("a", p)
    np.testing.assert_allclose(world.objects["a"].pose, p)
    with pytest.raises(UnknownObjectError, match="MOVE: no world object 'zz'"):
        world.move("zz", p)
    with pytest.raises(InvalidShapeError, match="1 shape poses for 2 shapes"):
        world.move("a", np.eye(4), [np.eye(4)])
    np.testing.assert_allclose(world.objects["a"].pose, p)  # the failed MOVE changed nothing
    world.move("a", np.eye(4), [p, p])
    np.testing.assert_allclose(world.objects["a"].shapes[1].pose, p)


def test_apply_dispatches_codes_and_failed_operations_change_nothing(world):
    world.apply(Operation.ADD, "a", [Sphere(0.1)])
    world.apply(2, "a", [Sphere(0.2)])
    assert len(world.objects["a"].shapes) == 2
    with pytest.raises(InvalidShapeError, match="unknown operation 7"):
        world.apply(7, "a", [Sphere(0.1)])
    with pytest.raises(InvalidShapeError, match="no shapes"):
        world.apply(Operation.ADD, "a", [])
    with pytest.raises(InvalidShapeError, match="Box.z"):
        world.apply(Operation.ADD, "a", [Sphere(0.1), Box(1, 1, float("nan"))])
    with pytest.raises(InvalidShapeError, match="non-empty"):
        world.apply(Operation.ADD, "", [Sphere(0.1)])
    assert len(world.objects["a"].shapes) == 2
    world.apply(Operation.MOVE, "a", pose=pose_matrix([1, 0, 0], [0, 0, 0, 1]))
    world.apply(Operation.REMOVE, "a")
    assert world.objects == {}


# -- the robot against a table, against pybullet's vertices ------------------------------------


def table(top: float) -> tuple[Box, np.ndarray]:
    """A 1 m x 1.6 m x 0.1 m table in front of the robot (x from 0.3 m) with its top at z=top."""
    return Box(1.0, 1.6, 0.1), pose_matrix([0.8, 0.0, top - 0.05], [0, 0, 0, 1])


def test_table_distance_is_the_lowest_vertex_height(world, pybullet_panda):
    """Above the table the exact distance is the lowest robot vertex over it minus the top
    (vertices from pybullet's link frames); pushed into it, contact with the table."""
    poses = pybullet_poses(pybullet_panda, DOWN, world.robot.links)
    pieces = pybullet_vertices(pybullet_panda, world.robot, DOWN)
    over = [(np.abs(v[:, 0] - 0.8) <= 0.5) & (np.abs(v[:, 1]) <= 0.8) for v in pieces]
    lowest = min(v[o, 2].min() for v, o in zip(pieces, over) if o.any())
    # A mesh wholly over the table is closest to it at its lowest vertex; every other mesh must
    # lie wholly 0.1 m back from the table's edge (x <= 0.2) or wholly above z = lowest + 1 cm,
    # so it cannot come closer (both are half-spaces, which hold a mesh if its vertices).
    assert lowest > 0.05
    for v, o in zip(pieces, over):
        assert o.all() or (v[:, 0] <= 0.2).all() or (v[:, 2] > lowest + 0.01).all()
    self_clear = world.distance(poses).distance  # the wrist pair, about 22 mm
    assert self_clear > 0.015
    for gap in (0.01, 0.003):
        world.add("table", [table(lowest - gap)[0]], table(lowest - gap)[1])
        r = world.distance(poses)
        assert r.distance == pytest.approx(gap, abs=TOL) and r.pair[1] == "table"
        assert not world.in_contact(poses) and world.in_contact(poses, padding=gap + 1e-4)
    world.add("table", [table(lowest + 0.01)[0]], table(lowest + 0.01)[1])
    r = world.distance(poses)
    assert r.distance <= 0 and r.pair[1] == "table" and world.in_contact(poses)
    world.move("table", pose_matrix([0.8, 0.0, lowest - 0.3 - 0.05], [0, 0, 0, 1]))
    assert world.distance(poses).distance == pytest.approx(min(0.3, self_clear), abs=TOL)
    world.remove("table")
    assert world.distance(poses).distance == self_clear
    with pytest.raises(InvalidShapeError, match="padding"):
        world.in_contact(poses, padding=-0.01)


# -- attached objects --------------------------------------------------------------------------


def test_attached_object_moves_with_the_hand(kin, pybullet_panda):
    """A sphere 0.2 m out along the hand's z axis against a ball in the world: their distance
    follows the hand as pybullet places it (self pairs left out to isolate the pair)."""
    world = CollisionWorld(RobotGeometry(load_mesh_pieces(kin.model), ()))
    cup, ball = Sphere(0.03), Sphere(0.05)
    offset = np.array([0.0, 0.0, 0.2, 1.0])
    world.attach(
        "cup",
        "panda_hand",
        [cup],
        pose_matrix(offset[:3], [0, 0, 0, 1]),
        touch_links=["panda_leftfinger", "panda_rightfinger"],
    )
    poses = pybullet_poses(pybullet_panda, DOWN, world.robot.links)
    ball_centre = (poses["panda_hand"] @ np.array([0.0, 0.0, 0.32, 1.0]))[:3]
    world.add("ball", [ball], pose_matrix(ball_centre, [0, 0, 0, 1]))
    for turn in (0.0, 0.1, -0.15):
        q = DOWN + np.array([turn, 0, 0, 0, 0, 0, turn])
        poses = pybullet_poses(pybullet_panda, q, world.robot.links)
        cup_centre = (poses["panda_hand"] @ offset)[:3]
        r = world.distance(poses, nearest_points=True)
        expected = np.linalg.norm(cup_centre - ball_centre) - 0.08
        assert r.pair == ("cup", "ball") and r.distance == pytest.approx(expected, abs=TOL)
    world.detach("cup", poses["panda_hand"])  # stays in the world where it was
    np.testing.assert_allclose(world.objects["cup"].pose[:3, 3], cup_centre, atol=1e-12)
    assert world.attached == {}
    with pytest.raises(UnknownObjectError, match="no attached object 'cup'"):
        world.detach("cup")


def test_touch_links_may_touch_the_attached_object(world, pybullet_panda):
    """A 5 cm sphere between the open fingers overlaps them: allowed through touch_links,
    contact otherwise; never checked against its own link."""
    poses = pybullet_poses(pybullet_panda, DOWN, world.robot.links)
    grip = [PlacedShape(Sphere(0.05), pose_matrix([0, 0, 0.1034], [0, 0, 0, 1]))]
    world.attach("grip", "panda_hand", grip, touch_links=["panda_leftfinger", "panda_rightfinger"])
    assert world.distance(poses).distance > 0
    world.attach("grip", "panda_hand", grip, touch_links=["panda_leftfinger"])  # replaced
    r = world.distance(poses)
    assert r.distance <= 0 and r.pair == ("grip", "panda_rightfinger")
    with pytest.raises(UnknownObjectError, match="unknown link 'panda_link9'"):
        world.attach("x", "panda_link9", grip)


def test_attaching_takes_a_world_object_of_the_same_id(world):
    world.add("box", [Box(0.1, 0.1, 0.1)])
    world.attach("box", "panda_hand", [Box(0.1, 0.1, 0.1)])
    assert "box" not in world.objects and "box" in world.attached


# -- robot against objects placed in pybullet --------------------------------------------------


def test_robot_object_distance_agrees_with_pybullet(pybullet_panda, kin):
    """Random boxes, spheres and cylinders near random configurations: FCL's robot-object mesh
    distance against pybullet's (link hulls with a 1 mm margin; the primitives' own margins
    add at most 1 mm more, measured 0.4-1.0 mm): never below, at most 1.1 mm above while
    pybullet sees a clear gap of > 5 mm."""
    robot = RobotGeometry(load_mesh_pieces(kin.model), ())  # no self pairs: robot-object only
    world = CollisionWorld(robot)
    client, rng, checked = pybullet_panda.client, np.random.default_rng(5), 0
    for k in range(90):
        q = rng.uniform(kin.model.lower, kin.model.upper)
        pos = rng.uniform([-0.6, -0.6, 0.0], [0.6, 0.6, 1.0])
        quat = rng.normal(size=4)
        quat /= np.linalg.norm(quat)
        if k % 3 == 0:
            dims = rng.uniform(0.05, 0.3, 3)
            shape = Box(*dims)
            cs = pybullet.createCollisionShape(
                pybullet.GEOM_BOX, halfExtents=list(dims / 2), physicsClientId=client
            )
        elif k % 3 == 1:
            shape = Sphere(rng.uniform(0.02, 0.15))
            cs = pybullet.createCollisionShape(
                pybullet.GEOM_SPHERE, radius=shape.radius, physicsClientId=client
            )
        else:
            shape = Cylinder(rng.uniform(0.05, 0.3), rng.uniform(0.02, 0.15))
            cs = pybullet.createCollisionShape(
                pybullet.GEOM_CYLINDER,
                radius=shape.radius,
                height=shape.height,
                physicsClientId=client,
            )
        body = pybullet.createMultiBody(
            0, cs, basePosition=list(pos), baseOrientation=list(quat), physicsClientId=client
        )
        pybullet_panda.set_joints(q, finger=0.04)
        ref = min(
            [
                p[8]
                for link in pybullet_panda.link_index.values()
                for p in pybullet.getClosestPoints(
                    pybullet_panda.body, body, 1.0, linkIndexA=link, physicsClientId=client
                )
            ]
            + [1.0]
        )
        pybullet.removeBody(body, physicsClientId=client)
        world.add("o", [shape], pose_matrix(pos, quat))
        poses = kin.frame_transforms(torch.as_tensor(q), robot.links).numpy()
        ours = world.distance(poses).distance
        if 0.005 < ref < 0.9:
            checked += 1
            assert ref - 1e-4 <= ours <= ref + 0.0011, (k, type(shape).__name__, ours, ref)
    assert checked >= 40
