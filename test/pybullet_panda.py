"""pybullet's own Panda (pybullet_data/franka_panda/panda.urdf, with meshes) as an independent
reference for FK and mesh self-collision. Used by tests and benchmarks; nothing in dtd_ik imports
it.
"""

from __future__ import annotations

import os

import numpy as np
import pybullet
import pybullet_data

# pybullet computes and reports link poses in float32 (every coordinate it returns is a float32
# value; eps 1.19e-7, the ulp of values in [1, 2)), so its FK differs from an exact one by
# float32 roundings along the chain, whatever CPU runs it: one ulp for each of the 8 transforms
# from the base to the hand bounds positions [m] (all within 2 m), quaternion components and
# rotation angles [rad] (measured: at most 1.2e-7 m and 5.6e-7 rad over 2,000 configurations).
FK_TOLERANCE = 8 * float(np.finfo(np.float32).eps)
# Bullet inflates each convex collision shape by a 1 mm margin, so its distance of two links is
# their hulls' distance minus 2 mm (measured: FCL's mesh distance - pybullet's = 2.00 mm within
# 0.04 mm on every clear configuration where the closest points lie on the hulls).
BULLET_PAIR_MARGIN = 0.002
ARM_JOINTS = [f"panda_joint{i}" for i in range(1, 8)]
HAND_CLUSTER = ("panda_hand", "panda_leftfinger", "panda_rightfinger")
# Link pairs MoveIt's Panda SRDF checks (everything not disabled), in dtd_ik's link names where
# panda_hand stands for the hand cluster.
CHECKED_PAIRS = [
    ("panda_link0", "panda_link5"),
    ("panda_link0", "panda_link6"),
    ("panda_link0", "panda_link7"),
    ("panda_link0", "panda_hand"),
    ("panda_link1", "panda_link5"),
    ("panda_link1", "panda_link6"),
    ("panda_link1", "panda_link7"),
    ("panda_link1", "panda_hand"),
    ("panda_link2", "panda_link5"),
    ("panda_link2", "panda_link7"),
    ("panda_link2", "panda_hand"),
    ("panda_link5", "panda_link7"),
    ("panda_link5", "panda_hand"),
]


class PybulletPanda:
    """A DIRECT-mode pybullet client holding pybullet_data's Panda."""

    def __init__(self):
        self.client = pybullet.connect(pybullet.DIRECT)
        urdf = os.path.join(pybullet_data.getDataPath(), "franka_panda", "panda.urdf")
        self.body = pybullet.loadURDF(
            urdf,
            useFixedBase=True,
            physicsClientId=self.client,
            flags=pybullet.URDF_USE_SELF_COLLISION,
        )
        self.link_index = {"panda_link0": -1}
        self.joint_index = {}
        for j in range(pybullet.getNumJoints(self.body, physicsClientId=self.client)):
            info = pybullet.getJointInfo(self.body, j, physicsClientId=self.client)
            self.joint_index[info[1].decode()] = j
            self.link_index[info[12].decode()] = j
        self.arm = [self.joint_index[n] for n in ARM_JOINTS]
        self.fingers = [
            self.joint_index["panda_finger_joint1"],
            self.joint_index["panda_finger_joint2"],
        ]

    def close(self) -> None:
        pybullet.disconnect(self.client)

    def set_joints(self, q: np.ndarray, finger: float = 0.04) -> None:
        for j, v in zip(self.arm, q):
            pybullet.resetJointState(self.body, j, float(v), physicsClientId=self.client)
        for j in self.fingers:
            pybullet.resetJointState(self.body, j, finger, physicsClientId=self.client)

    def link_pose(self, link: str) -> tuple[np.ndarray, np.ndarray]:
        """(position (3,), quaternion x-y-z-w (4,)) of a link frame in the base frame."""
        if link == "panda_link0":
            pos, quat = pybullet.getBasePositionAndOrientation(
                self.body, physicsClientId=self.client
            )
        else:
            state = pybullet.getLinkState(
                self.body,
                self.link_index[link],
                computeForwardKinematics=True,
                physicsClientId=self.client,
            )
            pos, quat = state[4], state[5]  # URDF link frame, not the centre of mass
        return np.array(pos), np.array(quat)

    def _links(self, name: str) -> tuple[str, ...]:
        return HAND_CLUSTER if name == "panda_hand" else (name,)

    def pair_distance(self, link_a: str, link_b: str, reach: float = 0.05) -> float:
        """Mesh distance [m] of two links (hand = hand cluster), capped at ``reach``."""
        best = reach
        for a in self._links(link_a):
            for b in self._links(link_b):
                pts = pybullet.getClosestPoints(
                    self.body,
                    self.body,
                    reach,
                    self.link_index[a],
                    self.link_index[b],
                    physicsClientId=self.client,
                )
                for pt in pts:
                    best = min(best, pt[8])
        return best

    def min_distance(self, reach: float = 0.05) -> float:
        """Minimum mesh distance [m] over the SRDF-checked pairs (capped at ``reach``)."""
        return min(self.pair_distance(a, b, reach) for a, b in CHECKED_PAIRS)

    def hull_distance(self, q: np.ndarray, reach: float = 0.3) -> float:
        """[m] smallest distance of the SRDF-checked links' convex hulls at joints ``q`` (7,)
        (Bullet's margin removed; capped near ``reach``): the hulls hold the meshes, so > 0
        proves the meshes clear."""
        self.set_joints(q)
        return self.min_distance(reach) + BULLET_PAIR_MARGIN
