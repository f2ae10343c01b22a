"""The one FCL distance query of the library: two placed objects -> signed distance [m]."""

from __future__ import annotations

from typing import NamedTuple

import fcl
import numpy as np

#: Below this distance [m] (FCL's GJK works to about 1e-6 m) a pair is settled by FCL's
#: collide test: FCL gives no penetration depth for meshes, only ~0, so contact is decided there.
CONTACT_TOLERANCE = 1e-6

_REQUEST = fcl.DistanceRequest(enable_signed_distance=True)
_REQUEST_POINTS = fcl.DistanceRequest(enable_nearest_points=True, enable_signed_distance=True)
_COLLIDE = fcl.CollisionRequest()


class DistanceResult(NamedTuple):
    """Smallest distance over the checked pairs.

    Attributes:
        distance: [m]; <= 0 means contact. Negative values are penetration depths where FCL
            computes them (two primitives); a mesh in contact gives 0. ``inf`` when
            no pair is checked.
        pair: names of the closest pair: robot link or attached object first, then the other
            link or the world object; ("", "") when no pair is checked.
        points: nearest points (3,), (3,) in the base frame [m] on the pair's two members, in
            ``pair`` order, when asked for (else None).
    """

    distance: float
    pair: tuple[str, str]
    points: tuple[np.ndarray, np.ndarray] | None = None


NO_PAIR = DistanceResult(float("inf"), ("", ""), None)


def pair_distance(
    a: fcl.CollisionObject, b: fcl.CollisionObject, nearest_points: bool = False
) -> tuple[float, tuple | None]:
    """(signed distance [m], nearest points on a and b or None) of two placed FCL objects."""
    result = fcl.DistanceResult()
    d = fcl.distance(a, b, _REQUEST_POINTS if nearest_points else _REQUEST, result)
    if d <= CONTACT_TOLERANCE and fcl.collide(a, b, _COLLIDE, fcl.CollisionResult()):
        d = min(d, 0.0)
    points = None
    if nearest_points:
        points = (np.array(result.nearest_points[0]), np.array(result.nearest_points[1]))
    return d, points


__all__ = ["CONTACT_TOLERANCE", "DistanceResult", "NO_PAIR", "pair_distance"]
