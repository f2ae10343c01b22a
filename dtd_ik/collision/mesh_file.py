"""Triangle meshes: a checked (vertices, triangles) pair and a reader for Wavefront OBJ files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dtd_ik.collision.exceptions import InvalidShapeError


@dataclass(frozen=True, eq=False)
class TriangleMesh:
    """A triangle mesh in its own frame.

    Attributes:
        vertices: (V, 3) float64 vertex positions [m].
        triangles: (T, 3) int64 vertex indices, one row per triangle.
    """

    vertices: np.ndarray
    triangles: np.ndarray

    def __post_init__(self) -> None:
        try:
            vertices = np.array(self.vertices, dtype=np.float64)
            triangles = np.array(self.triangles, dtype=np.int64)
        except (TypeError, ValueError) as exc:
            raise InvalidShapeError(
                f"mesh: vertices and triangles must be numeric ({exc})"
            ) from exc
        if vertices.ndim != 2 or vertices.shape[1] != 3 or len(vertices) < 3:
            raise InvalidShapeError(f"mesh: vertices must be (V >= 3, 3), got {vertices.shape}")
        if triangles.ndim != 2 or triangles.shape[1] != 3 or len(triangles) < 1:
            raise InvalidShapeError(f"mesh: triangles must be (T >= 1, 3), got {triangles.shape}")
        if not np.isfinite(vertices).all():
            raise InvalidShapeError("mesh: vertices contain NaN or inf")
        if triangles.min() < 0 or triangles.max() >= len(vertices):
            raise InvalidShapeError(f"mesh: triangle indices must lie in [0, {len(vertices) - 1}]")
        vertices.flags.writeable = False
        triangles.flags.writeable = False
        object.__setattr__(self, "vertices", vertices)
        object.__setattr__(self, "triangles", triangles)


def read_obj(path: str | Path) -> TriangleMesh:
    """The mesh of a Wavefront OBJ file (``v`` and ``f`` records; polygons split into fans).

    Face indices may carry texture/normal parts (``f 1/2/3 ...``) and may be negative (relative
    to the end), as the format allows. Raises :class:`InvalidShapeError` for an unreadable file.
    """
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise InvalidShapeError(f"mesh file {path}: {exc.strerror}") from exc
    vertices: list[list[float]] = []
    triangles: list[tuple[int, int, int]] = []
    try:
        for line in lines:
            fields = line.split()
            if not fields:
                continue
            if fields[0] == "v":
                vertices.append([float(v) for v in fields[1:4]])
            elif fields[0] == "f":
                # OBJ indices are 1-based; negative ones count back from the last vertex so far
                idx = [int(f.split("/")[0]) for f in fields[1:]]
                idx = [i - 1 if i > 0 else len(vertices) + i for i in idx]
                triangles.extend((idx[0], idx[k], idx[k + 1]) for k in range(1, len(idx) - 1))
    except ValueError as exc:
        raise InvalidShapeError(f"mesh file {path}: {exc}") from exc
    try:
        return TriangleMesh(np.array(vertices), np.array(triangles))
    except InvalidShapeError as exc:
        raise InvalidShapeError(f"mesh file {path}: {exc}") from exc


__all__ = ["TriangleMesh", "read_obj"]
