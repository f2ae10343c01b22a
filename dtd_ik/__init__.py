"""dtd_ik: learned inverse kinematics for the Franka Panda, served to MoveIt.

Runtime package: robot description, batched kinematics, capsule self-collision and the loss terms
shared by training and solving. The offline pipeline is ``dtd_ik.training``.
"""

__all__ = ["IKSolver", "IKResult"]


def __getattr__(name: str):
    """``from dtd_ik import IKSolver`` without importing numba for users of the torch modules."""
    if name in ("IKSolver", "IKResult"):
        from . import solver

        return getattr(solver, name)
    raise AttributeError(f"module 'dtd_ik' has no attribute {name!r}")
