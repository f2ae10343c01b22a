"""Shared fixtures: seeded RNGs for every test, and the kinematics/collision objects built once."""
import random

import numpy as np
import pytest
import torch

from dtd_ik.kinematics.capsules import CapsuleModel
from dtd_ik.kinematics.forward import Kinematics


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def kin() -> Kinematics:
    return Kinematics()


@pytest.fixture(scope="session")
def capsules(kin) -> CapsuleModel:
    return CapsuleModel(kin)


@pytest.fixture(scope="session")
def pybullet_panda():
    from pybullet_panda import PybulletPanda

    panda = PybulletPanda()
    yield panda
    panda.close()


def random_joints(kin: Kinematics, n: int, seed: int = 0) -> np.ndarray:
    """(n, 7) joint angles uniform within the model's limits [rad]."""
    rng = np.random.default_rng(seed)
    return rng.uniform(kin.model.lower, kin.model.upper, size=(n, kin.dof))
