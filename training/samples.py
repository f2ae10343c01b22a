"""A batch of training samples: goal poses x and the joint angles that reach them."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Samples:
    """``x`` (N, 7) [p [m], q_xyzw] poses of the tip frame, ``q`` (N, 7) joints [rad], float32."""

    x: Tensor
    q: Tensor

    def __len__(self) -> int:
        return self.x.shape[0]

    def slice(self, start: int, stop: int, step: int = 1) -> "Samples":
        return Samples(self.x[start:stop:step], self.q[start:stop:step])

    def to(self, device) -> "Samples":
        return Samples(self.x.to(device), self.q.to(device))

    @staticmethod
    def cat(parts: list["Samples"]) -> "Samples":
        return Samples(torch.cat([p.x for p in parts]), torch.cat([p.q for p in parts]))
