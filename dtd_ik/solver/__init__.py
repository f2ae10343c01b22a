"""The IK solver: network or table seeds refined by compiled Levenberg-Marquardt attempts to
exact, self-collision-free answers. Knows nothing of ROS."""
from dtd_ik.solver.config import SolverConfig
from dtd_ik.solver.ik_solver import IKResult, IKSolver

__all__ = ["IKResult", "IKSolver", "SolverConfig"]
