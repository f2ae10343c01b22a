"""The robot's exact collision geometry (dtd_ik.collision) against independent references:
pybullet's Panda (its meshes, link frames and mesh distances), the capsules' enclosure, and
hand-built OBJ files."""

import hashlib

import numpy as np
import pybullet_data
import pytest
import torch

from dtd_ik.collision import (
    CollisionWorld,
    InvalidShapeError,
    RobotGeometry,
    TriangleMesh,
    read_obj,
)
from dtd_ik.exceptions import ConfigError, InvalidInputError, UnknownFrameError
from dtd_ik.kinematics.capsules import segment_closest_points
from dtd_ik.paths import share_dir
from dtd_ik.robot.spatial import quaternion_to_matrix
from joint_samples import random_joints
from pybullet_panda import BULLET_PAIR_MARGIN, CHECKED_PAIRS, HAND_CLUSTER

PYBULLET_MESHES = f"{pybullet_data.getDataPath()}/franka_panda/meshes/collision"
AGREEMENT = 1e-4  # [m]
REACH = 0.3  # [m] pybullet reports distances up to this


@pytest.fixture(scope="module")
def geometry() -> RobotGeometry:
    return RobotGeometry.from_config()


@pytest.fixture(scope="module")
def world(geometry) -> CollisionWorld:
    return CollisionWorld(geometry)


def link_poses(kin, q: np.ndarray, links) -> np.ndarray:
    """(N, L, 4, 4) link poses [m] from dtd_ik's FK (itself checked against pybullet)."""
    return kin.frame_transforms(torch.as_tensor(q), tuple(links)).numpy()


def test_shipped_meshes_are_pybullets_files_unchanged(geometry):
    for piece in geometry.pieces:
        name = "finger" if "finger" in piece.name else piece.name.replace("panda_", "")
        shipped = (share_dir() / "meshes" / "panda" / f"{name}.obj").read_bytes()
        reference = open(f"{PYBULLET_MESHES}/{name}.obj", "rb").read()
        assert hashlib.sha256(shipped).digest() == hashlib.sha256(reference).digest(), name
    licence = (share_dir() / "meshes" / "panda" / "LICENSE.txt").read_text()
    assert "Apache License" in licence[:200] and "Version 2.0" in licence[:200]


def test_obj_reader_on_a_hand_written_file(tmp_path):
    """Quads split into fans, v/vt/vn references and negative (relative) indices."""
    path = tmp_path / "quad.obj"
    path.write_text(
        "# a unit square and a triangle\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\n"
        "vn 0 0 1\nf 1/1/1 2/2/1 3/3/1 4/4/1\nv 0 0 1\nf -1 1 2\n"
    )
    mesh = read_obj(path)
    np.testing.assert_array_equal(mesh.vertices[4], [0, 0, 1])
    np.testing.assert_array_equal(mesh.triangles, [[0, 1, 2], [0, 2, 3], [4, 0, 1]])
    with pytest.raises(InvalidShapeError, match="no.obj"):
        read_obj(tmp_path / "no.obj")
    (tmp_path / "bad.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n")
    with pytest.raises(InvalidShapeError, match="indices"):
        read_obj(tmp_path / "bad.obj")
    (tmp_path / "empty.obj").write_text("# nothing\n")
    with pytest.raises(InvalidShapeError, match="vertices"):
        read_obj(tmp_path / "empty.obj")


def test_mesh_pieces_sit_where_pybullets_panda_puts_them(geometry, pybullet_panda):
    """Every mesh, placed by its link's pose and the YAML offset, covers the same points as
    pybullet's copy placed by pybullet's own link frames (fingers at 0.04 m)."""
    pybullet_panda.set_joints(np.array([0.3, -0.5, 0.4, -2.0, 0.2, 1.9, -0.6]), finger=0.04)
    poses = {}
    for link in geometry.links:
        pos, quat = pybullet_panda.link_pose(link)
        poses[link] = np.eye(4)
        poses[link][:3, :3], poses[link][:3, 3] = quaternion_to_matrix(quat), pos
    for piece in geometry.pieces:
        pos, quat = pybullet_panda.link_pose(piece.name)
        R = quaternion_to_matrix(quat)
        ours = poses[piece.link] @ piece.offset
        v_ours = piece.mesh.vertices @ ours[:3, :3].T + ours[:3, 3]
        flip = np.diag([-1.0, -1.0, 1.0]) if piece.name == "panda_rightfinger" else np.eye(3)
        v_ref = piece.mesh.vertices @ (R @ flip).T + pos  # pybullet's rpy 0 0 pi collision origin
        np.testing.assert_allclose(v_ours, v_ref, atol=1e-6, err_msg=piece.name)


def test_checked_pairs_are_the_srdf_pairs(geometry):
    """Link pairs checked = pybullet_panda's list of MoveIt's SRDF pairs, fingers with the hand."""
    ours = {
        frozenset((geometry.pieces[i].link, geometry.pieces[j].link))
        for i, j in geometry.pair_index
    }
    assert ours == {frozenset(p) for p in CHECKED_PAIRS}
    names = {geometry.pieces[i].name for i, _ in geometry.pair_index} | {
        geometry.pieces[j].name for _, j in geometry.pair_index
    }
    assert set(HAND_CLUSTER) <= names


def test_every_mesh_vertex_lies_inside_its_links_capsules(geometry, kin):
    """So a positive capsule distance implies a positive mesh distance."""
    for piece in geometry.pieces:
        caps = [c for c in kin.model.capsules if c.link == piece.link]
        v = piece.mesh.vertices @ piece.offset[:3, :3].T + piece.offset[:3, 3]  # link frame
        pts = torch.as_tensor(v)
        inside = torch.full((len(v),), float("inf"), dtype=torch.float64)
        for c in caps:
            a = torch.as_tensor(c.a).expand_as(pts)
            b = torch.as_tensor(c.b).expand_as(pts)
            d = segment_closest_points(a, b, pts, pts).distance - c.radius
            inside = torch.minimum(inside, d)
        assert inside.max() < 0, (piece.name, float(inside.max()))


def test_mesh_distance_agrees_with_pybullet(world, kin, pybullet_panda):
    """300 random configurations: FCL's exact mesh distance over the SRDF pairs against
    pybullet's (convex hulls, 1 mm margin per shape). A mesh lies inside its hull, so FCL's
    distance is never below pybullet's + 2 mm; where the closest points lie on the hulls
    (measured: every clear configuration here) the two agree within 0.1 mm; contact agrees."""
    q = random_joints(kin, 300, seed=1)
    poses = link_poses(kin, q, world.robot.links)
    ours, ref = [], []
    for qi, p in zip(q, poses):
        pybullet_panda.set_joints(qi, finger=0.04)
        ref.append(pybullet_panda.min_distance(REACH))
        ours.append(min(world.distance(p).distance, REACH))
    ours, ref = np.array(ours), np.array(ref)
    assert (ours >= ref + BULLET_PAIR_MARGIN - AGREEMENT).all()
    clear = ref > 0
    assert clear.sum() > 200
    np.testing.assert_allclose(ours[clear], ref[clear] + BULLET_PAIR_MARGIN, atol=AGREEMENT)
    # hulls overlapping by more than Bullet's margin: the meshes touch too (measured: all)
    deep = ref < -BULLET_PAIR_MARGIN
    assert deep.sum() >= 10 and (ours[deep] <= 0).all()


def test_contact_agrees_with_a_brute_force_mesh_intersection(world, kin, pybullet_panda):
    """FCL's contact verdict against pybullet's own meshes placed by pybullet and intersected
    edge by triangle (no hulls, no FCL): the same on 40 random configurations, both kinds seen."""
    q = random_joints(kin, 40, seed=5)
    ours = np.array(
        [world.distance(p).distance <= 0 for p in link_poses(kin, q, world.robot.links)]
    )
    ref = np.array([pybullet_panda.meshes_in_contact(qi) for qi in q])
    assert ref.any() and not ref.all()
    np.testing.assert_array_equal(ours, ref)


def test_clear_capsules_imply_clear_meshes(world, kin, capsules):
    """The consequence of the enclosure: wherever the capsule model (with its wrist distance
    map) reports clearance, FCL finds the meshes clear too."""
    q = random_joints(kin, 300, seed=4)
    capsule = capsules.distance(torch.as_tensor(q)).distance.numpy()
    mesh = np.array([world.distance(p).distance for p in link_poses(kin, q, world.robot.links)])
    assert (capsule > 0).sum() > 150
    assert (mesh[capsule > 0] > 0).all()
    assert (mesh >= capsule - 1e-9).all()


def test_nearest_points_span_the_reported_distance(world, kin):
    q = random_joints(kin, 20, seed=2)
    for p in link_poses(kin, q, world.robot.links):
        r = world.distance(p, nearest_points=True)
        if r.distance > 1e-3:
            assert np.linalg.norm(r.points[0] - r.points[1]) == pytest.approx(r.distance, abs=1e-6)
        assert r.pair[0] in world.robot.names and r.pair[1] in world.robot.names


def test_link_poses_as_mapping_or_array_and_errors(world, kin):
    q = random_joints(kin, 1, seed=3)
    poses = link_poses(kin, q, world.robot.links)[0]
    as_dict = dict(zip(world.robot.links, poses))
    assert world.distance(as_dict) == world.distance(poses)
    with pytest.raises(UnknownFrameError, match="panda_hand"):
        world.distance({k: v for k, v in as_dict.items() if k != "panda_hand"})
    with pytest.raises(InvalidInputError, match="shape"):
        world.distance(poses[:-1])
    bad = poses.copy()
    bad[3, 0, 3] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        world.distance(bad)


def test_meshes_config_errors(tmp_path, kin):
    import dataclasses

    with pytest.raises(InvalidShapeError, match="indices"):
        TriangleMesh(np.zeros((3, 3)), [[0, 1, 3]])
    src = open(kin.model.source).read()
    cfg = tmp_path / "robot.yaml"
    cfg.write_text(src.replace("meshes/panda/link3.obj", "meshes/panda/missing.obj"))
    model = dataclasses.replace(kin.model, source=str(cfg))
    with pytest.raises(ConfigError, match=r"collision.meshes\[3\].file"):
        RobotGeometry.from_config(model)
    cfg.write_text(src.replace("    - {link: panda_link3, file: meshes/panda/link3.obj}\n", ""))
    with pytest.raises(ConfigError, match="same links"):
        RobotGeometry.from_config(model)
