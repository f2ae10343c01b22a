"""Ends a stage when validation stops improving (``stop.patience``), keeping the best weights.

The decision reads only the validation records the trainer keeps, and the best weights travel in
the checkpoint, so a resumed stage stops where an uninterrupted one would.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

#: Validation keys a stage may stop on (lower is better for each).
STOP_METRICS = ("pos_err_mm_rms", "pos_mse_m2", "pos_err_mm", "ori_err_deg", "coll_loss")


class EarlyStop:
    """Tracks the best validation ``metric`` of a stage.

    Args:
        metric: the validation key (one of :data:`STOP_METRICS`).
        patience: epochs without an improvement after which the stage ends; 0 = never.
        min_delta: an improvement must beat the best by more than this (the metric's unit).
    """

    def __init__(self, metric: str, patience: int, min_delta: float = 0.0):
        if metric not in STOP_METRICS:
            raise ValueError(f"unknown stop metric {metric!r}; known: {', '.join(STOP_METRICS)}")
        self.metric, self.patience, self.min_delta = metric, int(patience), float(min_delta)
        self.best = math.inf
        self.best_epoch = 0
        self.best_weights: dict[str, torch.Tensor] | None = None

    def update(self, epoch: int, val: dict[str, float], net: nn.Module) -> None:
        """After epoch ``epoch``'s validation: remember the network if it is the best so far."""
        value = val[self.metric]
        if value < self.best - self.min_delta:
            self.best, self.best_epoch = value, epoch
            if self.patience:
                self.best_weights = {
                    k: v.detach().cpu().clone() for k, v in net.state_dict().items()
                }

    def should_stop(self, epoch: int) -> bool:
        """True when ``patience`` epochs have passed since the best one."""
        return self.patience > 0 and epoch - self.best_epoch >= self.patience

    def restore_best(self, net: nn.Module) -> bool:
        """Load the best epoch's weights into ``net``; False when none were kept."""
        if self.best_weights is None:
            return False
        net.load_state_dict(self.best_weights)
        return True

    def record(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "patience": self.patience,
            "best": self.best,
            "best_epoch": self.best_epoch,
        }

    def state_dict(self) -> dict[str, Any]:
        return {**self.record(), "best_weights": self.best_weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.best_weights = state["best_weights"]


__all__ = ["STOP_METRICS", "EarlyStop"]
