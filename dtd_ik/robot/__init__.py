"""The robot description: joints, limits, frames and capsules from the URDF and the robot YAML,
and the numpy spatial maths (quaternions x-y-z-w, transforms) used outside torch."""

from dtd_ik.robot.model import COLLISION_MARGIN, RobotModel, load_robot_model

__all__ = ["COLLISION_MARGIN", "RobotModel", "load_robot_model"]
