"""The node's world from moveit_msgs/CollisionObject messages, on hand-built messages (no ROS
graph): each operation, each primitive, meshes, frames, and the refusals (bad frame, bad
dimensions, unknown id, unknown operation) that must leave the world unchanged. Expected
poses and dimensions are worked out by hand from the message fields."""

import math

import numpy as np
import pytest
from geometry_msgs.msg import Point, Pose
from moveit_msgs.msg import AttachedCollisionObject, CollisionObject
from shape_msgs.msg import Mesh, MeshTriangle, SolidPrimitive

from dtd_ik.collision import Box, Cone, Cylinder, RobotGeometry, Sphere, TriangleMesh
from dtd_ik.ros.world import (
    WorldKeeper,
    WorldMessageError,
    attached_object,
    describe_world,
    fixed_frames,
    world_change,
)

pytestmark = pytest.mark.ros

BASE, MODEL = "panda_link0", "world"
# model frame -> base: the base 1 m along the model's x, turned 90 deg about z
WORLD_TO_BASE = np.array(
    [[0.0, -1.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
)
FRAMES = fixed_frames(BASE, MODEL, WORLD_TO_BASE)


@pytest.fixture(scope="module")
def robot():
    return RobotGeometry.from_config()


def pose(x=0.0, y=0.0, z=0.0, qx=0.0, qy=0.0, qz=0.0, qw=1.0) -> Pose:
    p = Pose()
    p.position.x, p.position.y, p.position.z = x, y, z
    p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w = qx, qy, qz, qw
    return p


def primitive(kind, *dims) -> SolidPrimitive:
    return SolidPrimitive(type=kind, dimensions=list(dims))


def tetrahedron() -> Mesh:
    m = Mesh()
    m.vertices = [
        Point(x=0.0, y=0.0, z=0.0),
        Point(x=0.1, y=0.0, z=0.0),
        Point(x=0.0, y=0.1, z=0.0),
        Point(x=0.0, y=0.0, z=0.1),
    ]
    m.triangles = [
        MeshTriangle(vertex_indices=t) for t in ([0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3])
    ]
    return m


def message(
    object_id="table", operation=CollisionObject.ADD, frame=BASE, at=None, primitives=(), meshes=()
) -> CollisionObject:
    msg = CollisionObject(id=object_id, operation=operation)
    msg.header.frame_id = frame
    msg.pose = at if at is not None else pose()
    msg.primitives = [p for p, _ in primitives]
    msg.primitive_poses = [q for _, q in primitives]
    msg.meshes = [m for m, _ in meshes]
    msg.mesh_poses = [q for _, q in meshes]
    return msg


@pytest.mark.parametrize(
    "prim, expected",
    [
        (primitive(SolidPrimitive.BOX, 1.0, 0.8, 0.02), Box(1.0, 0.8, 0.02)),
        (primitive(SolidPrimitive.SPHERE, 0.05), Sphere(0.05)),
        (primitive(SolidPrimitive.CYLINDER, 0.3, 0.04), Cylinder(0.3, 0.04)),  # height, radius
        (primitive(SolidPrimitive.CONE, 0.2, 0.1), Cone(0.2, 0.1)),
    ],
)
def test_each_primitive_is_added_with_its_dimensions(prim, expected):
    change = world_change(message(primitives=[(prim, pose(z=0.1))]), FRAMES)
    (placed,) = change.shapes
    assert placed.shape == expected
    np.testing.assert_allclose(placed.pose[:3, 3], [0.0, 0.0, 0.1])


def test_mesh_keeps_vertices_and_triangles():
    change = world_change(message(meshes=[(tetrahedron(), pose(x=0.2))]), FRAMES)
    (placed,) = change.shapes
    assert isinstance(placed.shape, TriangleMesh)
    np.testing.assert_array_equal(placed.shape.vertices[3], [0.0, 0.0, 0.1])
    np.testing.assert_array_equal(placed.shape.triangles[1], [0, 1, 3])
    np.testing.assert_allclose(placed.pose[:3, 3], [0.2, 0.0, 0.0])


def test_model_frame_pose_is_carried_into_the_base_frame():
    # a point at model (1, 0.5, 0.3): base = R^T (p - t) with R = rot_z(90 deg), t = (1, 0, 0)
    # -> (0.5, 0.0, 0.3); an object turned 90 deg in the model frame is unturned in the base
    s = math.sqrt(0.5)
    msg = message(
        frame=MODEL,
        at=pose(1.0, 0.5, 0.3, qz=s, qw=s),
        primitives=[(primitive(SolidPrimitive.SPHERE, 0.1), pose())],
    )
    change = world_change(msg, FRAMES)
    np.testing.assert_allclose(change.pose[:3, 3], [0.5, 0.0, 0.3], atol=1e-12)
    np.testing.assert_allclose(change.pose[:3, :3], np.eye(3), atol=1e-12)


def test_default_built_quaternions_are_the_identity():
    msg = message(
        at=pose(0.1, 0.0, 0.0, qw=0.0),
        primitives=[(primitive(SolidPrimitive.BOX, 0.1, 0.1, 0.1), pose(qw=0.0))],
    )
    change = world_change(msg, FRAMES)
    np.testing.assert_array_equal(change.pose[:3, :3], np.eye(3))
    np.testing.assert_array_equal(change.shapes[0].pose[:3, :3], np.eye(3))


def test_add_append_move_remove_on_the_keeper(robot):
    keeper = WorldKeeper(robot)
    box = primitive(SolidPrimitive.BOX, 1.0, 1.0, 0.02)
    ball = primitive(SolidPrimitive.SPHERE, 0.05)
    keeper.apply(world_change(message(at=pose(0.5, 0.0, 0.2), primitives=[(box, pose())]), FRAMES))
    keeper.apply(
        world_change(
            message(
                operation=CollisionObject.APPEND, at=pose(9.0), primitives=[(ball, pose(z=0.1))]
            ),
            FRAMES,
        )
    )
    table = keeper.world.objects["table"]
    assert [type(s.shape) for s in table.shapes] == [Box, Sphere]
    np.testing.assert_allclose(table.pose[:3, 3], [0.5, 0.0, 0.2])  # APPEND keeps the pose
    keeper.apply(
        world_change(message(operation=CollisionObject.MOVE, at=pose(0.6, 0.1, 0.2)), FRAMES)
    )
    np.testing.assert_allclose(keeper.world.objects["table"].pose[:3, 3], [0.6, 0.1, 0.2])
    assert len(keeper.world.objects["table"].shapes) == 2  # MOVE keeps the shapes
    keeper.apply(world_change(message("ball", primitives=[(ball, pose())]), FRAMES))
    keeper.apply(world_change(message(operation=CollisionObject.REMOVE), FRAMES))
    assert list(keeper.world.objects) == ["ball"]
    keeper.apply(world_change(message("", operation=CollisionObject.REMOVE), FRAMES))
    assert keeper.world.objects == {}


def test_a_solve_keeps_the_world_it_started_with(robot):
    keeper = WorldKeeper(robot)
    before = keeper.world
    keeper.apply(
        world_change(message(primitives=[(primitive(SolidPrimitive.SPHERE, 0.1), pose())]), FRAMES)
    )
    assert before.objects == {} and list(keeper.world.objects) == ["table"]


@pytest.mark.parametrize(
    "build, words",
    [
        (
            lambda: message(
                frame="camera_link", primitives=[(primitive(1, 1.0, 1.0, 1.0), pose())]
            ),
            "unknown frame 'camera_link'",
        ),
        (
            lambda: message(frame="", primitives=[(primitive(1, 1.0, 1.0, 1.0), pose())]),
            "unknown frame ''",
        ),
        (lambda: message(primitives=[(primitive(1, 1.0, math.nan, 1.0), pose())]), "Box.y"),
        (lambda: message(primitives=[(primitive(2, -0.1), pose())]), "Sphere.radius"),
        (lambda: message(primitives=[(primitive(3, 0.1), pose())]), "needs 2 dimensions"),
        (
            lambda: message(primitives=[(primitive(9, 0.1), pose())]),
            "unsupported primitive type 9",
        ),
        (lambda: message(meshes=[(Mesh(), pose())]), "vertices must be"),
        (lambda: message(), "no primitives or meshes"),
        (
            lambda: message(operation=7, primitives=[(primitive(2, 0.1), pose())]),
            "unknown operation",
        ),
        (lambda: message("", primitives=[(primitive(2, 0.1), pose())]), "empty id"),
        (
            lambda: message(at=pose(math.inf), primitives=[(primitive(2, 0.1), pose())]),
            "NaN or inf",
        ),
    ],
)
def test_malformed_messages_are_refused_and_change_nothing(robot, build, words):
    keeper = WorldKeeper(robot)
    keeper.apply(world_change(message("kept", primitives=[(primitive(2, 0.1), pose())]), FRAMES))
    before = keeper.world
    with pytest.raises(WorldMessageError) as err:
        keeper.apply(world_change(build(), FRAMES))
    assert words in str(err.value)
    assert keeper.world is before and list(before.objects) == ["kept"]


@pytest.mark.parametrize("operation", [CollisionObject.REMOVE, CollisionObject.MOVE])
def test_unknown_id_is_refused(robot, operation):
    keeper = WorldKeeper(robot)
    before = keeper.world
    with pytest.raises(WorldMessageError, match="no world object 'ghost'"):
        keeper.apply(world_change(message("ghost", operation=operation), FRAMES))
    assert keeper.world is before


def test_attached_object_in_the_link_frame_and_the_request_world(robot):
    keeper = WorldKeeper(robot)
    keeper.apply(
        world_change(message(primitives=[(primitive(1, 1.0, 1.0, 0.02), pose())]), FRAMES)
    )
    msg = AttachedCollisionObject(
        link_name="panda_hand", touch_links=["panda_leftfinger", "panda_rightfinger"]
    )
    msg.object = message("tool", frame="", primitives=[(primitive(3, 0.1, 0.02), pose(z=0.1))])
    T_base_hand = np.eye(4)
    T_base_hand[:3, 3] = (0.4, 0.0, 0.5)
    frames = {"panda_hand": T_base_hand, BASE: np.eye(4)}
    spec = attached_object(msg, robot.links, frames.__getitem__)
    np.testing.assert_array_equal(spec.pose, np.eye(4))  # empty frame: the link's frame
    world = keeper.for_request([spec])
    assert set(world.attached) == {"tool"} and set(world.objects) == {"table"}
    assert world.attached["tool"].touch_links == {
        "panda_hand",
        "panda_leftfinger",
        "panda_rightfinger",
    }
    assert keeper.world.attached == {}  # the request's objects stay with the request
    # given in the base frame at (0.4, 0, 0.6): 0.1 m above the hand in the hand's frame
    msg.object = message(
        "tool", frame=BASE, at=pose(0.4, 0.0, 0.6), primitives=[(primitive(2, 0.02), pose())]
    )
    spec = attached_object(msg, robot.links, frames.__getitem__)
    np.testing.assert_allclose(spec.pose[:3, 3], [0.0, 0.0, 0.1])


@pytest.mark.parametrize(
    "link, operation, words",
    [
        ("nose", CollisionObject.ADD, "unknown link 'nose'"),
        ("panda_hand", CollisionObject.REMOVE, "must be ADD"),
    ],
)
def test_bad_attached_objects_are_refused(robot, link, operation, words):
    msg = AttachedCollisionObject(link_name=link)
    msg.object = message(
        "tool", operation=operation, frame="", primitives=[(primitive(2, 0.02), pose())]
    )
    with pytest.raises(WorldMessageError, match=words):
        attached_object(msg, robot.links, {"panda_hand": np.eye(4)}.__getitem__)


def test_no_objects_means_self_collision_only_and_a_listing(robot):
    keeper = WorldKeeper(robot)
    assert keeper.for_request([]) is None
    assert "no world objects" in describe_world(keeper.world, BASE)
    keeper.apply(
        world_change(
            message(at=pose(0.5, 0.0, 0.2), primitives=[(primitive(1, 1.0, 0.8, 0.02), pose())]),
            FRAMES,
        )
    )
    assert keeper.for_request([]) is keeper.world
    text = describe_world(keeper.world, BASE)
    assert "table: at (0.5000, 0.0000, 0.2000); box(1, 0.8, 0.02)" in text


def test_move_with_shape_poses_moves_every_shape(robot):
    keeper = WorldKeeper(robot)
    ball = primitive(SolidPrimitive.SPHERE, 0.05)
    keeper.apply(world_change(message(primitives=[(ball, pose()), (ball, pose(z=0.1))]), FRAMES))
    move = message(operation=CollisionObject.MOVE, frame=MODEL, at=pose(1.0, 0.5, 0.0))
    move.primitive_poses = [pose(x=0.2), pose(y=0.3)]  # MoveIt: new shape poses, no geometry
    keeper.apply(world_change(move, FRAMES))
    table = keeper.world.objects["table"]
    np.testing.assert_allclose(table.pose[:3, 3], [0.5, 0.0, 0.0], atol=1e-12)  # as above
    np.testing.assert_allclose(
        [s.pose[:3, 3] for s in table.shapes], [[0.2, 0.0, 0.0], [0.0, 0.3, 0.0]]
    )
    move.primitive_poses = [pose()]  # one pose for two shapes
    with pytest.raises(WorldMessageError, match="1 shape poses for 2 shapes"):
        keeper.apply(world_change(move, FRAMES))
