"""The IK node's parameters: names, defaults, types, ranges and descriptions, declared once.

:class:`ServerParameters` is the one source: the node declares its ROS parameters from its fields
(:func:`parameter_table`), checks every set of values by building it
(:func:`dtd_ik.config_files.build`, the loader of every dtd_ik config), and
config/ik_server.yaml restates these defaults for users to edit (test/test_launch.py checks that
they agree). Units: m, rad, s. No rclpy here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from dtd_ik.config_files import build, setting
from dtd_ik.robot import COLLISION_MARGIN, RobotModel

NODE_NAME = "dtd_ik_server"


def parameter(default: Any, description: str, *, read_only: bool = True, **bounds: Any) -> Any:
    """A field of :class:`ServerParameters`: its default, description, whether it may change at
    run time, and its range (``gt``/``ge``/``le``/``lt`` as in :func:`setting`)."""
    return setting(
        default, metadata={"description": description, "read_only": read_only}, **bounds
    )


@dataclass(frozen=True)
class ServerParameters:
    """Every parameter of the node. Empty robot fields (joint_names, base_frame, tip_link,
    ik_links) stand for the robot description's value (config/panda_robot.yaml)."""

    model_path: str = parameter(
        "auto",
        "TorchScript IK network: 'auto' = the first models/*.pt shipped with the package "
        "(none shipped: no network), '' or 'none' = refinement only, else a path (relative paths "
        "are read from the package share folder)",
    )
    device: str = parameter("cpu", "torch device of the network")
    group_name: str = parameter("panda_arm", "the MoveIt planning group served")
    joint_names: tuple[str, ...] = parameter(
        (), "joints of the group in solver order (must match the robot description)"
    )
    base_frame: str = parameter("", "the robot's base frame (must match the robot description)")
    model_frame: str = parameter(
        "world", "MoveIt's model frame, fixed to base_frame by world_to_base"
    )
    world_to_base: tuple[float, ...] = parameter(
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0),
        "pose of base_frame in model_frame: [x, y, z, qx, qy, qz, qw]",
    )
    tip_link: str = parameter("", "the group's tip, used for an empty ik_link_name")
    ik_links: tuple[str, ...] = parameter(
        (), "links the solver takes as IK targets (a subset of the robot description's ik_frames)"
    )
    position_tolerance: float = parameter(
        1e-4, "largest accepted position error [m]", read_only=False, gt=0
    )
    orientation_tolerance: float = parameter(
        1e-3, "largest accepted orientation error [rad]", read_only=False, gt=0
    )
    collision_padding: float = parameter(
        0.0,
        "move_group's padding: with avoid_collisions an answer must keep a mesh distance "
        "above this from the robot and the world [m] (0: no contact)",
        read_only=False,
        ge=0,
    )
    preferred_clearance: float = parameter(
        COLLISION_MARGIN,
        "clearance [m] the solver prefers among answers when its attempts "
        "and time allow; never a reason to refuse",
        read_only=False,
        ge=0,
    )
    required_clearance: float = parameter(
        0.0,
        "answers with less mesh clearance [m] are refused when avoid_collisions "
        "(0: MoveIt's rule, no contact is enough)",
        read_only=False,
        ge=0,
    )
    default_timeout: float = parameter(
        0.05, "IK time budget when a request's timeout is zero [s]", read_only=False, gt=0
    )
    max_timeout: float = parameter(5.0, "cap on a request's timeout [s]", read_only=False, gt=0)
    max_attempts: int = parameter(
        64, "seeds tried per goal (caller, network, perturbed, random)", ge=1
    )
    max_batch: int = parameter(256, "most goals solved in one solver call", read_only=False, ge=1)
    round_time: float = parameter(
        0.02,
        "longest solver call while other goals wait [s]: goals cut short go on in the next "
        "call, with the requests that arrived meanwhile",
        read_only=False,
        gt=0,
    )
    reply_copies: tuple[float, ...] = parameter(
        (0.05, 0.3),
        "delays after each IK answer at which it is sent again [s] (empty or 0: "
        "none), for clients whose default-depth response history dropped it (dtd_ik.ros.replies)",
    )
    executor_threads: int = parameter(
        1,
        "executor threads: 1 (or less) = single-threaded, lowest latency (requests that arrive "
        "during a solve are drained and batched); > 1 = requests also run in parallel threads",
    )
    solution_topic: str = parameter("~/solution", "sensor_msgs/JointState of every solution")
    margin_topic: str = parameter(
        "~/collision_margin",
        "std_msgs/Float64 of every solution: its smallest mesh distance "
        "over self and world pairs [m]",
    )
    collision_object_topic: str = parameter(
        "collision_object",
        "moveit_msgs/CollisionObject updates of the world (as move_group "
        "subscribes to them; empty: not subscribed)",
    )
    world_topic: str = parameter(
        "~/world_objects",
        "std_msgs/String listing the world objects, latched (transient "
        "local), republished on every change",
    )
    joint_state_topic: str = parameter(
        "",
        "current robot state to seed from when a request gives none (e.g. /joint_states; "
        "empty: not subscribed)",
    )
    diagnostics_period: float = parameter(
        1.0, "seconds between /diagnostics messages (0 or less: none)"
    )

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> ServerParameters:
        """The parameters from name -> value (ROS gives lists for arrays); ConfigError naming
        the parameter for an unknown name, a value of the wrong type or out of range."""
        return build(cls, values, "parameter ")


#: Collision options handed to the solver (SolverConfig fields of the same names).
SOLVER_COLLISION_OPTIONS = ("collision_padding", "preferred_clearance", "required_clearance")

#: Parameters that no longer exist -> what to use instead. They are declared untyped and
#: unset so that a parameter file or ``ros2 param set`` naming them is refused with this
#: sentence (rclpy would silently ignore an undeclared name). ``collision_margin`` was a
#: capsule distance required of every answer; reading it as a mesh distance would silently
#: change what an old configuration means.
REMOVED_PARAMETERS = {
    "collision_margin": "the parameter collision_margin (a capsule distance) was removed: "
    "use required_clearance [m] to refuse answers with less mesh clearance, "
    "preferred_clearance [m] for the clearance the solver prefers, or "
    "collision_padding [m] for move_group's padding",
}


def solver_targets(params: ServerParameters) -> dict[str, float]:
    """Keyword arguments for ``IKSolver.set_targets``/``load``: the tolerances and the
    collision options, so that the solver refines to what the node accepts."""
    targets = {
        "position_tolerance": params.position_tolerance,
        "orientation_tolerance": params.orientation_tolerance,
    }
    targets.update({name: getattr(params, name) for name in SOLVER_COLLISION_OPTIONS})
    return targets


class Declaration(NamedTuple):
    """One ROS parameter as the node declares it."""

    name: str
    default: Any  # bool, int, float, str or a list of one of them (rclpy infers the type)
    description: str
    read_only: bool


def parameter_table(robot: RobotModel) -> list[Declaration]:
    """Every parameter with its default, the empty robot fields filled from ``robot`` (rclpy
    types a parameter by its default, so an empty list would not do)."""
    from_robot = {
        "joint_names": list(robot.joint_names),
        "base_frame": robot.base_frame,
        "tip_link": robot.tip_frame,
        "ik_links": list(robot.ik_frames),
    }
    table = []
    for f in dataclasses.fields(ServerParameters):
        default = from_robot.get(f.name, f.default)
        if isinstance(default, tuple):
            default = list(default)
        table.append(
            Declaration(f.name, default, f.metadata["description"], f.metadata["read_only"])
        )
    return table


__all__ = [
    "NODE_NAME",
    "REMOVED_PARAMETERS",
    "SOLVER_COLLISION_OPTIONS",
    "Declaration",
    "ServerParameters",
    "parameter_table",
    "solver_targets",
]
