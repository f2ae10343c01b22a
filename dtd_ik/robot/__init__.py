"""The robot description: joints, limits, frames and capsules from the URDF and the robot YAML,
and the numpy spatial maths (quaternions x-y-z-w, transforms) used outside torch."""
from dtd_ik.robot.model import RobotModel, load_robot_model

__all__ = ["RobotModel", "load_robot_model"]
