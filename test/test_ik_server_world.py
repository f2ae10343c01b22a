"""The node's world over real DDS: a table box published on ``collision_object`` is listed on
the latched ``~/world_objects``; malformed CollisionObjects are refused with a log line and
change nothing; answers just above the table are clear of it by pybullet's own distance
between its Panda and a box placed where the table is; a goal inside the table is refused;
removing the table restores the answer.

The node is ik_server_fixtures' ``server`` (its own subprocess for this module), the client a
plain rclpy node publishing CollisionObject messages as MoveIt's planning scene users do.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pybullet
import pytest
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Pose
from moveit_msgs.msg import CollisionObject
from moveit_msgs.msg import MoveItErrorCodes as Codes
from rclpy.qos import DurabilityPolicy, QoSProfile
from shape_msgs.msg import Mesh, SolidPrimitive
from std_msgs.msg import String

import ik_server_fixtures as fx
from dtd_ik.ros.client import make_request

pytestmark = pytest.mark.ros

TABLE_CENTRE = (0.5, 0.0, 0.2)  # [m] in panda_link0
TABLE_SIZE = (0.6, 1.0, 0.04)  # [m]: the top at z = 0.22
DOWN = (1.0, 0.0, 0.0, 0.0)  # x-y-z-w: the hand's z pointing down
ABOVE = (0.5, 0.0, 0.345)  # hand origin; its fingertips ~1 cm above the top (pybullet)
INSIDE = (0.5, 0.0, 0.15)  # hand origin under the table top: the hand would cut through it
# Bullet inflates a link's convex hull by 1 mm and not a box primitive: its link-box distance
# is the hull's distance minus 1 mm (measured here: FCL's 12.75 mm, pybullet's 11.75 mm)
BULLET_LINK_MARGIN = 0.001


def pose(x=0.0, y=0.0, z=0.0) -> Pose:
    p = Pose()
    p.position.x, p.position.y, p.position.z = float(x), float(y), float(z)
    p.orientation.w = 1.0
    return p


def collision_object(
    object_id="table",
    operation=CollisionObject.ADD,
    frame="panda_link0",
    dims=TABLE_SIZE,
    kind=SolidPrimitive.BOX,
    meshes=(),
) -> CollisionObject:
    msg = CollisionObject(id=object_id, operation=operation)
    msg.header.frame_id = frame
    msg.pose = pose(*TABLE_CENTRE)
    if dims is not None:
        msg.primitives = [SolidPrimitive(type=kind, dimensions=list(dims))]
        msg.primitive_poses = [pose()]
    msg.meshes = list(meshes)
    msg.mesh_poses = [pose() for _ in meshes]
    return msg


class World:
    """The client's publisher on collision_object and the node's latched listing."""

    def __init__(self, client):
        self.client = client
        self.pub = client.node.create_publisher(CollisionObject, f"{fx.NS}/collision_object", 10)
        self.listings: list[str] = []
        client.node.create_subscription(
            String,
            f"{fx.NS}/dtd_ik_server/world_objects",
            lambda msg: self.listings.append(msg.data),
            QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL),
        )
        client.spin_until(lambda: self.listings, "latched world listing")
        client.spin_until(
            lambda: self.pub.get_subscription_count() > 0, "node subscribed to collision_object"
        )

    def publish(self, msg: CollisionObject) -> None:
        self.pub.publish(msg)

    def wait_for(self, pattern: str) -> str:
        """The newest listing once one matches ``pattern``."""
        self.client.spin_until(
            lambda: self.listings and re.search(pattern, self.listings[-1]),
            f"world listing matching {pattern!r}",
        )
        return self.listings[-1]


@pytest.fixture(scope="module")
def world(client):
    return World(client)


@pytest.fixture
def box_in_pybullet(pybullet_panda):
    """The table as a pybullet box in the Panda's client; yields its body id."""
    half = [s / 2 for s in TABLE_SIZE]
    cid = pybullet_panda.client
    shape = pybullet.createCollisionShape(pybullet.GEOM_BOX, halfExtents=half, physicsClientId=cid)
    body = pybullet.createMultiBody(
        baseMass=0, baseCollisionShapeIndex=shape, basePosition=TABLE_CENTRE, physicsClientId=cid
    )
    yield body
    pybullet.removeBody(body, physicsClientId=cid)


def table_distance(panda, box: int, q, fingers, reach: float = 0.2) -> float:
    """pybullet's smallest distance [m] between any Panda link and the box (capped)."""
    panda.set_joints(np.asarray(q), finger=float(fingers[0]))
    points = pybullet.getClosestPoints(panda.body, box, reach, physicsClientId=panda.client)
    return min([reach] + [pt[8] for pt in points])


def solve(client, position, timeout=1.0):
    req = make_request(position, DOWN, avoid_collisions=True)
    req.ik_request.timeout = Duration(sec=int(timeout), nanosec=int(timeout % 1 * 1e9))
    return client.call(client.ik, req)


def test_table_is_listed_and_malformed_objects_change_nothing(client, server, world):
    assert "no world objects" in world.listings[0]
    world.publish(collision_object())
    listing = world.wait_for(r"table: at \(0\.5000, 0\.0000, 0\.2000\); box\(0\.6, 1, 0\.04\)")
    empty_mesh = Mesh()
    bad = [
        collision_object("bad_op", operation=9),
        collision_object("bad_dims", dims=(0.1, math.nan, 0.1)),
        collision_object("bad_frame", frame="camera_link"),
        collision_object("bad_mesh", dims=None, meshes=[empty_mesh]),
        collision_object("ghost", operation=CollisionObject.REMOVE),
    ]
    for msg in bad:
        world.publish(msg)
    marker = collision_object("marker", kind=SolidPrimitive.SPHERE, dims=(0.01,))
    marker.pose = pose(-1.0, -1.0, 0.0)
    world.publish(marker)  # published after the bad ones: its listing follows their handling
    listing = world.wait_for(r"marker:")
    assert listing.startswith("2 world objects")
    assert not re.search("bad_|ghost", listing)
    assert "table: at (0.5000, 0.0000, 0.2000); box(0.6, 1, 0.04)" in listing
    world.publish(collision_object("marker", operation=CollisionObject.REMOVE))
    world.wait_for(r"^1 world objects")
    log = server.log()
    for words in (
        "unknown operation",
        "Box.y",
        "unknown frame 'camera_link'",
        "vertices must be",
        "no world object 'ghost'",
    ):
        assert re.search(f"collision object refused: .*{re.escape(words)}", log), words


def test_answers_clear_the_table_and_goals_inside_it_are_refused(
    client, kin, world, pybullet_panda, box_in_pybullet
):
    world.publish(collision_object())
    world.wait_for(r"table: ")
    for dx, dy in [(0.0, 0.0), (0.1, 0.15), (-0.1, -0.2), (0.15, -0.1)]:
        goal = np.array(ABOVE) + (dx, dy, 0.0)
        res = solve(client, goal)
        assert res.error_code.val == Codes.SUCCESS, res.error_code.message
        js = res.solution.joint_state
        q = np.array(js.position[:7])
        dp, dr = fx.goal_error(kin, q, goal, DOWN)
        assert dp <= 1e-4 and dr <= 1e-3
        margin = (
            float(re.search(r"collision margin (-?[\d.]+) mm", res.error_code.message).group(1))
            * 1e-3
        )
        clearance = table_distance(pybullet_panda, box_in_pybullet, q, js.position[7:])
        assert clearance > 0.0, f"answer touches the table (pybullet: {clearance * 1e3:.2f} mm)"
        clearance += BULLET_LINK_MARGIN
        # the reported margin is the smallest over self and world: the table's is no smaller,
        # and where the node names the table as the closest, the two libraries agree
        assert clearance >= margin - 1e-4, (clearance, margin)
        if "/table)" in res.error_code.message:
            assert abs(clearance - margin) <= 1e-4, (clearance, margin)
    res = solve(client, INSIDE, timeout=0.3)
    assert res.error_code.val == Codes.NO_IK_SOLUTION, res.error_code.message
    world.publish(collision_object(operation=CollisionObject.REMOVE))
    world.wait_for(r"no world objects")
    res = solve(client, INSIDE)  # the table gone, the goal is reachable again
    assert res.error_code.val == Codes.SUCCESS, res.error_code.message
