"""A link-pair distance tabulated over two joints, read by bilinear interpolation on the torus.

Where capsules fit a pair badly (the Panda's wrist: link5's housing faces link7's flange across
joint 6) and the pair's relative pose depends on two joints only, the exact mesh distance is a
function of those two angles. ``tools/build_distance_map.py`` tabulates it on a periodic grid and
stores a certified lower bound (the bilinear interpolation error bound is subtracted), so the map
stays conservative like the capsules, and is differentiable almost everywhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from dtd_ik.robot.distance_table import load_distance_table

_TWO_PI = 2.0 * np.pi


class DistanceMap:
    """Periodic N x N table of a lower bound of the distance [m] over joints (a, b) [rad]."""

    def __init__(self, path: str | Path):
        table = load_distance_table(path)  # the one reader of the file, shared with the solver
        self.path, self.size = table.path, table.size
        self.start, self.step, self.delta = table.start, table.step, table.delta
        self._table = table.table  # (n, n) [m]
        self._cache: dict[tuple[torch.dtype, torch.device], Tensor] = {}

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """The tabulated bound as plain float64 arrays (copies): ``angles`` (N,) [rad], the grid
        points of both joints (``start + step * k``), and ``table`` (N, N) [m], where
        ``table[i, j]`` is the bound at joint angles (``angles[i]``, ``angles[j]``).
        :meth:`distance` interpolates it bilinearly, periodic in both angles."""
        return self.start + self.step * np.arange(self.size), self._table.copy()

    def _flat(self, dtype: torch.dtype, device: torch.device) -> Tensor:
        """The table row-major as a (N * N,) tensor, cached per dtype and device."""
        key = (dtype, device)
        if key not in self._cache:
            self._cache[key] = torch.as_tensor(self._table.reshape(-1), dtype=dtype, device=device)
        return self._cache[key]

    def distance(self, qa: Tensor, qb: Tensor) -> Tensor:
        """Bilinear lower bound of the distance [m] at angles ``qa``, ``qb`` (same shape) [rad]."""
        n = self.size
        ua = torch.remainder(qa - self.start, _TWO_PI) / self.step  # grid units in [0, n)
        ub = torch.remainder(qb - self.start, _TWO_PI) / self.step
        ia, ib = ua.detach().floor(), ub.detach().floor()
        ta, tb = ua - ia, ub - ib  # gradients flow through the fractions
        ia0, ib0 = ia.long() % n, ib.long() % n  # % n: remainder may round up to exactly n
        ia1, ib1 = (ia0 + 1) % n, (ib0 + 1) % n
        flat = self._flat(qa.dtype, qa.device)
        d00, d01 = flat[ia0 * n + ib0], flat[ia0 * n + ib1]
        d10, d11 = flat[ia1 * n + ib0], flat[ia1 * n + ib1]
        return (1 - ta) * ((1 - tb) * d00 + tb * d01) + ta * ((1 - tb) * d10 + tb * d11)


__all__ = ["DistanceMap"]
