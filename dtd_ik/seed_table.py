"""A table of collision-free configurations and their poses: nearest-pose seeds for the solver.

Without a network (or when its seed fails), a configuration whose tip pose is near the goal's is
a far better start for Levenberg-Marquardt than a uniform random one. The table is sampled at
load time, deterministically from the solver's ``random_seed``, with the compiled kernels; the
nearest entries of a goal are found in :func:`dtd_ik.refinement.nearest_table_entries`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .compiled_kinematics import CompiledKinematics, CompiledRobot, batch_forward
from .exceptions import ConfigError
from .rotations import matrix_to_quaternion

#: Configurations sampled per round while filling the table.
_CHUNK = 4096
#: Rounds before giving up on a margin that (almost) no configuration meets.
_MAX_ROUNDS = 64


@dataclass(frozen=True)
class SeedTable:
    """K configurations ``q`` (K, n) [rad] and the poses of chain frame ``index``:
    ``pose`` (K, 7) = position [m], unit quaternion x-y-z-w (contiguous rows for the search),
    sorted by the position's x (the search relies on it)."""

    q: np.ndarray
    pose: np.ndarray
    index: int

    @property
    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return self.q, self.pose

    @classmethod
    def empty(cls, dof: int, index: int) -> "SeedTable":
        return cls(np.zeros((0, dof)), np.zeros((0, 7)), index)

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
        quat = matrix_to_quaternion(torch.from_numpy(R)).numpy()
        order = np.argsort(p[:, 0], kind="stable")
        pose = np.concatenate([p, quat], axis=1)[order]
        return cls(np.ascontiguousarray(Q[order]), np.ascontiguousarray(pose), index)


__all__ = ["SeedTable"]
