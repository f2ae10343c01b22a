"""The ROS 2 layer: message conversions, MoveIt request semantics, request batching, the IK
server node and a demo client. A thin layer over :mod:`dtd_ik.solver`."""
