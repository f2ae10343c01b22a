"""Accuracy of a network on a split: per-sample errors and their summary in mm and degrees."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from dtd_ik.kinematics.losses import collision_loss

from .objectives import IKObjective
from .samples import Samples


@dataclass(frozen=True)
class SplitErrors:
    """Per-sample errors of the network's answers, float64 on the CPU."""

    position_sq: Tensor  # (N,) [m^2]
    orientation: Tensor  # (N,) [rad]
    distance: Tensor  # (N,) minimum capsule distance of the answer [m]
    collision_loss: Tensor  # (N,) Eq. 3 [m]

    def summary(self) -> dict[str, float]:
        """Means of every error, position in mm and m^2, orientation in rad and deg."""
        pos = self.position_sq.sqrt()
        return {
            "pos_mse_m2": float(self.position_sq.mean()),
            "pos_err_mm": 1000 * float(pos.mean()),
            "pos_err_mm_median": 1000 * float(pos.median()),
            "ori_err_rad": float(self.orientation.mean()),
            "ori_err_deg": math.degrees(float(self.orientation.mean())),
            "ori_err_deg_median": math.degrees(float(self.orientation.median())),
            "coll_loss": float(self.collision_loss.mean()),
            "collision_free_fraction": float((self.distance > 0).double().mean()),
        }


@torch.no_grad()
def split_errors(predict: Callable[[Tensor], Tensor], samples: Samples, objective: IKObjective,
                 device: torch.device, batch: int = 8192) -> SplitErrors:
    """Run ``predict`` ((B, 7) poses -> (B, 7) joints) over ``samples`` in batches."""
    parts = []
    for start in range(0, len(samples), batch):
        x = samples.x[start:start + batch].to(device)
        t = objective(predict(x), x)
        coll = collision_loss(t.distance, objective.margin, objective.tau)
        parts.append([v.detach().double().cpu() for v in (t.position_sq, t.orientation,
                                                          t.distance, coll)])
    return SplitErrors(*[torch.cat(col) for col in zip(*parts)])


__all__ = ["SplitErrors", "split_errors"]
