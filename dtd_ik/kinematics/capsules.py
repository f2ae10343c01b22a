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

from dtd_ik.kinematics.distance_map import DistanceMap
from dtd_ik.kinematics.forward import Kinematics
from dtd_ik.kinematics.rotations import safe_norm

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


def segment_closest_points(
    p1: Tensor, q1: Tensor, p2: Tensor, q2: Tensor, dim: int = -1
) -> SegmentClosestPoints:
    """Closest points of segments p1-q1 and p2-q2, each (..., 3) [m] (coordinates along ``dim``).

    Ericson, Real-Time Collision Detection, 5.1.9, vectorised with ``where``: handles parallel
    segments and segments of zero length. The parameters s, t carry no gradient; by the envelope
    theorem the distance's gradient w.r.t. the end points is exact without them, and it stays
    finite (zero) where the distance is zero. Batched callers pass coordinates first
    (``dim=1``, shape (B, 3, P)) so that every reduction runs over contiguous memory.
    """
    with torch.no_grad():
        d1, d2, r = q1 - p1, q2 - p2, p1 - p2
        a, e = (d1 * d1).sum(dim), (d2 * d2).sum(dim)
        b, c, f = (d1 * d2).sum(dim), (d1 * r).sum(dim), (d2 * r).sum(dim)
        one = torch.ones_like(a)
        a_ok, e_ok = a > _DEGENERATE, e > _DEGENERATE
        a_safe, e_safe = torch.where(a_ok, a, one), torch.where(e_ok, e, one)
        denom = a * e - b * b
        skew = denom > _DEGENERATE * a * e  # not parallel
        s = torch.where(skew, ((b * f - c * e) / torch.where(skew, denom, one)).clamp(0, 1), 0 * a)
        t = (b * s + f) / e_safe
        s = torch.where(
            t < 0, (-c / a_safe).clamp(0, 1), torch.where(t > 1, ((b - c) / a_safe).clamp(0, 1), s)
        )
        t = t.clamp(0, 1)
        # first segment a point: t from projecting it; second a point: s likewise
        s, t = torch.where(a_ok, s, 0 * a), torch.where(a_ok, t, (f / e_safe).clamp(0, 1))
        s, t = torch.where(e_ok, s, (-c / a_safe).clamp(0, 1)), torch.where(e_ok, t, 0 * a)
    c1 = p1 + s.unsqueeze(dim) * (q1 - p1)
    c2 = p2 + t.unsqueeze(dim) * (q2 - p2)
    return SegmentClosestPoints(s, t, safe_norm(c1 - c2, dim))


class CapsuleModel:
    """The robot's capsules and checked link pairs as tensors, evaluated on top of FK.

    Link pairs covered by a distance map of the robot model (``collision.distance_maps``) are
    measured by the map instead of their capsules: one column per map, after the capsule pairs.
    """

    def __init__(self, kinematics: Kinematics | None = None):
        self.kinematics = kinematics if kinematics is not None else Kinematics()
        model = self.kinematics.model
        if not model.capsules:
            raise ValueError(f"{model.source}: the robot model has no capsules")
        pairs, capsule_pair_names = model.capsule_pairs()  # (P, 2) capsule indices
        self.maps = [(spec, DistanceMap(spec.file)) for spec in model.distance_maps]
        self.pair_names: tuple[tuple[str, str], ...] = capsule_pair_names + tuple(
            (spec.link, "|".join(spec.links)) for spec, _ in self.maps
        )
        n_frames, n_caps = model.dof + 1, len(model.capsules)
        # Gathers as small matrix products (exact: one 1.0 and zeros per output), which torch
        # runs far faster on the CPU than index_select on inner dimensions:
        # place[(l, j), (c, k)] = end k of capsule c in chain frame l's coordinates, j = 0..3,
        # so (B, 3, 4L) top rows of the chain transforms @ place = (B, 3, 2C) world end points.
        place = np.zeros((n_frames, 4, n_caps, 2))
        for c, capsule in enumerate(model.capsules):
            index, offset = model.frame(capsule.link)
            ends = np.stack([np.append(capsule.a, 1.0), np.append(capsule.b, 1.0)], axis=-1)
            place[index, :, c, :] = offset @ ends
        # select[c, i] picks capsule c as the first (i < P) or second (i >= P) member of pair i
        select = np.zeros((n_caps, 2 * len(pairs)))
        select[pairs[:, 0], np.arange(len(pairs))] = 1.0
        select[pairs[:, 1], len(pairs) + np.arange(len(pairs))] = 1.0
        radii = np.array([c.radius for c in model.capsules])
        self._numpy = dict(
            place=place.reshape(n_frames * 4, n_caps * 2),
            select=select,
            radius_sum=radii[pairs[:, 0]] + radii[pairs[:, 1]],
        )
        self._cache: dict[tuple[torch.dtype, torch.device], dict[str, Tensor]] = {}

    def _constants(self, dtype: torch.dtype, device: torch.device) -> dict[str, Tensor]:
        key = (dtype, device)
        if key not in self._cache:
            self._cache[key] = {
                k: torch.as_tensor(v, dtype=dtype, device=device) for k, v in self._numpy.items()
            }
        return self._cache[key]

    def _segments(self, q: Tensor, chain: Tensor | None) -> tuple[Tensor, Tensor]:
        """(B, n) and its (B, n + 1, 4, 4) chain (None: built here) -> end points a, b, each
        (B, 3, C) (coordinates first), no validation."""
        chain = self.kinematics._chain(q) if chain is None else chain
        top = chain[:, :, :3, :].transpose(1, 2).reshape(q.shape[0], 3, -1)  # (B, 3, 4(n + 1))
        ends = (top @ self._constants(q.dtype, q.device)["place"]).unflatten(-1, (-1, 2))
        return ends[..., 0], ends[..., 1]

    def distance(
        self, q: Tensor, validate: bool = True, chain: Tensor | None = None
    ) -> CollisionDistance:
        """Minimum signed capsule distance over all checked pairs for (..., n) joints [rad].
        ``validate=False``: no NaN/inf check (see :meth:`Kinematics.forward`). ``chain``: the
        (..., n + 1, 4, 4) :meth:`Kinematics.chain_transforms` of ``q`` when the caller has
        built it already (one FK for the pose and the capsules); None builds it here."""
        q = self.kinematics.check_joints(q, validate)
        n = self.kinematics.dof
        if chain is not None:
            chain = chain.reshape((-1, n + 1, 4, 4))
        a, b = self._segments(q.reshape(-1, n), chain)
        const = self._constants(q.dtype, q.device)
        radius_sum = const["radius_sum"]
        # one gather for all four end-point sets: rows a.xyz, b.xyz; columns first | second
        ends = torch.cat([a, b], dim=1) @ const["select"]  # (B, 6, 2P)
        P = radius_sum.shape[0]
        seg = segment_closest_points(
            ends[:, :3, :P], ends[:, 3:, :P], ends[:, :3, P:], ends[:, 3:, P:], dim=1
        )
        columns = [seg.distance - radius_sum]  # (B, P)
        flat = q.reshape(-1, self.kinematics.dof)
        for spec, table in self.maps:
            ja, jb = spec.joints
            columns.append(table.distance(flat[:, ja], flat[:, jb]).unsqueeze(-1))
        pair_distances = torch.cat(columns, dim=-1) if len(columns) > 1 else columns[0]
        pair_distances = pair_distances.reshape(q.shape[:-1] + (len(self.pair_names),))
        distance, index = pair_distances.min(dim=-1)
        return CollisionDistance(distance, index, pair_distances)
