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

    def collision_meshes(self, link: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """The triangle meshes of ``link``'s collision shapes at the current joints: vertices
        (V, 3) in the base frame [m] and triangles (T, 3) int, read from pybullet's own files
        and placed by pybullet (shape frames are relative to the link's inertial frame)."""
        index = self.link_index[link]
        if index == -1:
            pos, orn = pybullet.getBasePositionAndOrientation(
                self.body, physicsClientId=self.client
            )
        else:
            pos, orn = pybullet.getLinkState(
                self.body, index, computeForwardKinematics=True, physicsClientId=self.client
            )[:2]
        out = []
        for shape in pybullet.getCollisionShapeData(self.body, index, physicsClientId=self.client):
            scale, path, local_pos, local_orn = shape[3], shape[4].decode(), shape[5], shape[6]
            vertices, faces = [], []
            with open(path) as f:
                for line in f:
                    parts = line.split()
                    if parts and parts[0] == "v":
                        vertices.append([float(x) for x in parts[1:4]])
                    elif parts and parts[0] == "f":
                        idx = [int(x.split("/")[0]) - 1 for x in parts[1:]]
                        faces += [[idx[0], idx[k], idx[k + 1]] for k in range(1, len(idx) - 1)]
            p, o = pybullet.multiplyTransforms(pos, orn, local_pos, local_orn)
            R = np.array(pybullet.getMatrixFromQuaternion(o)).reshape(3, 3)
            out.append(((np.array(vertices) * scale) @ R.T + p, np.array(faces)))
        return out

    def meshes_cross(self, link_a: str, link_b: str) -> bool:
        """Whether the collision meshes of two links (hand = hand cluster) intersect at the
        current joints: some triangle edge of one passes through a triangle of the other
        (brute force, Moller-Trumbore on every edge-triangle pair; no FCL, no hulls)."""
        meshes_a = [m for name in self._links(link_a) for m in self.collision_meshes(name)]
        meshes_b = [m for name in self._links(link_b) for m in self.collision_meshes(name)]
        return any(_edges_cross(a, b) or _edges_cross(b, a) for a in meshes_a for b in meshes_b)

    def meshes_in_contact(self, q: np.ndarray) -> bool:
        """Whether any SRDF-checked pair's collision meshes intersect at joints ``q`` (7,)."""
        self.set_joints(q)
        return any(self.meshes_cross(a, b) for a, b in CHECKED_PAIRS)

    def hull_distance(self, q: np.ndarray, reach: float = 0.3) -> float:
        """[m] smallest distance of the SRDF-checked links' convex hulls at joints ``q`` (7,)
        (Bullet's margin removed; capped near ``reach``): the hulls hold the meshes, so > 0
        proves the meshes clear."""
        self.set_joints(q)
        return self.min_distance(reach) + BULLET_PAIR_MARGIN


def _edges_cross(
    edges_of: tuple[np.ndarray, np.ndarray], triangles_of: tuple[np.ndarray, np.ndarray]
) -> bool:
    """Whether an edge of mesh ``edges_of`` (vertices, faces) passes through a triangle of mesh
    ``triangles_of`` (Moller-Trumbore, vectorised over every pair)."""
    (va, fa), (vb, fb) = edges_of, triangles_of
    edges = np.unique(
        np.sort(np.concatenate([fa[:, [0, 1]], fa[:, [1, 2]], fa[:, [2, 0]]]), axis=1), axis=0
    )
    origin, direction = va[edges[:, 0]], va[edges[:, 1]] - va[edges[:, 0]]  # (E, 3)
    t0, e1, e2 = vb[fb[:, 0]], vb[fb[:, 1]] - vb[fb[:, 0]], vb[fb[:, 2]] - vb[fb[:, 0]]  # (T, 3)
    for start in range(0, len(edges), 256):
        o, d = origin[start : start + 256, None], direction[start : start + 256, None]  # (e, 1, 3)
        h = np.cross(d, e2)  # (e, T, 3)
        det = np.einsum("etk,tk->et", h, e1)
        ok = np.abs(det) > 1e-15
        inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
        s = o - t0
        u = np.einsum("etk,etk->et", s, h) * inv
        qv = np.cross(s, e1)
        v = np.einsum("etk,eik->et", qv, d) * inv
        t = np.einsum("etk,tk->et", qv, e2) * inv
        if (ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t >= 0) & (t <= 1)).any():
            return True
    return False
