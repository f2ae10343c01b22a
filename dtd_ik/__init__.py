"""dtd_ik: learned inverse kinematics for the Franka Panda, served to MoveIt.

Quick start::

    from dtd_ik import IKSolver

    solver = IKSolver.load("models/dtd_w_panda.pt")       # or IKSolver.load(None): no network
    result = solver.solve(positions, quaternions_xyzw)     # (N, 3) [m], (N, 4) x-y-z-w
    result.q, result.success                               # (N, 7) [rad], (N,)

The layers, each importing only those above it in this list:

- :mod:`dtd_ik.robot`: the robot description (URDF + ``config/panda_robot.yaml``) and numpy
  spatial maths (quaternions x-y-z-w, homogeneous transforms).
- :mod:`dtd_ik.kinematics`: the differentiable torch side: rotations, batched FK/Jacobian,
  capsule self-collision, the wrist distance map and the paper's loss terms (Eq. 1-3).
- :mod:`dtd_ik.solver`: :class:`IKSolver` (network seeds + compiled Levenberg-Marquardt
  refinement), its config, the network file contract; ``solver.kernels`` holds the numba code.
- :mod:`dtd_ik.ros`: the ROS 2 node serving MoveIt's GetPositionIK / GetPositionFK.
- :mod:`dtd_ik.training`: the offline pipeline (top-level folder ``training/``); it imports the
  runtime, never the other way round.
"""

from __future__ import annotations

from typing import Any

from dtd_ik.exceptions import (
    ConfigError,
    DtdIkError,
    InvalidInputError,
    ModelLoadError,
    UnknownFrameError,
)

__all__ = [
    "IKSolver",
    "IKResult",
    "SolverConfig",
    "DtdIkError",
    "ConfigError",
    "InvalidInputError",
    "ModelLoadError",
    "UnknownFrameError",
]

_SOLVER_NAMES = ("IKSolver", "IKResult", "SolverConfig")


def __getattr__(name: str) -> Any:
    """The solver's names, imported on first use so that torch-only users never load numba."""
    if name in _SOLVER_NAMES:
        from dtd_ik import solver

        return getattr(solver, name)
    raise AttributeError(f"module 'dtd_ik' has no attribute {name!r}")
