"""QoS shared by the IK server and its clients (no node code here, so clients need not import
the server)."""

from __future__ import annotations

from rclpy.qos import QoSProfile, ReliabilityPolicy

#: Services keep up to 1000 requests (and responses) instead of rclpy's default 10, so that a
#: burst of calls is queued and batched rather than dropped by the DDS history.
SERVICE_QOS = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)

#: QoS for GetPositionIK clients: the server's (reliable, KEEP_LAST 1000). With rclpy's default
#: (KEEP_LAST 10) answers are lost in the client's response history: its own when more than 10
#: calls are in flight, and, under load, even with one call in flight (the answers to other
#: clients of the service pass through the same history). docs/ik_server.md, "Reliability".
CLIENT_QOS = SERVICE_QOS

__all__ = ["CLIENT_QOS", "SERVICE_QOS"]
