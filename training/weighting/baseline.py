"""Baseline: equal weights, L = L_pos + L_ori + L_coll."""

import torch
from torch import Tensor

from .base import WeightedLoss, WeightingStrategy


class BaselineWeighting(WeightingStrategy):
    """Every task weighted 1."""

    name = "baseline"

    def forward(self, losses: Tensor, stats: Tensor | None = None) -> WeightedLoss:
        return WeightedLoss(losses.sum(), torch.ones_like(losses).detach())
