"""Loss-weighting strategies behind one interface (:class:`WeightingStrategy`), by name."""

from collections.abc import Sequence

from .base import TASKS, WeightedLoss, WeightingStrategy
from .baseline import BaselineWeighting
from .dtd import DtdWeighting
from .dwa import DwaWeighting
from .gradnorm import GradNormWeighting
from .hybrid import HybridWeighting
from .uncertainty import UncertaintyWeighting

STRATEGIES = {
    cls.name: cls
    for cls in (
        BaselineWeighting,
        DtdWeighting,
        UncertaintyWeighting,
        HybridWeighting,
        GradNormWeighting,
        DwaWeighting,
    )
}


def make_strategy(
    name: str,
    targets: Sequence[float],
    eps: float = 1e-8,
    param_lr_scale: float = 0.1,
    gradnorm_asymmetry: float = 1.5,
    gradnorm_lr: float = 0.025,
    dwa_temperature: float = 2.0,
) -> WeightingStrategy:
    """The strategy called ``name`` (one of :data:`STRATEGIES`) with its settings."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")
    cls = STRATEGIES[name]
    if cls in (UncertaintyWeighting, HybridWeighting):
        return cls(targets, eps, lr_scale=param_lr_scale)
    if cls is GradNormWeighting:
        return cls(targets, eps, asymmetry=gradnorm_asymmetry, lr=gradnorm_lr)
    if cls is DwaWeighting:
        return cls(targets, eps, temperature=dwa_temperature)
    return cls(targets, eps)


__all__ = [
    "STRATEGIES",
    "TASKS",
    "WeightedLoss",
    "WeightingStrategy",
    "make_strategy",
    "BaselineWeighting",
    "DtdWeighting",
    "UncertaintyWeighting",
    "HybridWeighting",
    "GradNormWeighting",
    "DwaWeighting",
]
