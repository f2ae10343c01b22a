"""Uncertainty only (Eq. 5): L = sum_t alpha_t / (2 sigma_t^2) L_t + log sigma_t."""

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .base import TASKS, WeightedLoss, WeightingStrategy


class UncertaintyWeighting(WeightingStrategy):
    """Learned s_t = log sigma_t (Kendall et al.), alpha_t fixed from the first losses.

    Args:
        lr_scale: the s_t learn at ``lr * lr_scale`` (the paper: 0.1), without weight decay.
    """

    name = "uncertainty"

    def __init__(self, targets: Sequence[float], eps: float = 1e-8, lr_scale: float = 0.1):
        super().__init__(targets, eps)
        self.lr_scale = float(lr_scale)
        self.log_sigma = nn.Parameter(torch.zeros(len(TASKS)))  # s_t; sigma_t = 1 at start

    def precision(self) -> Tensor:
        """1 / (2 sigma_t^2) = exp(-2 s_t) / 2, (T,), differentiable in s_t."""
        return 0.5 * torch.exp(-2.0 * self.log_sigma)

    def data_weights(self, stats: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """The detached (T,) factor multiplying L_t / (2 sigma_t^2) (here alpha_t) and extras."""
        alpha = self.fixed_alpha(stats)
        return alpha, {"alpha": alpha.clone()}

    def forward(self, losses: Tensor, stats: Tensor | None = None) -> WeightedLoss:
        data_w, extras = self.data_weights(self._stats(losses, stats))
        precision = self.precision()
        total = (data_w * precision * losses + self.log_sigma).sum()
        extras["sigma"] = torch.exp(self.log_sigma.detach())
        return WeightedLoss(total, (data_w * precision).detach(), extras)

    def param_groups(self, lr: float) -> list[dict]:
        return [
            {
                "params": [self.log_sigma],
                "lr": lr * self.lr_scale,
                "weight_decay": 0.0,
                "name": "log_sigma",
            }
        ]
