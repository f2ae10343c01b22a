"""A table of collision-free configurations and their poses: nearest-pose seeds for the solver.

Without a network (or when its seed fails), a configuration whose tip pose is near the goal's is
a far better start for Levenberg-Marquardt than a uniform random one. The table is sampled at
load time, deterministically from the solver's ``random_seed``, with the compiled kernels; the
nearest entries of a goal are found in :func:`dtd_ik.refinement.nearest_table_entries`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .compiled_kinematics import CompiledKinematics, CompiledRobot, batch_forward
from .exceptions import ConfigError

#: Configurations sampled per round while filling the table.
_CHUNK = 4096
#: Rounds before giving up on a margin that (almost) no configuration meets.
_MAX_ROUNDS = 64


@dataclass(frozen=True)
class SeedTable:
    """K configurations (K, n) [rad] and the pose of chain frame ``index``: R (K, 3, 3), p (K, 3)."""

    q: np.ndarray
    R: np.ndarray
    p: np.ndarray
    index: int

    @property
    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.q, self.R, self.p

    @classmethod
    def empty(cls, dof: int, index: int) -> "SeedTable":
        return cls(np.zeros((0, dof)), np.zeros((0, 3, 3)), np.zeros((0, 3)), index)

    @classmethod
    def build(cls, robot: CompiledRobot, index: int, size: int, min_margin: float,
              random_seed: int) -> "SeedTable":
        """``size`` uniform configurations whose every checked pair is >= ``min_margin`` [m] apart."""
        if size <= 0:
            return cls.empty(robot.dof, index)
        rng = np.random.default_rng([random_seed, index])
        kin = CompiledKinematics(robot)
        kept: list[np.ndarray] = []
        count = 0
        for _ in range(_MAX_ROUNDS):
            Q = rng.uniform(robot.lower, robot.upper, (_CHUNK, robot.dof))
            Q = Q[kin.min_distance(Q) >= min_margin]
            kept.append(Q)
            count += len(Q)
            if count >= size:
                break
        else:
            raise ConfigError(f"seed table: only {count} of {size} sampled configurations have a "
                              f"margin >= {min_margin} m")
        Q = np.ascontiguousarray(np.concatenate(kept)[:size])
        R, p = np.empty((size, 3, 3)), np.empty((size, 3))
        batch_forward(Q, robot.arrays, index, np.eye(4), R, p)
        return cls(Q, R, p, index)


__all__ = ["SeedTable"]
