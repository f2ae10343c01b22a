"""DTD only: L = sum_t alpha_t w_t L_t with the distance-to-target weights of Eq. 4."""

from torch import Tensor

from .base import WeightedLoss, WeightingStrategy


class DtdWeighting(WeightingStrategy):
    """w_t = d_t / sum d from the detached current losses, alpha_t fixed from the first ones."""

    name = "dtd"

    def forward(self, losses: Tensor, stats: Tensor | None = None) -> WeightedLoss:
        stats = self._stats(losses, stats)
        alpha, w = self.fixed_alpha(stats), self.dtd_weights(stats)
        weights = alpha * w
        return WeightedLoss((weights * losses).sum(), weights, {"w": w, "alpha": alpha.clone()})
