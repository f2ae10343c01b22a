"""Dynamic Weight Averaging (Liu et al., 2019): weights from the epoch-to-epoch loss ratios.

w_t(e) = T exp(r_t(e-1) / temperature) / sum_k exp(r_k(e-1) / temperature),
r_t(e-1) = L_t(e-1) / L_t(e-2) on epoch mean losses; w = 1 during the first two epochs.
"""

from collections.abc import Sequence

import torch
from torch import Tensor

from .base import TASKS, WeightedLoss, WeightingStrategy


class DwaWeighting(WeightingStrategy):
    """Args: temperature: the softmax temperature (DWA's T, 2 in the paper)."""

    name = "dwa"

    def __init__(self, targets: Sequence[float], eps: float = 1e-8, temperature: float = 2.0):
        super().__init__(targets, eps)
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)
        self.register_buffer("history", torch.zeros(2, len(TASKS)))  # [L(e-2), L(e-1)]
        self.register_buffer("epochs_seen", torch.zeros((), dtype=torch.long))
        self.register_buffer("current", torch.ones(len(TASKS)))

    def forward(self, losses: Tensor, stats: Tensor | None = None) -> WeightedLoss:
        w = self.current
        return WeightedLoss((w * losses).sum(), w.clone(), {"w": w.clone()})

    def end_epoch(self, epoch_losses: Tensor) -> None:
        with torch.no_grad():
            self.history[0] = self.history[1]
            self.history[1] = epoch_losses.detach().to(self.history)
            self.epochs_seen += 1
            if int(self.epochs_seen) >= 2:
                r = self.history[1] / self.history[0].clamp_min(1e-30)
                self.current.copy_(len(TASKS) * torch.softmax(r / self.temperature, dim=0))
