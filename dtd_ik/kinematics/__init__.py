"""The differentiable torch side, used by training and as the solver's reference: rotations,
batched FK and Jacobian, capsule self-collision with the wrist distance map, the loss terms."""

from dtd_ik.kinematics.capsules import CapsuleModel
from dtd_ik.kinematics.forward import Kinematics

__all__ = ["CapsuleModel", "Kinematics"]
