"""On-the-fly samples: joints uniform within the limits, self-collision filtered, FK for the pose.

Needs no dataset on disk. Every draw comes from the caller's ``torch.Generator``, so a run that
restores the generator state redraws exactly the same samples.
"""
from __future__ import annotations

import torch
from torch import Tensor

from dtd_ik.kinematics.capsules import CapsuleModel
from dtd_ik.kinematics.forward import Kinematics

from .samples import Samples


def poses_of(kinematics: Kinematics, q: Tensor, tip_frame: str) -> Tensor:
    """(N, 7) joints [rad] -> (N, 7) float32 network inputs [p [m], q_xyzw with w >= 0]."""
    pose = kinematics.forward(q, tip_frame)
    return torch.cat([pose.position, pose.quaternion], dim=-1).to(torch.float32)


class ConfigurationSampler:
    """Draws collision-free configurations and their tip poses.

    Args:
        capsules: the self-collision model (its kinematics gives FK and the limits).
        tip_frame: frame of the poses.
        min_distance: a configuration is kept when its minimum capsule distance is >= this [m].
        chunk: configurations drawn and checked per round.
    """

    def __init__(self, capsules: CapsuleModel, tip_frame: str, min_distance: float = 0.0,
                 chunk: int = 16384):
        self.capsules, self.kinematics = capsules, capsules.kinematics
        self.tip_frame, self.min_distance, self.chunk = tip_frame, float(min_distance), int(chunk)
        self.drawn = 0  # configurations drawn so far (accepted or not)

    @torch.no_grad()
    def joints(self, n: int, generator: torch.Generator) -> Tensor:
        """(n, 7) float32 collision-free joints uniform within the limits [rad], on the
        generator's device (a CUDA generator draws on the GPU)."""
        device = generator.device
        lower, upper = self.kinematics.limits(torch.float32, device)
        kept, count = [], 0
        while count < n:
            q = lower + (upper - lower) * torch.rand(self.chunk, self.kinematics.dof,
                                                     generator=generator, device=device)
            self.drawn += self.chunk
            q = q[self.capsules.distance(q).distance >= self.min_distance]
            kept.append(q)
            count += q.shape[0]
        return torch.cat(kept)[:n]

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> Samples:
        """``n`` collision-free samples (pose, joints)."""
        q = self.joints(n, generator)
        return Samples(poses_of(self.kinematics, q, self.tip_frame), q)


__all__ = ["ConfigurationSampler", "poses_of"]
