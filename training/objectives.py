"""The three task losses of a batch of predicted joints, from dtd_ik's FK, capsules and Eq. 1-3.

Nothing here re-implements kinematics or a loss: it evaluates :mod:`dtd_ik.kinematics.forward`,
:mod:`dtd_ik.kinematics.capsules` and :mod:`dtd_ik.kinematics.losses` on the network's output and reduces by the mean.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from dtd_ik.kinematics.capsules import CapsuleModel
from dtd_ik.kinematics.forward import Kinematics
from dtd_ik.kinematics.losses import COLLISION_MARGIN, collision_loss, orientation_loss, position_loss
from dtd_ik.kinematics.rotations import quaternion_to_matrix


@dataclass(frozen=True)
class TaskLosses:
    """Per-batch task losses and the per-sample errors behind them."""

    losses: Tensor  # (3,) means of L_pos [m^2], L_ori [rad], L_coll [m]
    position_sq: Tensor  # (B,) ||p_hat - p||^2 [m^2]
    orientation: Tensor  # (B,) geodesic angle [rad]
    distance: Tensor  # (B,) minimum capsule distance of q_hat [m]


class IKObjective:
    """Evaluates predicted joints against goal poses of ``tip_frame``.

    Args:
        kinematics: FK of the robot; ``capsules`` its self-collision model.
        tip_frame: the frame whose pose the network is asked for.
        margin: m of Eq. 3 [m]; ``tau``: its smoothness [m].
    """

    def __init__(self, kinematics: Kinematics, capsules: CapsuleModel, tip_frame: str,
                 margin: float = COLLISION_MARGIN, tau: float = 0.001):
        self.kinematics, self.capsules = kinematics, capsules
        self.tip_frame, self.margin, self.tau = tip_frame, float(margin), float(tau)
        kinematics.model.frame(tip_frame)  # raises UnknownFrameError early

    def __call__(self, q_hat: Tensor, x: Tensor) -> TaskLosses:
        """(B, 7) predicted joints [rad], (B, 7) goals [p [m], q_xyzw] -> :class:`TaskLosses`."""
        # the network's own output: no NaN check, which would stall a GPU step
        pose = self.kinematics.forward(q_hat, self.tip_frame, validate=False)
        R_goal = quaternion_to_matrix(x[:, 3:7])
        pos = position_loss(pose.position, x[:, :3])
        ori = orientation_loss(pose.rotation, R_goal)
        distance = self.capsules.distance(q_hat, validate=False).distance
        coll = collision_loss(distance, self.margin, self.tau)
        return TaskLosses(torch.stack([pos.mean(), ori.mean(), coll.mean()]), pos, ori, distance)


__all__ = ["IKObjective", "TaskLosses"]
