"""Check the exact collision geometry against the capsules and pybullet's Panda; print figures.

1. Enclosure: for every mesh piece (placed in its link frame by collision.meshes), how far its
   outermost vertex stays inside the union of its link's capsules [mm] (> 0: enclosed, so a
   positive capsule distance implies a positive mesh distance).
2. Agreement: on random configurations, FCL's minimum mesh distance over the SRDF pairs minus
   pybullet's (convex hulls with a 1 mm margin per shape, so 2 mm per pair): percentiles over
   the configurations pybullet sees clear, and contact agreement.

    PYTHONPATH=. .venv/bin/python tools/check_collision_meshes.py [--configs 300] [--seed 1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from fit_capsules import segment_distance  # tools/: the capsule fitter's point-segment distance

from dtd_ik.collision import CollisionWorld
from dtd_ik.kinematics.forward import Kinematics

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "test"))
from pybullet_panda import PybulletPanda  # noqa: E402  (the test suite's independent reference)

BULLET_PAIR_MARGIN = 0.002  # [m] 1 mm per convex shape
REACH = 0.3  # [m]


def enclosure_slack(world: CollisionWorld, kin: Kinematics) -> dict[str, float]:
    """Per piece: min over its vertices of (capsule union depth) [m]; > 0 means inside."""
    out = {}
    for piece in world.robot.pieces:
        v = piece.mesh.vertices @ piece.offset[:3, :3].T + piece.offset[:3, 3]
        depth = np.max(
            [
                c.radius - segment_distance(v, c.a, c.b)
                for c in kin.model.capsules
                if c.link == piece.link
            ],
            axis=0,
        )
        out[piece.name] = float(depth.min())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    kin, world = Kinematics(), CollisionWorld()
    print("enclosure slack (outermost vertex inside its link's capsules) [mm]:")
    for name, slack in enclosure_slack(world, kin).items():
        print(f"  {name:<18} {slack * 1e3:7.2f}")
    q = np.random.default_rng(args.seed).uniform(
        kin.model.lower, kin.model.upper, size=(args.configs, kin.dof)
    )
    poses = kin.frame_transforms(torch.as_tensor(q), world.robot.links).numpy()
    panda = PybulletPanda()
    ours, ref = [], []
    for qi, p in zip(q, poses):
        panda.set_joints(qi, finger=0.04)
        ref.append(panda.min_distance(REACH))
        ours.append(min(world.distance(p).distance, REACH))
    panda.close()
    ours, ref = np.array(ours), np.array(ref)
    clear = ref > 0
    diff = (ours - ref - BULLET_PAIR_MARGIN)[clear] * 1e3
    print(f"{args.configs} configurations (seed {args.seed}), {clear.sum()} clear for pybullet:")
    print(
        "  FCL - (pybullet + 2 mm) [mm] p0/p50/p99/p100: "
        + " / ".join(f"{v:.4f}" for v in np.percentile(diff, [0, 50, 99, 100]))
    )
    print(
        f"  FCL below pybullet + 2 mm - 0.1 mm anywhere: "
        f"{int(np.sum(ours < ref + BULLET_PAIR_MARGIN - 1e-4))}"
    )
    print(
        f"  contact: FCL {int(np.sum(ours <= 0))}, pybullet {int(np.sum(ref <= 0))}, "
        f"pybullet < -2 mm {int(np.sum(ref < -BULLET_PAIR_MARGIN))} of which FCL clear "
        f"{int(np.sum((ref < -BULLET_PAIR_MARGIN) & (ours > 0)))}"
    )


if __name__ == "__main__":
    main()
