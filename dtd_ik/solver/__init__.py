"""The IK solver: network or table seeds refined by compiled Levenberg-Marquardt attempts to
exact answers, collision-free on the meshes (self and a collision world). Knows nothing of ROS.

``IKSolver`` and ``IKResult`` (which load torch for the network) are imported on first use, so
that ``dtd_ik.solver.kernels`` and ``dtd_ik.solver.config`` stay torch-free.
"""

from __future__ import annotations

from typing import Any

from dtd_ik.solver.config import SolverConfig

__all__ = ["IKResult", "IKSolver", "SolverConfig"]


def __getattr__(name: str) -> Any:
    if name in ("IKResult", "IKSolver"):
        from dtd_ik.solver import ik_solver

        return getattr(ik_solver, name)
    raise AttributeError(f"module 'dtd_ik.solver' has no attribute {name!r}")
