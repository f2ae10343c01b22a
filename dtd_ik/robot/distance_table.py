"""A distance map's file, read without torch: a periodic grid of a lower bound of one link pair's
distance [m] over two joint angles [rad].

``tools/build_distance_map.py`` writes it (an ``.npz``); the torch
:class:`~dtd_ik.kinematics.distance_map.DistanceMap` and the compiled solver both read it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dtd_ik.exceptions import ConfigError

_TWO_PI = 2.0 * np.pi


@dataclass(frozen=True)
class DistanceTable:
    """``table`` (S, S) [m]: row i, column j at angles (start + i step, start + j step) [rad]."""

    path: Path
    table: np.ndarray  # (S, S) float64 [m], a certified lower bound of the distance
    start: float  # [rad] angle of row and column 0
    step: float  # [rad] grid spacing; S * step is one full turn
    delta: float  # [m] the interpolation error bound already subtracted from the table

    @property
    def size(self) -> int:
        return self.table.shape[0]


def load_distance_table(path: str | Path) -> DistanceTable:
    """Read a distance map file; raises ConfigError naming the file if it is not one."""
    path = Path(path)
    try:
        with np.load(path) as data:
            table = np.asarray(data["distance"], dtype=np.float64) * float(data["unit"])
            start, step = float(data["start"]), float(data["step"])
            delta = float(data["delta"])
    except (OSError, KeyError, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable distance map ({exc})") from exc
    n = table.shape[0]
    if table.shape != (n, n) or not np.isclose(step * n, _TWO_PI):
        raise ConfigError(f"{path}: a distance map must be a square grid over one full turn")
    return DistanceTable(path, np.ascontiguousarray(table), start, step, delta)


__all__ = ["DistanceTable", "load_distance_table"]
