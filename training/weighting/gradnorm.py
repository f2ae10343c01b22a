"""GradNorm (Chen et al., 2018): learned task weights that equalise gradient norms.

G_t = || d(w_t L_t) / dW || on the last shared layer W, r_t = (L_t / L_t(0)) / mean(L / L(0)),
L_grad = sum_t | G_t - mean(G) r_t^a | with the target held constant; the network minimises
sum_t w_t L_t with w detached, the weights minimise L_grad, and after each step the weights are
renormalised to sum to T.
"""

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .base import TASKS, WeightedLoss, WeightingStrategy


class GradNormWeighting(WeightingStrategy):
    """Args: asymmetry: GradNorm's alpha (restoring force); lr: the weights' learning rate."""

    name = "gradnorm"

    def __init__(
        self,
        targets: Sequence[float],
        eps: float = 1e-8,
        asymmetry: float = 1.5,
        lr: float = 0.025,
    ):
        super().__init__(targets, eps)
        self.asymmetry = float(asymmetry)
        self.lr = float(lr)
        self.task_weights = nn.Parameter(torch.ones(len(TASKS)))
        self.register_buffer("initial_losses", torch.zeros(len(TASKS)))
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))
        self._shared: Tensor | None = None

    def bind(self, model: nn.Module) -> None:
        self._shared = model.last_shared_layer

    def forward(self, losses: Tensor, stats: Tensor | None = None) -> WeightedLoss:
        stats = self._stats(losses, stats)
        if not bool(self.initialised):
            self.initial_losses.copy_(stats)
            self.initialised.fill_(True)
        w = self.task_weights
        total = (w.detach() * losses).sum()
        if self._shared is not None and losses.requires_grad:
            norms = torch.stack(
                [
                    torch.autograd.grad(losses[t], self._shared, retain_graph=True)[0].norm()
                    for t in range(len(TASKS))
                ]
            ).detach()  # (T,) ||dL_t/dW||
            G = w * norms  # (T,), differentiable in w only
            ratio = stats / self.initial_losses.clamp_min(1e-30)
            target = (G.detach().mean() * (ratio / ratio.mean()) ** self.asymmetry).detach()
            total = total + (G - target).abs().sum()
        return WeightedLoss(total, w.detach().clone(), {"w": w.detach().clone()})

    def after_step(self) -> None:
        with torch.no_grad():
            self.task_weights.clamp_(min=1e-6)
            self.task_weights.mul_(len(TASKS) / self.task_weights.sum())

    def param_groups(self, lr: float) -> list[dict]:
        return [
            {
                "params": [self.task_weights],
                "lr": self.lr,
                "weight_decay": 0.0,
                "name": "gradnorm_weights",
            }
        ]
