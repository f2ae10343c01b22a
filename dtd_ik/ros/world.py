"""The node's collision world, kept from moveit_msgs/CollisionObject messages as move_group's
planning scene monitor keeps it, and the request's attached objects.

Pure conversions (hand-built messages in, :mod:`dtd_ik.collision` values out, no ROS graph):

- :func:`world_change`: a CollisionObject -> a :class:`WorldChange` (operation, id, shapes,
  pose in the base frame), every field checked before anything is applied;
- :func:`attached_object`: an AttachedCollisionObject of a request's robot_state -> an
  :class:`AttachedSpec` in its link's frame;
- :func:`describe_world`: a text listing of a world (what ``~/world_objects`` publishes).

:class:`WorldKeeper` holds the node's world: each message builds a new
:class:`~dtd_ik.collision.CollisionWorld` and swaps it in whole, so a solve in progress keeps
the world it started with and a refused message changes nothing. Units: m, quaternions x-y-z-w.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from geometry_msgs.msg import Pose
from moveit_msgs.msg import AttachedCollisionObject, CollisionObject
from shape_msgs.msg import Mesh, SolidPrimitive

from dtd_ik.collision import (
    Box,
    CollisionError,
    CollisionWorld,
    Cone,
    Cylinder,
    Operation,
    PlacedShape,
    RobotGeometry,
    Shape,
    Sphere,
    TriangleMesh,
)
from dtd_ik.exceptions import InvalidInputError
from dtd_ik.ros.conversions import pose_to_matrix


class WorldMessageError(InvalidInputError):
    """A CollisionObject or attached object that cannot be applied (the message says why)."""


@dataclass(frozen=True)
class WorldChange:
    """One checked CollisionObject operation, ready for :meth:`CollisionWorld.apply`."""

    operation: Operation
    object_id: str  # "" with REMOVE: every world object
    shapes: tuple[PlacedShape, ...]  # relative to ``pose``; empty for REMOVE and MOVE
    pose: np.ndarray | None  # (4, 4) object pose in the base frame [m]; None for REMOVE
    shape_poses: tuple[np.ndarray, ...] | None  # MOVE only: new (4, 4) per shape, or None


@dataclass(frozen=True)
class AttachedSpec:
    """An attached object checked and expressed in the frame of ``link``."""

    object_id: str
    link: str
    shapes: tuple[PlacedShape, ...]
    pose: np.ndarray  # (4, 4) object pose in the link frame [m]
    touch_links: tuple[str, ...]


# SolidPrimitive type -> (shape class, number of dimensions it reads)
_PRIMITIVES: dict[int, tuple[type, int]] = {
    SolidPrimitive.BOX: (Box, 3),  # BOX_X, BOX_Y, BOX_Z
    SolidPrimitive.SPHERE: (Sphere, 1),  # SPHERE_RADIUS
    SolidPrimitive.CYLINDER: (Cylinder, 2),  # CYLINDER_HEIGHT, CYLINDER_RADIUS
    SolidPrimitive.CONE: (Cone, 2),  # CONE_HEIGHT, CONE_RADIUS
}


def message_pose(pose: Pose, what: str) -> np.ndarray:
    """A geometry_msgs/Pose -> (4, 4); an all-zero quaternion (a default-built message) is the
    identity rotation, as MoveIt reads it ("empty quaternion ... neutral orientation")."""
    o = pose.orientation
    if o.x == 0.0 and o.y == 0.0 and o.z == 0.0 and o.w == 0.0:
        pose = Pose(position=pose.position)
        pose.orientation.w = 1.0
    try:
        return pose_to_matrix(pose, what)
    except InvalidInputError as exc:
        raise WorldMessageError(str(exc)) from None


def primitive_shape(primitive: SolidPrimitive, what: str) -> Shape:
    """A shape_msgs/SolidPrimitive (box, sphere, cylinder, cone) -> a collision shape."""
    if primitive.type not in _PRIMITIVES:
        raise WorldMessageError(
            f"{what}: unsupported primitive type {primitive.type} (known: "
            "1 BOX, 2 SPHERE, 3 CYLINDER, 4 CONE)"
        )
    cls, count = _PRIMITIVES[primitive.type]
    dims = [float(d) for d in primitive.dimensions]
    if len(dims) < count:
        raise WorldMessageError(
            f"{what}: {cls.__name__} needs {count} dimensions, got {len(dims)}"
        )
    try:
        return cls(*dims[:count])
    except CollisionError as exc:
        raise WorldMessageError(f"{what}: {exc}") from None


def mesh_shape(mesh: Mesh, what: str) -> TriangleMesh:
    """A shape_msgs/Mesh -> a triangle mesh (vertices [m], triangles as vertex indices)."""
    vertices = [(v.x, v.y, v.z) for v in mesh.vertices]
    triangles = [tuple(t.vertex_indices) for t in mesh.triangles]
    try:
        return TriangleMesh(
            np.array(vertices, dtype=np.float64).reshape(-1, 3),
            np.array(triangles, dtype=np.int64).reshape(-1, 3),
        )
    except CollisionError as exc:
        raise WorldMessageError(f"{what}: {exc}") from None


def _shapes_with_poses(msg: CollisionObject, what: str) -> tuple[PlacedShape, ...]:
    """The message's primitives and meshes, each at its pose relative to the object."""
    if len(msg.planes):
        raise WorldMessageError(f"{what}: planes are not supported (send a thin box instead)")
    out = []
    for kind, shapes, poses, convert in (
        ("primitive", msg.primitives, msg.primitive_poses, primitive_shape),
        ("mesh", msg.meshes, msg.mesh_poses, mesh_shape),
    ):
        if len(shapes) != len(poses):
            raise WorldMessageError(f"{what}: {len(shapes)} {kind}s but {len(poses)} {kind}_poses")
        for k, (shape, pose) in enumerate(zip(shapes, poses)):
            label = f"{what} {kind} {k}"
            out.append(PlacedShape(convert(shape, label), message_pose(pose, f"{label} pose")))
    return tuple(out)


def _shape_poses(msg: CollisionObject, what: str) -> tuple[np.ndarray, ...] | None:
    """A MOVE's new shape poses (primitive_poses then mesh_poses), or None when it gives none."""
    poses = [*msg.primitive_poses, *msg.mesh_poses]
    if not poses:
        return None
    return tuple(message_pose(p, f"{what} shape pose {k}") for k, p in enumerate(poses))


def fixed_frames(
    base_frame: str, model_frame: str, world_to_base: np.ndarray
) -> Callable[[str], np.ndarray]:
    """frame -> T_base_frame (4, 4) for the frames world objects may be given in: the base
    frame and the model frame (``world_to_base``: T_model_base); KeyError for any other."""
    frames = {base_frame: np.eye(4), model_frame: np.linalg.inv(world_to_base)}

    def frame_in_base(frame: str) -> np.ndarray:
        if frame not in frames:
            raise KeyError(
                f"unknown frame '{frame}': collision objects must be given in "
                f"{base_frame} or {model_frame}"
            )
        return frames[frame]

    return frame_in_base


def world_change(msg: CollisionObject, frame_in_base: Callable[[str], np.ndarray]) -> WorldChange:
    """Check one CollisionObject and express it in the base frame.

    Args:
        msg: the message; ``header.frame_id`` must be a frame ``frame_in_base`` knows.
        frame_in_base: frame name -> T_base_frame (4, 4) [m]; raises KeyError for a frame
            objects may not be given in.

    Raises:
        WorldMessageError: unknown operation or frame, bad dimensions or poses, no shapes for
            ADD/APPEND, an empty id where one is needed.
    """
    try:
        operation = Operation(
            int.from_bytes(msg.operation, "little")
            if isinstance(msg.operation, bytes)
            else int(msg.operation)
        )
    except ValueError:
        raise WorldMessageError(
            f"collision object '{msg.id}': unknown operation "
            f"{msg.operation!r} (0 ADD, 1 REMOVE, 2 APPEND, 3 MOVE)"
        ) from None
    what = f"{operation.name} '{msg.id}'"
    if operation is Operation.REMOVE:
        return WorldChange(operation, msg.id, (), None, None)
    if not msg.id:
        raise WorldMessageError(f"{operation.name}: the collision object has an empty id")
    try:
        T_base_header = frame_in_base(msg.header.frame_id)
    except KeyError as exc:
        raise WorldMessageError(f"{what}: {exc.args[0] if exc.args else exc}") from None
    pose = T_base_header @ message_pose(msg.pose, f"{what} pose")
    if operation is Operation.MOVE:
        return WorldChange(operation, msg.id, (), pose, _shape_poses(msg, what))
    shapes = _shapes_with_poses(msg, what)
    if not shapes:
        raise WorldMessageError(f"{what}: no primitives or meshes")
    return WorldChange(operation, msg.id, shapes, pose, None)


def attached_object(
    msg: AttachedCollisionObject, links: Sequence[str], frame_in_base: Callable[[str], np.ndarray]
) -> AttachedSpec:
    """Check one attached object of a request's robot_state, in its link's frame.

    ``header.frame_id`` empty means the link's frame; any other frame goes through
    ``frame_in_base`` (T_base_frame at the request's state; KeyError for an unknown frame).
    Only ADD is meaningful in a robot state; the object must carry its shapes.
    """
    obj = msg.object
    what = f"attached object '{obj.id}'"
    if not obj.id:
        raise WorldMessageError("an attached object has an empty id")
    if msg.link_name not in links:
        raise WorldMessageError(
            f"{what}: unknown link '{msg.link_name}' (known: {', '.join(links)})"
        )
    operation = (
        int.from_bytes(obj.operation, "little")
        if isinstance(obj.operation, bytes)
        else int(obj.operation)
    )
    if operation != Operation.ADD:
        raise WorldMessageError(
            f"{what}: operation {operation}; a robot state's attached objects must be ADD"
        )
    shapes = _shapes_with_poses(obj, what)
    if not shapes:
        raise WorldMessageError(f"{what}: no primitives or meshes")
    frame = obj.header.frame_id or msg.link_name
    try:
        T_link_header = np.linalg.inv(frame_in_base(msg.link_name)) @ frame_in_base(frame)
    except KeyError as exc:
        raise WorldMessageError(f"{what}: {exc.args[0] if exc.args else exc}") from None
    pose = T_link_header @ message_pose(obj.pose, f"{what} pose")
    return AttachedSpec(obj.id, msg.link_name, shapes, pose, tuple(msg.touch_links))


def _shape_text(shape: Shape) -> str:
    if isinstance(shape, TriangleMesh):
        return f"mesh({len(shape.vertices)} vertices, {len(shape.triangles)} triangles)"
    dims = ", ".join(f"{getattr(shape, n):g}" for n in type(shape).__dataclass_fields__)
    return f"{type(shape).__name__.lower()}({dims})"


def describe_world(world: CollisionWorld, base_frame: str) -> str:
    """One line per world object: id, position [m] in ``base_frame`` and shapes."""
    if not world.objects:
        return f"no world objects (frame {base_frame})"
    lines = [f"{len(world.objects)} world objects (positions in {base_frame} [m]):"]
    for obj in world.objects.values():
        x, y, z = obj.pose[:3, 3]
        shapes = ", ".join(_shape_text(s.shape) for s in obj.shapes)
        lines.append(f"{obj.id}: at ({x:.4f}, {y:.4f}, {z:.4f}); {shapes}")
    return "\n".join(lines)


def _copy_world(world: CollisionWorld) -> CollisionWorld:
    """A new world with the same robot geometry and world objects (no attached objects)."""
    out = CollisionWorld(world.robot)
    for obj in world.objects.values():
        out.add(obj.id, obj.shapes, obj.pose)
    return out


class WorldKeeper:
    """The node's world, changed one message at a time; see the module docstring."""

    def __init__(self, robot: RobotGeometry | None = None):
        self._world = CollisionWorld(robot)
        self._lock = threading.Lock()  # orders writers; readers take the reference as it is

    @property
    def world(self) -> CollisionWorld:
        """The current world (replaced, never changed, by :meth:`apply`)."""
        return self._world

    def apply(self, change: WorldChange) -> None:
        """Apply one checked change; on an error (unknown id, ...) the world stays as it was."""
        with self._lock:
            new = _copy_world(self._world)
            try:
                new.apply(
                    change.operation,
                    change.object_id,
                    change.shapes,
                    change.pose,
                    change.shape_poses,
                )
            except CollisionError as exc:
                raise WorldMessageError(str(exc)) from None
            self._world = new

    def for_request(self, attached: Iterable[AttachedSpec]) -> CollisionWorld | None:
        """The world a request is solved against: None when it has no objects (self-collision
        only), the node's world, or a copy of it with the request's attached objects."""
        attached = list(attached)
        world = self._world
        if not attached:
            return world if world.objects else None
        world = _copy_world(world)
        for spec in attached:
            try:
                world.attach(spec.object_id, spec.link, spec.shapes, spec.pose, spec.touch_links)
            except CollisionError as exc:
                raise WorldMessageError(str(exc)) from None
        return world


__all__ = [
    "AttachedSpec",
    "WorldChange",
    "WorldKeeper",
    "WorldMessageError",
    "attached_object",
    "describe_world",
    "fixed_frames",
    "message_pose",
    "mesh_shape",
    "primitive_shape",
    "world_change",
]
