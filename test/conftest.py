"""Shared fixtures: seeded RNGs for every test, and the kinematics, collision and pybullet
reference objects built once per session. Helpers that are not fixtures live in support modules
beside this file (joint_samples, contract_networks, pybullet_panda); no test imports another."""

import random

import numpy as np
import pytest
import torch

from dtd_ik.kinematics import CapsuleModel, Kinematics

# The IK server tests' module-scoped node and client (compiled_solver, server, client): each test
# module that names them gets its own node, without importing the fixtures into the module.
pytest_plugins = ["ik_server_fixtures"]


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
    """pybullet's own Panda (meshes, FK) as an independent reference; see pybullet_panda.py."""
    from pybullet_panda import PybulletPanda

    panda = PybulletPanda()
    yield panda
    panda.close()
