"""The ROS 2 layer, a thin layer over :mod:`dtd_ik.solver`.

- :mod:`~dtd_ik.ros.conversions`: message <-> array conversions;
- :mod:`~dtd_ik.ros.requests`: MoveIt request semantics (one :class:`IKQuery` per request);
- :mod:`~dtd_ik.ros.batching`: concurrent goals solved as one solver batch;
- :mod:`~dtd_ik.ros.parameters`: the node's parameters, defaults and ranges;
- :mod:`~dtd_ik.ros.qos`: QoS shared by the server and its clients;
- :mod:`~dtd_ik.ros.server`: the ``ik_server`` node;
- :mod:`~dtd_ik.ros.server_process`: running it in a subprocess (tests, benchmarks, scripts);
- :mod:`~dtd_ik.ros.client`: the ``ik_client`` demo and client helpers.
"""
