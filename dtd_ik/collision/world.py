"""A planning-scene-like collision world around the robot: named objects, attached objects,
and the smallest distance over self and world pairs.

Operations follow moveit_msgs/CollisionObject and MoveIt's PlanningScene:
ADD replaces an object of the same id; APPEND adds shapes to an existing object (keeping its
pose; the shapes' poses are relative to it) or creates it; REMOVE drops one object, or every
world object when the id is empty; MOVE sets an existing object's pose (and optionally every
shape's pose). ADD/APPEND without shapes, REMOVE/MOVE of an unknown id are refused.
World objects are never checked against each other; attached objects ride on a link and are
checked against the world and against every robot link except their touch links.
Every operation validates all of its input before it changes anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum

import fcl
import numpy as np

from dtd_ik.collision.exceptions import InvalidShapeError, UnknownObjectError
from dtd_ik.collision.mesh_file import TriangleMesh
from dtd_ik.collision.pair_distance import NO_PAIR, DistanceResult, pair_distance
from dtd_ik.collision.poses import fcl_transform, rigid_transform
from dtd_ik.collision.robot_geometry import RobotGeometry
from dtd_ik.collision.shapes import (
    Box,
    Cone,
    Cylinder,
    Shape,
    Sphere,
    bounding_sphere,
    fcl_geometry,
)


class Operation(IntEnum):
    """moveit_msgs/CollisionObject's operation constants."""

    ADD = 0
    REMOVE = 1
    APPEND = 2
    MOVE = 3


@dataclass(frozen=True, eq=False)
class PlacedShape:
    """A shape and its (4, 4) pose relative to its object's frame [m] (None: identity)."""

    shape: Shape
    pose: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.shape, (Box, Sphere, Cylinder, Cone, TriangleMesh)):
            raise InvalidShapeError(
                f"not a shape: {type(self.shape).__name__} (known: Box, "
                f"Sphere, Cylinder, Cone, TriangleMesh)"
            )
        object.__setattr__(self, "pose", rigid_transform(self.pose, "shape pose"))


@dataclass(frozen=True, eq=False)
class WorldObject:
    """A world object: ``pose`` (4, 4) in the base frame [m], shapes relative to it."""

    id: str
    pose: np.ndarray
    shapes: tuple[PlacedShape, ...]


@dataclass(frozen=True, eq=False)
class AttachedObject:
    """An object fixed to ``link``: ``pose`` (4, 4) in the link frame [m], shapes relative to
    it; it may touch ``touch_links`` (always including ``link``)."""

    id: str
    link: str
    pose: np.ndarray
    shapes: tuple[PlacedShape, ...]
    touch_links: frozenset[str]


def _placed(shapes: Iterable[PlacedShape | Shape], what: str) -> tuple[PlacedShape, ...]:
    """Shapes (bare ones at the identity) as checked PlacedShapes; at least one."""
    out = tuple(s if isinstance(s, PlacedShape) else PlacedShape(s) for s in shapes)
    if not out:
        raise InvalidShapeError(f"{what}: no shapes given")
    return out


def _check_id(object_id: str) -> str:
    if not isinstance(object_id, str) or not object_id:
        raise InvalidShapeError(f"object id must be a non-empty string, got {object_id!r}")
    return object_id


class _Body:
    """FCL objects of one object's shapes, placed from the object's frame, with bounding
    spheres (centres in the base frame once placed)."""

    def __init__(self, shapes: Sequence[PlacedShape]):
        self.shapes = tuple(shapes)
        self.objects = [fcl.CollisionObject(fcl_geometry(s.shape)) for s in self.shapes]
        spheres = [bounding_sphere(s.shape) for s in self.shapes]
        self._local_centres = [np.append(c, 1.0) for c, _ in spheres]  # (4,) shape frame
        self.radii = np.array([r for _, r in spheres])  # (K,) [m]
        self.centres = np.zeros((len(self.shapes), 3))  # (K, 3) base frame, set by place

    def place(self, frame: np.ndarray) -> None:
        """Put every shape at ``frame @ shape.pose``; ``frame`` (4, 4) in the base frame."""
        for k, (s, obj) in enumerate(zip(self.shapes, self.objects)):
            T = frame @ s.pose
            obj.setTransform(fcl_transform(T))
            self.centres[k] = (T @ self._local_centres[k])[:3]


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a) * len(b), 2) int64: every pair of an index in ``a`` with one in ``b``."""
    return np.stack(np.meshgrid(a, b, indexing="ij"), -1).reshape(-1, 2).astype(np.int64)


class CollisionWorld:
    """The robot's exact geometry plus world and attached objects; see the module docstring."""

    def __init__(self, robot: RobotGeometry | None = None):
        self.robot = robot if robot is not None else RobotGeometry.from_config()
        self._world: dict[str, tuple[WorldObject, _Body]] = {}
        self._attached: dict[str, tuple[AttachedObject, _Body]] = {}

    # -- world objects ---------------------------------------------------------------------

    @property
    def objects(self) -> dict[str, WorldObject]:
        """The world objects by id."""
        return {k: obj for k, (obj, _) in self._world.items()}

    def add(self, object_id: str, shapes: Iterable[PlacedShape | Shape], pose=None) -> None:
        """ADD: the object at ``pose`` (4, 4, base frame; None: identity), replacing one of
        the same id."""
        object_id, pose = _check_id(object_id), rigid_transform(pose, f"{object_id} pose")
        placed = _placed(shapes, f"ADD {object_id}")
        self._set_world(WorldObject(object_id, pose, placed))

    def append(self, object_id: str, shapes: Iterable[PlacedShape | Shape], pose=None) -> None:
        """APPEND: ``shapes`` added to an existing object (its pose kept, ``pose`` unused), or a
        new object at ``pose`` as ADD makes it."""
        object_id, pose = _check_id(object_id), rigid_transform(pose, f"{object_id} pose")
        placed = _placed(shapes, f"APPEND {object_id}")
        if object_id in self._world:
            old = self._world[object_id][0]
            self._set_world(WorldObject(object_id, old.pose, old.shapes + placed))
        else:
            self._set_world(WorldObject(object_id, pose, placed))

    def remove(self, object_id: str = "") -> None:
        """REMOVE: the object ``object_id``, or every world object when it is empty."""
        if object_id == "":
            self._world.clear()
            return
        if object_id not in self._world:
            raise UnknownObjectError(
                f"REMOVE: no world object {object_id!r} "
                f"(known: {', '.join(self._world) or 'none'})"
            )
        del self._world[object_id]

    def move(self, object_id: str, pose, shape_poses: Sequence | None = None) -> None:
        """MOVE: the existing object to ``pose`` (4, 4, base frame); with ``shape_poses`` (one
        (4, 4) per shape, relative to the object) every shape moves too."""
        if object_id not in self._world:
            raise UnknownObjectError(
                f"MOVE: no world object {object_id!r} (known: {', '.join(self._world) or 'none'})"
            )
        pose = rigid_transform(pose, f"{object_id} pose")
        old = self._world[object_id][0]
        shapes = old.shapes
        if shape_poses is not None:
            if len(shape_poses) != len(old.shapes):
                raise InvalidShapeError(
                    f"MOVE {object_id}: {len(shape_poses)} shape poses for "
                    f"{len(old.shapes)} shapes"
                )
            shapes = tuple(PlacedShape(s.shape, p) for s, p in zip(old.shapes, shape_poses))
        self._set_world(WorldObject(object_id, pose, shapes))

    def apply(
        self,
        operation: Operation | int,
        object_id: str,
        shapes: Iterable[PlacedShape | Shape] = (),
        pose=None,
        shape_poses: Sequence | None = None,
    ) -> None:
        """One CollisionObject operation by its code (0 ADD, 1 REMOVE, 2 APPEND, 3 MOVE);
        REMOVE and MOVE ignore ``shapes`` (MoveIt warns and ignores a MOVE's geometry)."""
        try:
            op = Operation(operation)
        except ValueError:
            raise InvalidShapeError(
                f"unknown operation {operation!r} (known: "
                f"{', '.join(f'{o.value} {o.name}' for o in Operation)})"
            ) from None
        if op is Operation.ADD:
            self.add(object_id, shapes, pose)
        elif op is Operation.APPEND:
            self.append(object_id, shapes, pose)
        elif op is Operation.REMOVE:
            self.remove(object_id)
        else:
            self.move(object_id, pose, shape_poses)

    def _set_world(self, obj: WorldObject) -> None:
        body = _Body(obj.shapes)
        body.place(obj.pose)
        self._world[obj.id] = (obj, body)

    # -- attached objects ------------------------------------------------------------------

    @property
    def attached(self) -> dict[str, AttachedObject]:
        """The attached objects by id."""
        return {k: obj for k, (obj, _) in self._attached.items()}

    def attach(
        self,
        object_id: str,
        link: str,
        shapes: Iterable[PlacedShape | Shape],
        pose=None,
        touch_links: Iterable[str] = (),
    ) -> None:
        """Fix an object to ``link`` at ``pose`` (4, 4, link frame), replacing an attached one
        of the same id; a world object of that id leaves the world (MoveIt moves it onto the
        robot). ``touch_links``: link names it may touch besides ``link``."""
        object_id = _check_id(object_id)
        if link not in self.robot.links:
            raise UnknownObjectError(
                f"attach {object_id}: unknown link {link!r} (known: {', '.join(self.robot.links)})"
            )
        pose = rigid_transform(pose, f"{object_id} pose")
        placed = _placed(shapes, f"attach {object_id}")
        touch = frozenset([link, *touch_links])
        self._attached[object_id] = (
            AttachedObject(object_id, link, pose, placed, touch),
            _Body(placed),
        )
        self._world.pop(object_id, None)

    def detach(self, object_id: str, link_pose=None) -> None:
        """Release an attached object; given its link's current pose (4, 4, base frame) it
        stays in the world where it is, as MoveIt's detach does, else it is dropped."""
        if object_id not in self._attached:
            raise UnknownObjectError(
                f"detach: no attached object {object_id!r} "
                f"(known: {', '.join(self._attached) or 'none'})"
            )
        obj = self._attached[object_id][0]
        if link_pose is not None:
            frame = rigid_transform(link_pose, f"{obj.link} pose") @ obj.pose
            self._set_world(WorldObject(object_id, frame, obj.shapes))
        del self._attached[object_id]

    # -- queries ---------------------------------------------------------------------------

    def distance(self, link_poses, nearest_points: bool = False) -> DistanceResult:
        """Smallest distance over the robot's checked self pairs, robot-world,
        attached-world and attached-robot (except touch links) pairs.

        ``link_poses``: a mapping link -> (4, 4), or (L, 4, 4) in ``robot.links`` order, base
        frame [m]. ``nearest_points`` also returns the closest points. Pairs are visited by
        their bounding-sphere distance (a lower bound on theirs) and the visit stops once that
        bound reaches the best distance so far, so the result is the exact minimum.
        """
        robot = self.robot
        poses, robot_centres = robot.place(link_poses)
        objects, names = list(robot.objects), list(robot.names)
        centres, radii = [robot_centres], [robot.sphere_radii]
        pairs = [robot.pair_index]
        robot_ids = np.arange(len(objects))
        world_ids = self._gather(self._world.values(), None, objects, names, centres, radii)
        attached_ids = self._gather(self._attached.values(), poses, objects, names, centres, radii)
        pairs.append(_cross(robot_ids, world_ids))
        pairs.append(_cross(attached_ids, world_ids))
        for a in attached_ids:
            touch = self._attached[names[a]][0].touch_links
            allowed = np.array([i for i in robot_ids if names[i] not in touch], dtype=np.int64)
            pairs.append(_cross(np.array([a]), allowed))
        pair_index = np.concatenate(pairs)
        centre, radius = np.concatenate(centres), np.concatenate(radii)
        bound = (
            np.linalg.norm(centre[pair_index[:, 0]] - centre[pair_index[:, 1]], axis=1)
            - radius[pair_index[:, 0]]
            - radius[pair_index[:, 1]]
        )
        best = NO_PAIR
        for k in np.argsort(bound, kind="stable"):
            if bound[k] >= best.distance:
                break
            i, j = pair_index[k]
            d, points = pair_distance(objects[i], objects[j], nearest_points)
            if d < best.distance:
                best = DistanceResult(d, (names[i], names[j]), points)
        return best

    def _gather(
        self,
        entries,
        link_poses: np.ndarray | None,
        objects: list,
        names: list,
        centres: list,
        radii: list,
    ) -> np.ndarray:
        """Append the placed FCL objects of world (``link_poses`` None) or attached objects to
        the query's lists; returns their indices there."""
        start = len(objects)
        for obj, body in entries:
            if link_poses is not None:
                body.place(link_poses[self.robot.links.index(obj.link)] @ obj.pose)
            objects.extend(body.objects)
            names.extend([obj.id] * len(body.objects))
            centres.append(body.centres)
            radii.append(body.radii)
        return np.arange(start, len(objects))

    def in_contact(self, link_poses, padding: float = 0.0) -> bool:
        """Whether any checked pair is within ``padding`` [m] (>= 0; 0 = touching or
        overlapping, move_group's default)."""
        if not (isinstance(padding, (int, float)) and np.isfinite(padding) and padding >= 0):
            raise InvalidShapeError(f"padding must be finite and >= 0 [m], got {padding!r}")
        return self.distance(link_poses).distance <= padding


__all__ = ["AttachedObject", "CollisionWorld", "Operation", "PlacedShape", "WorldObject"]
