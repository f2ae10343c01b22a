"""Tabulate the mesh distance between panda_link5 and the wrist (link7, hand, fingers) over q6, q7.

The capsules cannot hug link5's wrist housing and link7's flange, which face each other across
joint 6 about 2 cm apart (docs/kinematics.md). Their relative pose depends on q6 and q7 only, so
the exact (pybullet, convex-hull) distance is a function on the 2-torus, tabulated here on an
N x N grid over [-pi, pi)^2 and stored as a certified lower bound:

- d is Lipschitz in q6 with constant L6 = the largest distance of a wrist vertex from the joint-6
  axis, and in q7 with L7 (from the joint-7 axis), so bilinear interpolation of grid values
  overestimates d by at most delta = (L6 h6 + L7 h7) / 2; the table stores d - delta.
- the fingers slide by f in [0, 0.04] m; their distance is Lipschitz 1 in f, so the table takes the
  minimum over openings sampled every ``finger_step`` and subtracts ``finger_step / 2``.
- values are capped at ``reach`` (min(d, reach) is still a lower bound and still Lipschitz) and
  stored rounded down to 0.01 mm as int16.

    .venv/bin/python tools/build_distance_map.py [--size 1024] \\
        [--out config/panda_wrist_distance.npz]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pybullet
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "test"))
from fit_capsules import FINGER_TRAVEL, link_point_sets  # noqa: E402

from dtd_ik.kinematics.forward import Kinematics  # noqa: E402
from pybullet_panda import PybulletPanda  # noqa: E402

UNIT = 1e-5  # storage unit [m]
STATIC, WRIST, FINGERS = (
    "panda_link5",
    ("panda_link7", "panda_hand"),
    ("panda_leftfinger", "panda_rightfinger"),
)
JOINTS = ("panda_joint6", "panda_joint7")  # the two joints the pair's relative pose depends on


def joint_indices(kin: Kinematics) -> tuple[int, int]:
    """Indices of :data:`JOINTS` in the joint vector; joint j moves chain frame j + 1."""
    j6, j7 = (kin.model.joint_names.index(name) for name in JOINTS)
    return j6, j7


def lipschitz_constants(kin: Kinematics) -> tuple[float, float]:
    """(L6, L7) [m/rad]: farthest wrist vertex from the joint-6 and joint-7 axes."""
    pts = link_point_sets()
    _, hand = kin.model.frame("panda_hand")
    hand_pts = np.concatenate([pts["panda_hand"], pts["panda_fingers"]])
    # in the link7 frame
    wrist = np.concatenate([pts["panda_link7"], hand_pts @ hand[:3, :3].T + hand[:3, 3]])
    L7 = float(np.hypot(wrist[:, 0], wrist[:, 1]).max())
    L6 = 0.0
    j6, j7 = joint_indices(kin)
    # joint-7 pose in the link6 frame (z = joint-6 axis)
    for q7 in np.linspace(-np.pi, np.pi, 1441):
        q = torch.zeros(kin.dof, dtype=torch.float64)
        q[j7] = q7
        chain = kin.chain_transforms(q).numpy()
        T = np.linalg.inv(chain[j6 + 1]) @ chain[j7 + 1]
        p = wrist @ T[:3, :3].T + T[:3, 3]
        L6 = max(L6, float(np.hypot(p[:, 0], p[:, 1]).max()))
    return L6 * 1.01, L7 * 1.01  # 1 % for the finer q7 sampling in between


def pair(pb: PybulletPanda, a: str, b: str, reach: float) -> float:
    pts = pybullet.getClosestPoints(
        pb.body, pb.body, reach, pb.link_index[a], pb.link_index[b], physicsClientId=pb.client
    )
    return min([reach] + [p[8] for p in pts])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024, help="grid points per joint")
    parser.add_argument("--reach", type=float, default=0.1, help="cap on stored distances [m]")
    parser.add_argument("--finger-step", type=float, default=0.01, help="opening sampling [m]")
    parser.add_argument("--out", default="config/panda_wrist_distance.npz")
    args = parser.parse_args()
    kin = Kinematics()
    L6, L7 = lipschitz_constants(kin)
    h = 2 * np.pi / args.size
    delta = 0.5 * (L6 + L7) * h
    openings = np.arange(0.0, FINGER_TRAVEL + 1e-9, args.finger_step)
    pb = PybulletPanda()
    grid = -np.pi + h * np.arange(args.size)
    j6, j7 = joint_indices(kin)
    table = np.empty((args.size, args.size))
    start = time.time()
    for i, q6 in enumerate(grid):
        for j, q7 in enumerate(grid):
            q = np.zeros(kin.dof)
            q[j6], q[j7] = q6, q7
            pb.set_joints(q, finger=0.0)
            d = min(pair(pb, STATIC, w, args.reach) for w in WRIST)
            for f in openings:
                pb.set_joints(q, finger=float(f))
                fingers = min(pair(pb, STATIC, w, args.reach) for w in FINGERS)
                d = min(d, fingers - args.finger_step / 2)
            table[i, j] = d
        if i % 32 == 0:
            print(f"row {i}/{args.size}, {time.time() - start:.0f} s", flush=True)
    stored = np.floor((table - delta) / UNIT).astype(np.int16)
    out = Path(args.out)
    tmp = out.with_suffix(".tmp.npz")
    np.savez_compressed(
        tmp,
        distance=stored,
        unit=UNIT,
        start=-np.pi,
        step=h,
        delta=delta,
        lipschitz=np.array([L6, L7]),
        reach=args.reach,
        joints=np.array(JOINTS),
        links=np.array([STATIC, "panda_link7", "panda_hand"]),
    )
    tmp.replace(out)
    print(
        f"L6 {L6:.4f} L7 {L7:.4f} m/rad, h {h:.5f} rad, delta {delta * 1e3:.2f} mm; "
        f"min {table.min():.4f} m; wrote {out} in {time.time() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
