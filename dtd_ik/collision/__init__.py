"""Exact collision checking with FCL: the robot's collision meshes placed by link poses, a
planning-scene-like world of primitive and mesh objects, and attached objects.

    from dtd_ik.collision import Box, CollisionWorld, PlacedShape
    world = CollisionWorld()                       # meshes from config/panda_robot.yaml
    world.add("table", [Box(1.0, 1.0, 0.02)], pose)          # pose (4, 4), base frame [m]
    r = world.distance(link_poses)                 # link -> (4, 4) or (L, 4, 4) [m]
    r.distance, r.pair, r.points                   # [m] (<= 0: contact), closest pair's names

No kinematics and no ROS types here: callers pass link poses and plain shapes.
"""

from dtd_ik.collision.exceptions import CollisionError, InvalidShapeError, UnknownObjectError
from dtd_ik.collision.mesh_file import TriangleMesh, read_obj
from dtd_ik.collision.pair_distance import DistanceResult
from dtd_ik.collision.poses import pose_matrix, rigid_transform
from dtd_ik.collision.robot_geometry import MeshPiece, RobotGeometry
from dtd_ik.collision.shapes import Box, Cone, Cylinder, Shape, Sphere
from dtd_ik.collision.world import (
    AttachedObject,
    CollisionWorld,
    Operation,
    PlacedShape,
    WorldObject,
)

__all__ = [
    "AttachedObject",
    "Box",
    "CollisionError",
    "CollisionWorld",
    "Cone",
    "Cylinder",
    "DistanceResult",
    "InvalidShapeError",
    "MeshPiece",
    "Operation",
    "PlacedShape",
    "RobotGeometry",
    "Shape",
    "Sphere",
    "TriangleMesh",
    "UnknownObjectError",
    "WorldObject",
    "pose_matrix",
    "read_obj",
    "rigid_transform",
]
