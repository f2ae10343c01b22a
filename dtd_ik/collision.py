"""Capsule self-collision model: batched, differentiable minimum capsule-capsule distance.

The distance of two capsules is the distance of their segments minus both radii; it is negative
when they overlap. This is the ``d`` of the paper's collision loss (Eq. 3) and the collision margin
the solver and the server report.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .kinematics import Kinematics
from .rotations import safe_norm

# Segments shorter than this (squared length, m^2) are points; near-parallel pairs use the
# fallback of Ericson's algorithm below this relative determinant.
_DEGENERATE = 1e-12


@dataclass(frozen=True)
class SegmentClosestPoints:
    """Closest points of two batches of segments: parameters in [0, 1] and the distance [m]."""

    s: Tensor  # (...,) along the first segment
    t: Tensor  # (...,) along the second segment
    distance: Tensor  # (...,)


@dataclass(frozen=True)
class CollisionDistance:
    """Minimum capsule distance of each configuration and which link pair attains it."""

    distance: Tensor  # (...,) [m], < 0 means overlap
    pair_index: Tensor  # (...,) index into :attr:`CapsuleModel.pair_names`
    pair_distances: Tensor  # (..., P) [m], every checked capsule pair


def segment_closest_points(p1: Tensor, q1: Tensor, p2: Tensor, q2: Tensor) -> SegmentClosestPoints:
    """Closest points of segments p1-q1 and p2-q2, each (..., 3) [m].

    Ericson, Real-Time Collision Detection, 5.1.9, vectorised with ``where``: handles parallel
    segments and segments of zero length. The parameters s, t carry no gradient; by the envelope
    theorem the distance's gradient w.r.t. the end points is exact without them, and it stays
    finite (zero) where the distance is zero.
    """
    with torch.no_grad():
        d1, d2, r = q1 - p1, q2 - p2, p1 - p2
        a, e = (d1 * d1).sum(-1), (d2 * d2).sum(-1)
        b, c, f = (d1 * d2).sum(-1), (d1 * r).sum(-1), (d2 * r).sum(-1)
        one = torch.ones_like(a)
        a_ok, e_ok = a > _DEGENERATE, e > _DEGENERATE
        a_safe, e_safe = torch.where(a_ok, a, one), torch.where(e_ok, e, one)
        denom = a * e - b * b
        skew = denom > _DEGENERATE * a * e  # not parallel
        s = torch.where(skew, ((b * f - c * e) / torch.where(skew, denom, one)).clamp(0, 1), 0 * a)
        t = (b * s + f) / e_safe
        s = torch.where(t < 0, (-c / a_safe).clamp(0, 1),
                        torch.where(t > 1, ((b - c) / a_safe).clamp(0, 1), s))
        t = t.clamp(0, 1)
        # first segment a point: t from projecting it; second a point: s likewise
        s, t = torch.where(a_ok, s, 0 * a), torch.where(a_ok, t, (f / e_safe).clamp(0, 1))
        s, t = torch.where(e_ok, s, (-c / a_safe).clamp(0, 1)), torch.where(e_ok, t, 0 * a)
    c1 = p1 + s[..., None] * (q1 - p1)
    c2 = p2 + t[..., None] * (q2 - p2)
    return SegmentClosestPoints(s, t, safe_norm(c1 - c2))


class CapsuleModel:
    """The robot's capsules and checked link pairs as tensors, evaluated on top of FK."""

    def __init__(self, kinematics: Kinematics | None = None):
        self.kinematics = kinematics if kinematics is not None else Kinematics()
        model = self.kinematics.model
        if not model.capsules:
            raise ValueError(f"{model.source}: the robot model has no capsules")
        self.links = tuple(dict.fromkeys(c.link for c in model.capsules))
        capsule_pairs, pair_names = [], []
        for link_a, link_b in model.collision_pairs:
            for i, ca in enumerate(model.capsules):
                for j, cb in enumerate(model.capsules):
                    if ca.link == link_a and cb.link == link_b:
                        capsule_pairs.append((i, j))
                        pair_names.append((link_a, link_b))
        self.pair_names: tuple[tuple[str, str], ...] = tuple(pair_names)
        self._pairs = np.array(capsule_pairs, dtype=np.int64)  # (P, 2) capsule indices
        self._link_of = np.array([self.links.index(c.link) for c in model.capsules])
        # end points as homogeneous columns: (C, 4, 2)
        ends = np.stack([np.stack([c.a, c.b], axis=-1) for c in model.capsules])
        self._ends = np.concatenate([ends, np.ones((len(ends), 1, 2))], axis=1)
        self._radii = np.array([c.radius for c in model.capsules])
        self._cache: dict[tuple[torch.dtype, torch.device], tuple[Tensor, ...]] = {}

    def _constants(self, dtype: torch.dtype, device: torch.device):
        key = (dtype, device)
        if key not in self._cache:
            pairs = torch.as_tensor(self._pairs, device=device)
            radii = torch.as_tensor(self._radii, dtype=dtype, device=device)
            self._cache[key] = (
                torch.as_tensor(self._ends, dtype=dtype, device=device),
                torch.as_tensor(self._link_of, device=device),
                pairs[:, 0], pairs[:, 1],
                radii[pairs[:, 0]] + radii[pairs[:, 1]],
            )
        return self._cache[key]

    def capsule_segments(self, q: Tensor) -> tuple[Tensor, Tensor]:
        """(..., n) joints [rad] -> capsule end points a, b in the base frame, each (..., C, 3)."""
        q = self.kinematics.check_joints(q)
        link_T = self.kinematics.frame_transforms(q, self.links)  # (..., L, 4, 4)
        ends, link_of, *_ = self._constants(q.dtype, q.device)
        world = (link_T[..., link_of, :, :] @ ends)[..., :3, :]  # (..., C, 3, 2)
        return world[..., 0], world[..., 1]

    def distance(self, q: Tensor) -> CollisionDistance:
        """Minimum signed capsule distance over all checked pairs for (..., n) joints [rad]."""
        a, b = self.capsule_segments(q)
        _, _, first, second, radius_sum = self._constants(a.dtype, a.device)
        seg = segment_closest_points(a[..., first, :], b[..., first, :],
                                     a[..., second, :], b[..., second, :])
        pair_distances = seg.distance - radius_sum
        distance, index = pair_distances.min(dim=-1)
        return CollisionDistance(distance, index, pair_distances)
