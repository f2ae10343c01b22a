"""The robot's exact collision geometry: one FCL object per collision mesh, placed by link poses.

The meshes and where they sit come from the robot YAML (``collision.meshes``); the link pairs
checked are the robot model's (every pair of capsule links the SRDF does not disable), so the
capsules and the meshes answer for the same pairs. No kinematics here: callers pass link poses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import fcl
import numpy as np

from dtd_ik.collision.mesh_file import TriangleMesh, read_obj
from dtd_ik.collision.poses import fcl_transform
from dtd_ik.collision.shapes import bounding_sphere, fcl_geometry
from dtd_ik.config_files import build, read_yaml
from dtd_ik.exceptions import ConfigError, InvalidInputError, UnknownFrameError
from dtd_ik.paths import resolve
from dtd_ik.robot.model import RobotModel, load_robot_model, rpy_to_matrix


@dataclass(frozen=True)
class MeshEntry:
    """One ``collision.meshes`` item: a mesh file fixed to ``link`` at ``xyz`` [m], ``rpy``
    [rad]; ``name`` is its collision link's name (default: ``link``)."""

    link: str
    file: str
    name: str = ""
    xyz: tuple[float, ...] = (0.0, 0.0, 0.0)
    rpy: tuple[float, ...] = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class MeshSection:
    """The ``collision.meshes`` list of the robot YAML."""

    meshes: tuple[MeshEntry, ...] = ()


@dataclass(frozen=True, eq=False)
class MeshPiece:
    """A mesh riding on a link.

    Attributes:
        name: collision link name reported in results (MoveIt's link name).
        link: the link whose pose places it (a key of the link poses).
        offset: (4, 4) link frame -> mesh frame [m].
        mesh: the triangles in the mesh frame.
    """

    name: str
    link: str
    offset: np.ndarray
    mesh: TriangleMesh


def _offset(entry: MeshEntry, where: str) -> np.ndarray:
    if len(entry.xyz) != 3 or len(entry.rpy) != 3:
        raise ConfigError(f"{where}: xyz and rpy need 3 numbers each")
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = rpy_to_matrix(*entry.rpy), entry.xyz
    return T


def load_mesh_pieces(model: RobotModel) -> tuple[MeshPiece, ...]:
    """The mesh pieces of ``model``'s robot YAML (``collision.meshes``), files read once each."""
    tree = read_yaml(model.source, "robot config") or {}
    section = build(
        MeshSection, {"meshes": (tree.get("collision") or {}).get("meshes") or []}, "collision."
    )
    if not section.meshes:
        raise ConfigError(f"{model.source}: collision.meshes is missing or empty")
    cache: dict[Path, TriangleMesh] = {}
    pieces = []
    for i, entry in enumerate(section.meshes):
        where = f"{model.source}: collision.meshes[{i}]"
        path = resolve(entry.file)
        if path not in cache:
            try:
                cache[path] = read_obj(path)
            except ValueError as exc:
                raise ConfigError(f"{where}.file: {exc}") from exc
        pieces.append(
            MeshPiece(entry.name or entry.link, entry.link, _offset(entry, where), cache[path])
        )
    return tuple(pieces)


class RobotGeometry:
    """FCL objects of the robot's collision meshes and the pairs of them that are checked.

    ``links`` fixes the order of an (L, 4, 4) link-pose array; :meth:`place` moves every mesh.
    The objects are mutable (placed per query): one instance serves one thread.
    """

    def __init__(self, pieces: Iterable[MeshPiece], checked_pairs: Iterable[tuple[str, str]]):
        """``checked_pairs``: link pairs (by ``MeshPiece.link``) whose meshes are collided."""
        self.pieces = tuple(pieces)
        self.links = tuple(dict.fromkeys(p.link for p in self.pieces))
        self._link_index = np.array([self.links.index(p.link) for p in self.pieces])
        self._offsets = np.stack([p.offset for p in self.pieces])  # (M, 4, 4)
        self.objects = [fcl.CollisionObject(fcl_geometry(p.mesh)) for p in self.pieces]
        spheres = [bounding_sphere(p.mesh) for p in self.pieces]
        self.sphere_centres = np.stack([np.append(c, 1.0) for c, _ in spheres])  # (M, 4), mesh
        self.sphere_radii = np.array([r for _, r in spheres])  # (M,) [m]
        pairs = {frozenset(pair) for pair in checked_pairs}
        unknown = {link for pair in pairs for link in pair} - set(self.links)
        if unknown:
            raise ConfigError(f"checked pairs name links without meshes: {sorted(unknown)}")
        self.pair_index = np.array(
            [
                (i, j)
                for i, a in enumerate(self.pieces)
                for j, b in enumerate(self.pieces)
                if i < j and frozenset((a.link, b.link)) in pairs
            ],
            dtype=np.int64,
        ).reshape(-1, 2)

    @classmethod
    def from_config(cls, model: RobotModel | None = None) -> RobotGeometry:
        """The meshes of the robot YAML (default ``config/panda_robot.yaml``) with its pairs."""
        model = model if model is not None else load_robot_model()
        pieces = load_mesh_pieces(model)
        capsule_links = {c.link for c in model.capsules}
        mesh_links = {p.link for p in pieces}
        if capsule_links != mesh_links:
            raise ConfigError(
                f"{model.source}: collision.meshes cover {sorted(mesh_links)} but "
                f"the capsules {sorted(capsule_links)}; both must name the same "
                f"links"
            )
        return cls(pieces, model.collision_pairs)

    @property
    def names(self) -> tuple[str, ...]:
        """Collision link name of every piece, in ``pieces`` order."""
        return tuple(p.name for p in self.pieces)

    def link_pose_array(self, link_poses) -> np.ndarray:
        """``link_poses`` (a mapping link -> (4, 4), or (L, 4, 4) in ``links`` order, base
        frame [m]) as a float64 (L, 4, 4) array; raises for a missing link or a bad shape."""
        if isinstance(link_poses, Mapping):
            missing = [link for link in self.links if link not in link_poses]
            if missing:
                raise UnknownFrameError(
                    f"link poses lack {', '.join(missing)} (needed: {', '.join(self.links)})"
                )
            link_poses = [link_poses[link] for link in self.links]
        poses = np.asarray(link_poses, dtype=np.float64)
        if poses.shape != (len(self.links), 4, 4):
            raise InvalidInputError(
                f"link poses must be ({len(self.links)}, 4, 4) in the order "
                f"{', '.join(self.links)}; got shape {poses.shape}"
            )
        if not np.isfinite(poses).all():
            raise InvalidInputError("link poses contain NaN or inf")
        return poses

    def place(self, link_poses) -> tuple[np.ndarray, np.ndarray]:
        """Move every piece to its link's pose; returns the (L, 4, 4) link poses used and the
        (M, 3) centres of the pieces' bounding spheres in the base frame [m]."""
        poses = self.link_pose_array(link_poses)
        placed = poses[self._link_index] @ self._offsets  # (M, 4, 4) base -> mesh
        for obj, T in zip(self.objects, placed):
            obj.setTransform(fcl_transform(T))
        centres = (placed @ self.sphere_centres[:, :, None])[:, :3, 0]
        return poses, centres


__all__ = ["MeshEntry", "MeshPiece", "MeshSection", "RobotGeometry", "load_mesh_pieces"]
