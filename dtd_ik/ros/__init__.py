"""The ROS 2 layer, a thin layer over :mod:`dtd_ik.solver`: message conversions
(:mod:`~dtd_ik.ros.conversions`), MoveIt request semantics (:mod:`~dtd_ik.ros.requests`), request
batching (:mod:`~dtd_ik.ros.batching`), the node's parameters (:mod:`~dtd_ik.ros.parameters`),
shared QoS (:mod:`~dtd_ik.ros.qos`), the IK server node (:mod:`~dtd_ik.ros.server`), running it in a
subprocess (:mod:`~dtd_ik.ros.server_process`) and a demo client (:mod:`~dtd_ik.ros.client`)."""
