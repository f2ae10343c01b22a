"""dtd_ik: learned inverse kinematics for the Franka Panda, served to MoveIt.

Runtime package: robot description, batched kinematics, capsule self-collision and the loss terms
shared by training and solving. The offline pipeline is ``dtd_ik.training``.
"""
