"""DTD + uncertainty hybrid (Eq. 6, Algorithm 1):
L = sum_t [alpha_t w_t / (2 sigma_t^2) L_t + log sigma_t]."""

from torch import Tensor

from .uncertainty import UncertaintyWeighting


class HybridWeighting(UncertaintyWeighting):
    """Uncertainty weighting whose data terms also carry the DTD weights w_t (detached).

    alpha_t and w_t multiply only the data term; log sigma_t is left unweighted.
    """

    name = "hybrid"

    def data_weights(self, stats: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        alpha, w = self.fixed_alpha(stats), self.dtd_weights(stats)
        return alpha * w, {"alpha": alpha.clone(), "w": w}
