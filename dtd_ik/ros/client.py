"""The ``ik_client`` demo: sends GetPositionIK requests to a running ik_server and prints answers.

    ik_client [--service compute_ik] [--count 5] [--wait 30] [--call-timeout 5]

Goals are poses of panda_hand at random collision-free joint configurations (so they are
reachable), then two requests the server must refuse (an unknown group, a goal out of reach). For
each: the error code, the joint answer, the server's message and the round-trip latency; an
answer not back within --call-timeout is asked for again (call_with_retry, 3 tries).

Also the client-side helpers the benchmarks and tests share: :func:`reachable_goals`,
:func:`make_request` and :func:`call_with_retry` (resend after a timeout: for an answer the
client's response history dropped, or a server that restarted); clients take their QoS from
:mod:`dtd_ik.ros.qos`.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import rclpy
from moveit_msgs.srv import GetPositionIK

from dtd_ik.robot.spatial import matrix_to_quaternion
from dtd_ik.ros.conversions import error_name
from dtd_ik.ros.qos import CLIENT_QOS
from dtd_ik.solver.kernels.batch import CompiledKinematics


def reachable_goals(count: int, seed: int = 7, tip: str = "panda_hand", margin: float = 0.01):
    """(q, position, quaternion xyzw) of ``count`` random configurations with capsule margin
    >= ``margin`` [m], inside the joint limits. FK and margins come from the solver's compiled
    kernels, so the client needs no torch."""
    kinematics = CompiledKinematics()
    robot = kinematics.robot.model
    rng = np.random.default_rng(seed)
    found = []
    while len(found) < count:
        q = rng.uniform(robot.lower, robot.upper, size=(64, robot.dof))
        ok = kinematics.min_distance(q)[0] >= margin
        rotations, positions = kinematics.forward(q, tip)
        for i in np.flatnonzero(ok)[: count - len(found)]:
            found.append((q[i], positions[i], matrix_to_quaternion(rotations[i])))
    return found


def make_request(
    position,
    quaternion,
    group="panda_arm",
    link="panda_hand",
    frame="panda_link0",
    avoid_collisions=True,
) -> GetPositionIK.Request:
    req = GetPositionIK.Request()
    ik = req.ik_request
    ik.group_name, ik.ik_link_name, ik.avoid_collisions = group, link, avoid_collisions
    ik.pose_stamped.header.frame_id = frame
    p, o = ik.pose_stamped.pose.position, ik.pose_stamped.pose.orientation
    p.x, p.y, p.z = (float(v) for v in position)
    o.x, o.y, o.z, o.w = (float(v) for v in quaternion)
    return req


def call_with_retry(
    node,
    client,
    request,
    *,
    timeout: float = 2.0,
    attempts: int = 5,
    wait: float = 30.0,
    executor=None,
):
    """(response, tries): ``request`` sent until answered, at most ``attempts`` times.

    Each try waits ``timeout`` [s] for the answer; an unanswered call is forgotten (a late answer
    to it is dropped) and, before the next try, the service is waited for (up to ``wait`` [s]), as
    after a server restart. IK requests have no side effects, so a resend is safe. Raises
    TimeoutError when no try was answered: a caller never hangs.
    """
    for tries in range(1, attempts + 1):
        future = client.call_async(request)
        rclpy.spin_until_future_complete(node, future, executor=executor, timeout_sec=timeout)
        if future.done() and future.result() is not None:
            return future.result(), tries
        client.remove_pending_request(future)
        future.cancel()
        if tries < attempts:
            client.wait_for_service(timeout_sec=wait)
    raise TimeoutError(f"{client.srv_name}: no answer after {attempts} tries of {timeout:g} s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service", default="compute_ik", help="GetPositionIK service name")
    parser.add_argument("--count", type=int, default=5, help="reachable goals to send")
    parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the server")
    parser.add_argument(
        "--call-timeout",
        type=float,
        default=5.0,
        help="seconds to wait for an answer before asking again (3 tries)",
    )
    args, ros_args = parser.parse_known_args(argv)
    rclpy.init(args=ros_args or None)
    node = rclpy.create_node("dtd_ik_client")
    try:
        client = node.create_client(GetPositionIK, args.service, qos_profile=CLIENT_QOS)
        if not client.wait_for_service(timeout_sec=args.wait):
            print(
                f"ik_client: no {args.service} service after {args.wait:.0f} s; start the "
                "server with scripts/main",
                file=sys.stderr,
            )
            return 1
        requests = [
            (f"reachable goal {i + 1}", make_request(p, quat))
            for i, (_, p, quat) in enumerate(reachable_goals(args.count))
        ]
        requests.append(("unknown group", make_request([0.4, 0, 0.5], [1, 0, 0, 0], group="arm")))
        requests.append(("out of reach", make_request([3.0, 0, 0.5], [1, 0, 0, 0])))
        latencies = []
        for label, req in requests:
            t0 = time.perf_counter()
            try:  # a lost answer is asked for again, not waited out (docs/ik_server.md)
                res, tries = call_with_retry(
                    node, client, req, timeout=args.call_timeout, attempts=3, wait=args.wait
                )
            except TimeoutError as exc:
                print(f"{label:18s} {exc}")
                continue
            dt = time.perf_counter() - t0
            if tries > 1:
                print(f"{label:18s} answered on try {tries}")
            latencies.append(dt)
            code = res.error_code
            q = ", ".join(f"{v:+.4f}" for v in res.solution.joint_state.position[:7])
            print(
                f"{label:18s} {error_name(code.val):24s} {dt * 1e3:7.2f} ms  "
                f"{'q = [' + q + ']' if q else ''}\n{'':18s} {code.message}"
            )
        if latencies:
            lat = np.array(latencies) * 1e3
            print(
                f"round trip over {len(lat)} requests: median {np.median(lat):.2f} ms, "
                f"max {lat.max():.2f} ms"
            )
        return 0
    finally:
        node.destroy_node()
        rclpy.shutdown()


if __name__ == "__main__":
    sys.exit(main())
