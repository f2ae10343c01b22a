"""Fit the capsule self-collision model to pybullet's Panda collision meshes.

Bullet collides each link's mesh as its convex hull. A link gets k capsules: its hull is cut by
planes into convex pieces (see PARTITIONS), and each piece (a convex polytope, found exactly by
half-space intersection) gets the smallest-volume capsule containing its vertices (Nelder-Mead over
the segment end points, radius = the farthest vertex). The union of the k capsules therefore
contains the whole hull: the model stays conservative while k > 1 hugs elongated links. The
fingers get one capsule covering both fingers at every opening (their vertices at 0 and 0.04 m).
A padding covers Bullet's collision margin. The result replaces ``collision.capsules`` in the
robot YAML; nothing else changes.

    .venv/bin/python tools/fit_capsules.py [--config config/panda_robot.yaml] [--padding 0.001]
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pybullet_data
from scipy.optimize import linprog, minimize
from scipy.spatial import ConvexHull, HalfspaceIntersection

MESHES = Path(pybullet_data.getDataPath()) / "franka_panda" / "meshes" / "collision"
FINGER_Z = 0.0584  # finger joint origin above the hand [m]
FINGER_TRAVEL = 0.04  # [m]


def obj_vertices(path: Path) -> np.ndarray:
    """(V, 3) vertices of a Wavefront OBJ file [m]."""
    rows = [line.split()[1:4] for line in path.read_text().splitlines() if line.startswith("v ")]
    return np.array(rows, dtype=float)


def segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(V,) distance of each point to the segment a-b."""
    d = b - a
    t = np.clip((points - a) @ d / max(d @ d, 1e-18), 0.0, 1.0)
    return np.linalg.norm(points - (a + t[:, None] * d), axis=1)


def fit_capsule(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Smallest-volume capsule (a, b, radius) containing every point."""
    centre = points.mean(0)
    _, _, vt = np.linalg.svd(points - centre)
    best = None
    for axis in vt:  # start along each principal axis, keep the best optimum
        proj = (points - centre) @ axis
        x0 = np.concatenate([centre + proj.min() * 0.5 * axis, centre + proj.max() * 0.5 * axis])

        def volume(x: np.ndarray) -> float:
            a, b = x[:3], x[3:]
            r = segment_distance(points, a, b).max()
            return np.pi * r * r * np.linalg.norm(b - a) + 4.0 / 3.0 * np.pi * r**3

        res = minimize(
            volume,
            x0,
            method="Nelder-Mead",
            options={"xatol": 1e-6, "fatol": 1e-10, "maxiter": 20000, "maxfev": 20000},
        )
        if best is None or res.fun < best.fun:
            best = res
    a, b = best.x[:3], best.x[3:]
    return a, b, float(segment_distance(points, a, b).max())


def clip_to_slab(points: np.ndarray, axis: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Vertices of conv(points) intersected with the slab lo <= axis . x <= hi."""
    hull = ConvexHull(points)
    halfspaces = np.vstack(
        [
            hull.equations,  # rows n . x + c <= 0
            np.append(-axis, lo),
            np.append(axis, -hi),
        ]
    )
    # Chebyshev centre: a point strictly inside, needed by HalfspaceIntersection
    norms = np.linalg.norm(halfspaces[:, :3], axis=1)
    lp = linprog(
        c=[0, 0, 0, -1],
        A_ub=np.column_stack([halfspaces[:, :3], norms]),
        b_ub=-halfspaces[:, 3],
        bounds=[(None, None)] * 3 + [(0, None)],
    )
    return HalfspaceIntersection(halfspaces, lp.x[:3]).intersections


def hull_vertices(points: np.ndarray) -> np.ndarray:
    return points[ConvexHull(points).vertices]


# How each link's hull is cut before fitting: a list of regions (region axis, lo, hi [m], slab
# axis, slab count), all in the link frame. A region is the hull clipped to lo <= axis <= hi; it is
# then cut into equal slabs along the slab axis. Capsules fit disk-like pieces badly, so the
# wrist housings (link5's top, link7, the hand) are cut into thin slabs. Links not listed: one
# capsule.
PARTITIONS: dict[str, list[tuple]] = {
    "panda_link5": [("z", -1.0, -0.04, "z", 1), ("z", -0.04, 1.0, "y", 1)],
    "panda_link7": [("z", -1.0, 1.0, "x", 4)],
    "panda_hand": [("z", -1.0, 1.0, "z", 2)],
}


def fit_capsules(points: np.ndarray, regions) -> list[tuple]:
    """Capsules (a, b, radius) whose union contains conv(points), one per slab of ``regions``.

    Every slab is an exact convex polytope (the hull clipped by planes), so the union of the slab
    capsules covers the whole hull.
    """
    fits = []
    for region_axis, lo, hi, *slabs in regions:
        pieces = [clip_to_slab(points, np.eye(3)["xyz".index(region_axis)], lo, hi)]
        for slab_axis, count in zip(slabs[::2], slabs[1::2]):
            direction = np.eye(3)["xyz".index(slab_axis)]
            cut_pieces = []
            for piece in pieces:
                proj = piece @ direction
                cuts = np.linspace(proj.min(), proj.max(), count + 1)
                cut_pieces += [
                    clip_to_slab(piece, direction, a, b) for a, b in zip(cuts, cuts[1:])
                ]
            pieces = cut_pieces
        fits += [fit_capsule(piece) for piece in pieces]
    return fits


def link_point_sets() -> dict[str, np.ndarray]:
    """Vertices per dtd_ik link frame; fingers expressed in the hand frame at both openings."""
    sets = {f"panda_link{i}": obj_vertices(MESHES / f"link{i}.obj") for i in range(8)}
    sets["panda_hand"] = obj_vertices(MESHES / "hand.obj")
    finger = obj_vertices(MESHES / "finger.obj")
    # the right finger is the left turned by pi about z
    right = finger * np.array([-1.0, -1.0, 1.0])
    fingers = []
    for w in (0.0, FINGER_TRAVEL):
        fingers.append(finger + [0.0, w, FINGER_Z])
        fingers.append(right + [0.0, -w, FINGER_Z])
    sets["panda_fingers"] = np.concatenate(fingers)
    return sets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/panda_robot.yaml")
    parser.add_argument("--padding", type=float, default=0.001, help="added to every radius [m]")
    args = parser.parse_args()
    lines = []
    for name, points in link_point_sets().items():
        link = "panda_hand" if name == "panda_fingers" else name
        for a, b, r in fit_capsules(points, PARTITIONS.get(name, [("z", -1.0, 1.0, "z", 1)])):
            a, b = np.round(a, 4), np.round(b, 4)
            # rounding moved the end points by <= 0.087 mm: add 0.1 mm, then round the radius up
            radius = np.ceil((r + args.padding + 1e-4) * 1e4) / 1e4
            lines.append(
                f"    - {{link: {link}, a: [{a[0]:.4f}, {a[1]:.4f}, {a[2]:.4f}], "
                f"b: [{b[0]:.4f}, {b[1]:.4f}, {b[2]:.4f}], radius: {radius:.4f}}}"
                f"  # {name}"
            )
            print(lines[-1])
    path = Path(args.config)
    text = path.read_text()
    block = "  capsules:\n" + "\n".join(lines) + "\n"
    # the capsule list ends at the next line indented by two spaces (comment or key)
    new = re.sub(r"  capsules:.*?(?=\n  \S)", block.rstrip("\n"), text, flags=re.S)
    path.write_text(new)
    print(f"wrote {len(lines)} capsules to {path}")


if __name__ == "__main__":
    main()
