"""The paper's three loss terms, per sample, shared by training and by the refinement solver.

Each returns a tensor of the batch shape; reduction (mean) and weighting are the caller's.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from dtd_ik.kinematics.rotations import geodesic_angle
from dtd_ik.robot.model import COLLISION_MARGIN

#: Smoothness tau of Eq. 3 [m]: the width over which the hinge on the margin is rounded.
COLLISION_TAU = 0.001


def position_loss(p_hat: Tensor, p: Tensor) -> Tensor:
    """Eq. 1: squared position error ||p_hat - p||^2 [m^2] of (..., 3) positions."""
    return ((p_hat - p) ** 2).sum(-1)


def orientation_loss(R_hat: Tensor, R: Tensor) -> Tensor:
    """Eq. 2: geodesic angle [rad] between (..., 3, 3) rotations, with finite gradients."""
    return geodesic_angle(R_hat, R)


def collision_loss(
    distance: Tensor, margin: float = COLLISION_MARGIN, tau: float = COLLISION_TAU
) -> Tensor:
    """Eq. 3: tau * log(1 + exp((margin - distance) / tau)) [m], a smooth hinge on the margin.

    ``distance`` is the minimum capsule distance [m]; ``tau`` [m] sets the smoothness (the loss is
    about ``tau * log 2`` at the margin and decays like ``tau * exp(-(d - m) / tau)`` beyond it).
    """
    if not tau > 0:
        raise ValueError(f"collision loss: tau must be > 0, got {tau}")
    return tau * F.softplus((margin - distance) / tau)


__all__ = [
    "COLLISION_MARGIN",
    "COLLISION_TAU",
    "collision_loss",
    "orientation_loss",
    "position_loss",
]
