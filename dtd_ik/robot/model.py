"""Robot description: the URDF chain plus dtd_ik's robot YAML (group, frames, capsules, and
the MoveIt facts the IK node answers with).

Everything here is plain numpy built once at load time; :mod:`dtd_ik.kinematics.forward` and
:mod:`dtd_ik.kinematics.capsules` turn it into tensors.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dtd_ik.config_files import build, read_yaml
from dtd_ik.exceptions import ConfigError, UnknownFrameError
from dtd_ik.paths import config_path, resolve

DEFAULT_ROBOT_CONFIG = "panda_robot.yaml"

#: The paper's collision safety margin m (Eq. 3) [m]: the one definition of the 5 mm that the
#: training loss, the solver's clearance target and the server's default all use.
COLLISION_MARGIN = 0.005


@dataclass(frozen=True)
class UrdfJoint:
    """One URDF joint. ``origin`` is the 4x4 parent->child transform at q = 0 [m]."""

    name: str
    type: str
    parent: str
    child: str
    origin: np.ndarray  # (4, 4)
    axis: np.ndarray  # (3,) unit vector in the child frame
    lower: float  # [rad] or [m]
    upper: float


@dataclass(frozen=True)
class Capsule:
    """A segment a-b with a radius, fixed to ``link`` [m, link frame]."""

    link: str
    a: np.ndarray  # (3,)
    b: np.ndarray  # (3,)
    radius: float


@dataclass(frozen=True)
class DistanceMapSpec:
    """A tabulated distance between ``link`` and ``links`` that depends on two joints only.

    It replaces the capsule pairs between ``link`` and each of ``links`` (see
    :mod:`dtd_ik.kinematics.distance_map` and ``tools/build_distance_map.py``).
    """

    link: str
    links: tuple[str, ...]
    joints: tuple[int, int]  # indices into joint_names
    file: Path


@dataclass(frozen=True)
class MoveItDescription:
    """What MoveIt's robot config (SRDF) says beyond the group dtd_ik solves: the robot YAML's
    ``moveit`` section, which the IK node answers MoveIt requests with."""

    ready_state: tuple[float, ...] = ()  # (n,) [rad] fills joints no request gives; () = zeros
    other_joints: tuple[str, ...] = ()  # single-DOF joints outside the group (e.g. fingers)
    virtual_joint: str = ""  # the joint tying the model frame to base_frame ("" = none)
    group_aliases: dict[str, str] = field(default_factory=dict)  # other group -> its tip frame
    groups_without_ik: tuple[str, ...] = ()  # groups that have no IK solver


@dataclass(frozen=True)
class RobotModel:
    """A serial chain of revolute joints from ``base_frame`` with rigidly attached frames.

    Frame indices: 0 is the base, i (1..n) the child link of joint i; every other known link is
    a fixed frame attached to one of those (``fixed_frames[name] = (index, 4x4 offset)``).
    """

    name: str
    group_name: str
    base_frame: str
    tip_frame: str
    joint_names: tuple[str, ...]
    chain_links: tuple[str, ...]  # (n + 1,) base then the child link of every joint
    joint_origins: np.ndarray  # (n, 4, 4)
    joint_axes: np.ndarray  # (n, 3)
    lower: np.ndarray  # (n,) [rad]
    upper: np.ndarray  # (n,) [rad]
    fixed_frames: dict[str, tuple[int, np.ndarray]]
    ik_frames: tuple[str, ...]
    capsules: tuple[Capsule, ...] = ()
    collision_pairs: tuple[tuple[str, str], ...] = ()  # link pairs checked for self-collision
    distance_maps: tuple[DistanceMapSpec, ...] = ()  # pairs measured by a table, not capsules
    moveit: MoveItDescription = field(default_factory=MoveItDescription)
    source: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def dof(self) -> int:
        return len(self.joint_names)

    @property
    def frame_names(self) -> tuple[str, ...]:
        return self.chain_links + tuple(self.fixed_frames)

    def capsule_pairs(self) -> tuple[np.ndarray, tuple[tuple[str, str], ...]]:
        """The checked capsule pairs: indices into ``capsules`` (P, 2) int64 and their link
        names, in the order every distance implementation reports them; link pairs measured by a
        distance map are left out (their columns follow, one per map)."""
        mapped = {frozenset((m.link, link)) for m in self.distance_maps for link in m.links}
        pairs, names = [], []
        for link_a, link_b in self.collision_pairs:
            if frozenset((link_a, link_b)) in mapped:
                continue
            for i, ca in enumerate(self.capsules):
                for j, cb in enumerate(self.capsules):
                    if ca.link == link_a and cb.link == link_b:
                        pairs.append((i, j))
                        names.append((link_a, link_b))
        return np.array(pairs, dtype=np.int64).reshape(-1, 2), tuple(names)

    def frame(self, name: str) -> tuple[int, np.ndarray]:
        """(chain index, 4x4 offset) of any known frame; the offset is identity on the chain."""
        if name in self.chain_links:
            return self.chain_links.index(name), np.eye(4)
        if name in self.fixed_frames:
            return self.fixed_frames[name]
        raise UnknownFrameError(
            f"unknown frame {name!r}; known frames: {', '.join(self.frame_names)}"
        )


def rpy_to_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """URDF fixed-axis roll-pitch-yaw [rad] -> 3x3 rotation Rz(yaw) Ry(pitch) Rx(roll)."""
    cr, sr, cp, sp, cy, sy = (
        math.cos(roll),
        math.sin(roll),
        math.cos(pitch),
        math.sin(pitch),
        math.cos(yaw),
        math.sin(yaw),
    )
    return np.array(
        [
            [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
            [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
            [-sp, cp * sr, cp * cr],
        ]
    )


def _floats(text: str | None, n: int, default: float, what: str) -> np.ndarray:
    if text is None:
        return np.full(n, default, dtype=float)
    try:
        values = np.array([float(v) for v in text.split()], dtype=float)
    except ValueError as exc:
        raise ConfigError(f"{what}: cannot read numbers from {text!r}") from exc
    if values.shape != (n,):
        raise ConfigError(f"{what}: expected {n} numbers, got {text!r}")
    return values


def parse_urdf(text: str, source: str = "<urdf>") -> dict[str, UrdfJoint]:
    """All joints of a URDF document by name."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ConfigError(f"{source}: not valid XML ({exc})") from exc
    joints: dict[str, UrdfJoint] = {}
    for el in root.iter("joint"):
        name = el.get("name", "")
        parent, child, origin_el = el.find("parent"), el.find("child"), el.find("origin")
        if parent is None or child is None:
            raise ConfigError(f"{source}: joint {name!r} lacks parent or child")
        origin = np.eye(4)
        if origin_el is not None:
            origin[:3, :3] = rpy_to_matrix(*_floats(origin_el.get("rpy"), 3, 0.0, f"{name} rpy"))
            origin[:3, 3] = _floats(origin_el.get("xyz"), 3, 0.0, f"{name} xyz")
        axis_el = el.find("axis")
        axis = _floats(axis_el.get("xyz") if axis_el is not None else None, 3, 0.0, f"{name} axis")
        if el.get("type") in ("revolute", "prismatic", "continuous"):
            if axis_el is None:
                axis = np.array([1.0, 0.0, 0.0])  # URDF default
            norm = np.linalg.norm(axis)
            if norm == 0:
                raise ConfigError(f"{source}: joint {name!r} has a zero axis")
            axis = axis / norm
        limit = el.find("limit")
        lower = float(limit.get("lower", "-inf")) if limit is not None else -math.inf
        upper = float(limit.get("upper", "inf")) if limit is not None else math.inf
        joints[name] = UrdfJoint(
            name,
            el.get("type", ""),
            parent.get("link", ""),
            child.get("link", ""),
            origin,
            axis,
            lower,
            upper,
        )
    return joints


def _chain(joints: dict[str, UrdfJoint], names: list[str], base: str, source: str):
    links = [base]
    for name in names:
        if name not in joints:
            raise ConfigError(f"{source}: joint {name!r} is not in the URDF")
        j = joints[name]
        if j.type != "revolute":
            raise ConfigError(
                f"{source}: joint {name!r} is {j.type!r}; only revolute is supported"
            )
        if j.parent != links[-1]:
            raise ConfigError(
                f"{source}: joint {name!r} hangs from {j.parent!r}, not {links[-1]!r}"
            )
        if not (math.isfinite(j.lower) and math.isfinite(j.upper) and j.lower < j.upper):
            raise ConfigError(f"{source}: joint {name!r} needs finite limits lower < upper")
        links.append(j.child)
    return links


def _fixed_frames(joints: dict[str, UrdfJoint], chain_links: list[str]):
    """Links reachable from the chain through fixed joints only, with their offsets."""
    frames: dict[str, tuple[int, np.ndarray]] = {}
    known = {link: (i, np.eye(4)) for i, link in enumerate(chain_links)}
    grew = True
    while grew:
        grew = False
        for j in joints.values():
            if j.type == "fixed" and j.parent in known and j.child not in known:
                index, offset = known[j.parent]
                known[j.child] = frames[j.child] = (index, offset @ j.origin)
                grew = True
    return frames


def _vec3(value, what: str) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if arr.shape != (3,) or not np.all(np.isfinite(arr)):
        raise ConfigError(f"{what}: expected 3 finite numbers, got {value!r}")
    return arr


def _capsules(section: dict, frames: set[str], source: str):
    capsules = []
    for i, c in enumerate(section.get("capsules", [])):
        where = f"{source}: collision.capsules[{i}]"
        if c.get("link") not in frames:
            raise ConfigError(f"{where}.link: unknown link {c.get('link')!r}")
        radius = float(c.get("radius", -1))
        if not radius > 0:
            raise ConfigError(f"{where}.radius: must be > 0, got {c.get('radius')!r}")
        capsules.append(
            Capsule(
                c["link"], _vec3(c.get("a"), f"{where}.a"), _vec3(c.get("b"), f"{where}.b"), radius
            )
        )
    links = sorted({c.link for c in capsules}, key=[c.link for c in capsules].index)
    disabled = set()
    for i, pair in enumerate(section.get("disabled_pairs", [])):
        if len(pair) != 2 or any(p not in frames for p in pair):
            raise ConfigError(f"{source}: collision.disabled_pairs[{i}]: bad pair {pair!r}")
        disabled.add(frozenset(pair))
    pairs = tuple(
        (a, b)
        for i, a in enumerate(links)
        for b in links[i + 1 :]
        if frozenset((a, b)) not in disabled
    )
    return tuple(capsules), pairs


def _distance_maps(
    section: dict, names: list[str], chain_links: list[str], fixed: dict, pairs, source: str
) -> tuple[DistanceMapSpec, ...]:
    """Check each map: its joints are consecutive and decide the links' relative pose alone."""

    def chain_index(link: str) -> int:
        return chain_links.index(link) if link in chain_links else fixed[link][0]

    maps = []
    for i, m in enumerate(section.get("distance_maps", []) or []):
        where = f"{source}: collision.distance_maps[{i}]"
        for key in ("file", "link", "links", "joints"):
            if key not in m:
                raise ConfigError(f"{where}.{key} is missing")
        joints = list(m["joints"])
        if len(joints) != 2 or any(j not in names for j in joints):
            raise ConfigError(f"{where}.joints: expected two of {names}, got {joints!r}")
        j0, j1 = names.index(joints[0]), names.index(joints[1])
        links = tuple(m["links"])
        known = set(chain_links) | set(fixed)
        if m["link"] not in known or any(link not in known for link in links):
            raise ConfigError(f"{where}: unknown link in {[m['link'], *links]!r}")
        # joint k moves chain frame k + 1: the static link must sit on frame j0, the moving
        # links on frame j1 + 1, with j1 = j0 + 1
        if (
            j1 != j0 + 1
            or chain_index(m["link"]) != j0
            or any(chain_index(link) != j1 + 1 for link in links)
        ):
            raise ConfigError(
                f"{where}: the pose of {links} relative to {m['link']!r} is not "
                f"decided by {joints} alone"
            )
        for link in links:
            if (m["link"], link) not in pairs and (link, m["link"]) not in pairs:
                raise ConfigError(f"{where}: ({m['link']}, {link}) is not a checked pair")
        path = resolve(m["file"])
        if not path.is_file():
            raise ConfigError(f"{where}.file: {path} not found")
        maps.append(DistanceMapSpec(m["link"], links, (j0, j1), path))
    return tuple(maps)


def _moveit(
    section,
    names: list[str],
    lower: np.ndarray,
    upper: np.ndarray,
    ik_frames: tuple[str, ...],
    source: str,
) -> MoveItDescription:
    """The ``moveit`` section, checked against the chain: a ready state within the limits,
    aliases whose tips the solver takes, other joints that are not the group's."""
    moveit = build(MoveItDescription, section, f"{source}: moveit.")
    ready = moveit.ready_state or (0.0,) * len(names)
    if len(ready) != len(names):
        raise ConfigError(
            f"{source}: moveit.ready_state: expected {len(names)} joint values, got {len(ready)}"
        )
    if not np.all((lower <= ready) & (ready <= upper)):
        raise ConfigError(f"{source}: moveit.ready_state: outside the joint limits")
    for group, tip in moveit.group_aliases.items():
        if tip not in ik_frames:
            raise ConfigError(
                f"{source}: moveit.group_aliases.{group}: {tip!r} is not one of robot.ik_frames"
            )
    shared = set(moveit.other_joints) & set(names)
    if shared:
        raise ConfigError(
            f"{source}: moveit.other_joints: {', '.join(sorted(shared))} are joints of the group"
        )
    return MoveItDescription(
        tuple(map(float, ready)),
        moveit.other_joints,
        moveit.virtual_joint,
        dict(moveit.group_aliases),
        moveit.groups_without_ik,
    )


def load_robot_model(path: str | Path | None = None) -> RobotModel:
    """Load the robot YAML (default ``config/panda_robot.yaml``) and the URDF it names."""
    path = config_path(DEFAULT_ROBOT_CONFIG) if path is None else resolve(path)
    cfg = read_yaml(path, "robot config")
    source = str(path)
    if not isinstance(cfg, dict) or not isinstance(cfg.get("robot"), dict):
        raise ConfigError(f"{source}: missing the 'robot' section")
    robot = cfg["robot"]
    for key in ("urdf", "group_name", "base_frame", "tip_frame", "joint_names"):
        if key not in robot:
            raise ConfigError(f"{source}: robot.{key} is missing")
    urdf_path = resolve(robot["urdf"])
    try:
        urdf_text = urdf_path.read_text()
    except OSError as exc:
        raise ConfigError(f"{source}: robot.urdf {urdf_path}: {exc.strerror}") from exc
    joints = parse_urdf(urdf_text, str(urdf_path))
    names = list(robot["joint_names"])
    chain_links = _chain(joints, names, robot["base_frame"], str(urdf_path))
    fixed = _fixed_frames(joints, chain_links)
    frames = set(chain_links) | set(fixed)
    for key in ("tip_frame",):
        if robot[key] not in frames:
            raise ConfigError(f"{source}: robot.{key} {robot[key]!r} is not a frame of the chain")
    ik_frames = tuple(robot.get("ik_frames", [robot["tip_frame"]]))
    for name in ik_frames:
        if name not in frames:
            raise ConfigError(f"{source}: robot.ik_frames: {name!r} is not a frame of the chain")
    collision = cfg.get("collision", {}) or {}
    capsules, pairs = _capsules(collision, frames, source)
    maps = _distance_maps(collision, names, chain_links, fixed, pairs, source)
    lower = np.array([joints[n].lower for n in names])
    upper = np.array([joints[n].upper for n in names])
    return RobotModel(
        name=ET.fromstring(urdf_text).get("name", ""),
        group_name=robot["group_name"],
        base_frame=robot["base_frame"],
        tip_frame=robot["tip_frame"],
        joint_names=tuple(names),
        chain_links=tuple(chain_links),
        joint_origins=np.stack([joints[n].origin for n in names]),
        joint_axes=np.stack([joints[n].axis for n in names]),
        lower=lower,
        upper=upper,
        fixed_frames=fixed,
        ik_frames=ik_frames,
        capsules=capsules,
        collision_pairs=pairs,
        distance_maps=maps,
        moveit=_moveit(cfg.get("moveit"), names, lower, upper, ik_frames, source),
        source=source,
        extra={k: v for k, v in cfg.items() if k not in ("robot", "collision", "moveit")},
    )
