"""Primitive shapes with shape_msgs/SolidPrimitive's conventions, and their FCL geometry.

Every shape is centred at its pose's origin (its bounding box centred there); cylinder and cone
stand along +z, the cone's tip up at +height/2 and its base at -height/2 (FCL's convention too).
Meshes are :class:`~dtd_ik.collision.mesh_file.TriangleMesh`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import fcl
import numpy as np

from dtd_ik.collision.exceptions import InvalidShapeError
from dtd_ik.collision.mesh_file import TriangleMesh


class _Primitive:
    """Checks at construction that every dimension [m] is finite and > 0."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise InvalidShapeError(
                    f"{type(self).__name__}.{f.name}: must be a number, got {value!r}"
                )
            if not (math.isfinite(value) and value > 0):
                raise InvalidShapeError(
                    f"{type(self).__name__}.{f.name}: must be finite and > 0, got {value!r}"
                )


@dataclass(frozen=True)
class Box(_Primitive):
    """Side lengths along x, y, z [m] (SolidPrimitive BOX_X, BOX_Y, BOX_Z)."""

    x: float
    y: float
    z: float


@dataclass(frozen=True)
class Sphere(_Primitive):
    """Radius [m] (SolidPrimitive SPHERE_RADIUS)."""

    radius: float


@dataclass(frozen=True)
class Cylinder(_Primitive):
    """Height along z and radius [m] (SolidPrimitive CYLINDER_HEIGHT, CYLINDER_RADIUS)."""

    height: float
    radius: float


@dataclass(frozen=True)
class Cone(_Primitive):
    """Height along z (tip up) and base radius [m] (SolidPrimitive CONE_HEIGHT, CONE_RADIUS)."""

    height: float
    radius: float


Shape = Box | Sphere | Cylinder | Cone | TriangleMesh


def fcl_geometry(shape: Shape) -> fcl.CollisionGeometry:
    """FCL geometry of ``shape``; a mesh becomes a BVH of its triangles (OBBRSS, what MoveIt
    collides), so non-convex meshes keep their shape."""
    if isinstance(shape, Box):
        return fcl.Box(shape.x, shape.y, shape.z)
    if isinstance(shape, Sphere):
        return fcl.Sphere(shape.radius)
    if isinstance(shape, Cylinder):
        return fcl.Cylinder(shape.radius, shape.height)
    if isinstance(shape, Cone):
        return fcl.Cone(shape.radius, shape.height)
    if isinstance(shape, TriangleMesh):
        bvh = fcl.BVHModel()
        bvh.beginModel(len(shape.vertices), len(shape.triangles))
        bvh.addSubModel(shape.vertices, shape.triangles)
        bvh.endModel()
        return bvh
    raise InvalidShapeError(
        f"not a shape: {type(shape).__name__} (known: Box, Sphere, Cylinder, Cone, TriangleMesh)"
    )


def bounding_sphere(shape: Shape) -> tuple[np.ndarray, float]:
    """(centre (3,) in the shape's frame, radius) [m] of a sphere containing ``shape``: the
    cheap lower bound on pair distances that lets a query skip pairs that cannot be closest."""
    if isinstance(shape, TriangleMesh):
        centre = (shape.vertices.min(0) + shape.vertices.max(0)) / 2
        return centre, float(np.linalg.norm(shape.vertices - centre, axis=1).max())
    if isinstance(shape, Box):
        return np.zeros(3), 0.5 * math.sqrt(shape.x**2 + shape.y**2 + shape.z**2)
    if isinstance(shape, Sphere):
        return np.zeros(3), shape.radius
    if isinstance(shape, (Cylinder, Cone)):
        return np.zeros(3), math.hypot(shape.radius, shape.height / 2)
    raise InvalidShapeError(f"not a shape: {type(shape).__name__}")


__all__ = ["Box", "Cone", "Cylinder", "Shape", "Sphere", "bounding_sphere", "fcl_geometry"]
