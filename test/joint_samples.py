"""Random joint configurations for tests and benchmarks (a support module, not a test file)."""

import numpy as np

from dtd_ik.kinematics import Kinematics


def random_joints(kin: Kinematics, n: int, seed: int = 0) -> np.ndarray:
    """(n, 7) joint angles uniform within the model's limits [rad], from their own seeded RNG."""
    rng = np.random.default_rng(seed)
    return rng.uniform(kin.model.lower, kin.model.upper, size=(n, kin.dof))
