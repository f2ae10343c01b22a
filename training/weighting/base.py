"""The interface every loss-weighting strategy implements, and the distance-to-target maths.

A strategy only combines the per-task mean losses ``L`` (T,) = (pos, ori, coll) into one scalar;
it never sees the network's outputs. ``stats`` are the same losses detached (and, under
data-parallel training, averaged over all processes) from which every weight is computed, so no
gradient flows through a weight and all processes weigh alike.
"""

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

#: Task order of every (T,) tensor in the weighting code.
TASKS = ("pos", "ori", "coll")


@dataclass
class WeightedLoss:
    """A strategy's output: the scalar to minimise and what to log.

    ``weights`` (T,) is the effective, detached multiplier of each task loss in ``total``;
    ``extras`` holds strategy-specific (T,) tensors (``w``, ``alpha``, ``sigma``) by name.
    """

    total: Tensor
    weights: Tensor
    extras: dict[str, Tensor] = field(default_factory=dict)


class WeightingStrategy(nn.Module, ABC):
    """Combines (T,) task losses into one scalar; learnable parts are its own parameters.

    Args:
        targets: (T,) target losses L_t^target in the tasks' units ([m^2], [rad], [m]).
        eps: the epsilon of d_t = L_t / (L_t^target + eps).
    """

    name = "abstract"

    def __init__(self, targets: Sequence[float], eps: float = 1e-8):
        super().__init__()
        targets = torch.as_tensor(targets, dtype=torch.float32)
        if targets.shape != (len(TASKS),) or not bool((targets > 0).all()):
            raise ValueError(
                f"targets must be {len(TASKS)} positive numbers, got {targets.tolist()}"
            )
        self.eps = float(eps)
        self.register_buffer("targets", targets)
        # alpha_t = 100 d_t(0) / sum d(0), set from the first losses seen, then fixed
        self.register_buffer("alpha", torch.ones(len(TASKS)))
        self.register_buffer("alpha_fixed", torch.zeros((), dtype=torch.bool))

    @abstractmethod
    def forward(self, losses: Tensor, stats: Tensor | None = None) -> WeightedLoss:
        """(T,) task losses (with grad) -> :class:`WeightedLoss`; ``stats`` default: detached."""

    # --- hooks the trainer calls; the default does nothing -------------------------------
    def bind(self, model: nn.Module) -> None:
        """Called once with the network (GradNorm needs its last shared layer)."""

    def after_step(self) -> None:
        """Called after every optimiser step (GradNorm renormalises its weights)."""

    def end_epoch(self, epoch_losses: Tensor) -> None:
        """Called with the epoch's mean (T,) task losses (DWA keeps them)."""

    def param_groups(self, lr: float) -> list[dict]:
        """AdamW parameter groups of the strategy's learnable parameters (none by default)."""
        return []

    def start_stage(self, targets: Sequence[float], refit_alpha: bool = True) -> None:
        """New targets for a new training stage. ``refit_alpha``: alpha is fixed again from the
        stage's first losses; else the previous stage's alpha carries over unchanged."""
        self.targets.copy_(torch.as_tensor(targets, dtype=self.targets.dtype))
        if refit_alpha:
            self.alpha_fixed.fill_(False)

    # --- shared distance-to-target maths (Eq. 4) ------------------------------------------
    def distance_to_target(self, stats: Tensor) -> Tensor:
        """d_t = L_t / (L_t^target + eps), (T,)."""
        return stats / (self.targets + self.eps)

    def dtd_weights(self, stats: Tensor) -> Tensor:
        """w_t = d_t / sum d, (T,)."""
        d = self.distance_to_target(stats)
        return d / d.sum()

    def fixed_alpha(self, stats: Tensor) -> Tensor:
        """alpha_t = 100 d_t(0) / sum d(0): computed on the first call, the same ever after.

        Branch-free (torch.where on the flag) so that no step waits for a GPU to read the flag."""
        with torch.no_grad():
            self.alpha.copy_(
                torch.where(self.alpha_fixed, self.alpha, 100.0 * self.dtd_weights(stats))
            )
            self.alpha_fixed.fill_(True)
        return self.alpha

    @staticmethod
    def _stats(losses: Tensor, stats: Tensor | None) -> Tensor:
        return (losses if stats is None else stats).detach()


__all__ = ["TASKS", "WeightedLoss", "WeightingStrategy"]
