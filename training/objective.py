"""The training objective and its metrics: the paper's three task losses of a batch of predicted
joints (:class:`IKObjective`) and a network's accuracy on a split (:func:`split_errors`).

Nothing here re-implements kinematics or a loss: it evaluates :mod:`dtd_ik.kinematics.forward`,
:mod:`dtd_ik.kinematics.capsules` and :mod:`dtd_ik.kinematics.losses` (Eq. 1-3) on the
network's output and reduces by the mean.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from dtd_ik.kinematics.capsules import CapsuleModel
from dtd_ik.kinematics.forward import Kinematics
from dtd_ik.kinematics.losses import (
    COLLISION_MARGIN,
    COLLISION_TAU,
    collision_loss,
    orientation_loss,
    position_loss,
)
from dtd_ik.kinematics.rotations import quaternion_to_matrix

from .samples import POSITION, QUATERNION, Samples


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

    def __init__(
        self,
        kinematics: Kinematics,
        capsules: CapsuleModel,
        tip_frame: str,
        margin: float = COLLISION_MARGIN,
        tau: float = COLLISION_TAU,
    ):
        self.kinematics, self.capsules = kinematics, capsules
        self.tip_frame, self.margin, self.tau = tip_frame, float(margin), float(tau)
        kinematics.model.frame(tip_frame)  # raises UnknownFrameError early

    def __call__(self, q_hat: Tensor, x: Tensor) -> TaskLosses:
        """(B, 7) predicted joints [rad], (B, 7) goals [p [m], q_xyzw] -> :class:`TaskLosses`."""
        # the network's own output: no NaN check, which would stall a GPU step; one FK chain
        # serves the tip pose and the capsules
        chain = self.kinematics.chain_transforms(q_hat, validate=False)
        pose = self.kinematics.frame_pose(chain, self.tip_frame)
        R_goal = quaternion_to_matrix(x[:, QUATERNION])
        pos = position_loss(pose.position, x[:, POSITION])
        ori = orientation_loss(pose.rotation, R_goal)
        distance = self.capsules.distance(q_hat, validate=False, chain=chain).distance
        coll = collision_loss(distance, self.margin, self.tau)
        return TaskLosses(torch.stack([pos.mean(), ori.mean(), coll.mean()]), pos, ori, distance)


@dataclass(frozen=True)
class SplitErrors:
    """Per-sample errors of the network's answers, float64 on the CPU."""

    position_sq: Tensor  # (N,) [m^2]
    orientation: Tensor  # (N,) [rad]
    distance: Tensor  # (N,) minimum capsule distance of the answer [m]
    collision_loss: Tensor  # (N,) Eq. 3 [m]

    def summary(self) -> dict[str, float]:
        """Means of every error, position in mm and m^2, orientation in rad and deg; the
        position error also as RMS (the paper's statistic: sqrt of its MSE), median and p95."""
        pos = self.position_sq.sqrt()
        return {
            "pos_mse_m2": float(self.position_sq.mean()),
            "pos_err_mm_rms": 1000 * math.sqrt(float(self.position_sq.mean())),
            "pos_err_mm": 1000 * float(pos.mean()),
            "pos_err_mm_median": 1000 * float(pos.median()),
            "pos_err_mm_p95": 1000 * float(torch.quantile(pos, 0.95)),
            "ori_err_rad": float(self.orientation.mean()),
            "ori_err_deg": math.degrees(float(self.orientation.mean())),
            "ori_err_deg_median": math.degrees(float(self.orientation.median())),
            "coll_loss": float(self.collision_loss.mean()),
            "collision_free_fraction": float((self.distance > 0).double().mean()),
        }


@torch.no_grad()
def split_errors(
    predict: Callable[[Tensor], Tensor],
    samples: Samples,
    objective: IKObjective,
    device: torch.device,
    batch: int = 8192,
) -> SplitErrors:
    """Run ``predict`` ((B, 7) poses -> (B, 7) joints) over ``samples`` in batches."""
    parts = []
    for start in range(0, len(samples), batch):
        x = samples.x[start : start + batch].to(device)
        t = objective(predict(x), x)
        coll = collision_loss(t.distance, objective.margin, objective.tau)
        parts.append(
            [v.detach().double().cpu() for v in (t.position_sq, t.orientation, t.distance, coll)]
        )
    return SplitErrors(*[torch.cat(col) for col in zip(*parts)])


__all__ = ["IKObjective", "SplitErrors", "TaskLosses", "split_errors"]
