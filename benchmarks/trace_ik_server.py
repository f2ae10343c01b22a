"""Where the time of one GetPositionIK round trip goes: client, transport, rclpy and the handler.

    .venv/bin/python benchmarks/trace_ik_server.py [--goals 500] [--model auto]

Starts the IK server (config/ik_server.yaml, ``model_path`` from ``--model``) in a subprocess whose
rclpy service take, callback, send_response and the handler's steps are wrapped with timers, then
sends sequential requests from an rclpy client in this process and prints the median and mean of
each phase. Both processes stamp with ``time.perf_counter`` (CLOCK_MONOTONIC on Linux, shared by
all processes), so the phases between them line up. The wrapping reaches into rclpy's executor
(``Executor._take_service``, ``Service.send_response``, rclpy 9 / Kilted); it costs about a
microsecond a phase. Run on an otherwise idle machine: each phase moves with the load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DOMAIN = str(150 + (os.getpid() + 37) % 80)
SERVICE = "/trace/compute_ik"
# handler steps timed inside the callback: (module attribute path, label)
STEPS = [
    ("ik_server_node.parse_ik_request", "parse request"),
    ("ik_server_node.IKSolver.solve", "solver"),
    ("ik_batcher.GoalBatcher.solve_many", "batcher (incl. solver)"),
    ("ik_server_node.judge_answer", "judge answer"),
    ("ik_server_node.IKServer._publish_solution", "fill solution, publish"),
]


def _wrap(owner, name: str, record) -> None:
    original = getattr(owner, name)

    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            record(t0, time.perf_counter())

    setattr(owner, name, timed)


def server(out: str, ros_args: list[str]) -> None:
    """The IK node (``ros_args``: its command line after ``--ros-args``) with timers around
    rclpy's take and send and the handler's steps."""
    import rclpy.executors
    import rclpy.service

    from dtd_ik.ros import batching as ik_batcher
    from dtd_ik.ros import server as ik_server_node

    events: dict[str, list[tuple[float, float]]] = {}

    def recorder(label: str):
        return lambda t0, t1: events.setdefault(label, []).append((t0, t1))

    _wrap(rclpy.executors.Executor, "_take_service", recorder("take"))
    _wrap(rclpy.service.Service, "send_response", recorder("send"))
    _wrap(ik_server_node.IKServer, "_on_ik", recorder("callback"))
    modules = {"ik_server_node": ik_server_node, "ik_batcher": ik_batcher}
    for path, label in STEPS:
        *owner_path, name = path.split(".")
        owner = modules[owner_path[0]]
        for part in owner_path[1:]:
            owner = getattr(owner, part)
        _wrap(owner, name, recorder(label))
    try:
        ik_server_node.main(["ik_server", *ros_args])
    finally:
        Path(out).write_text(json.dumps(events))


def client(goals: int) -> list[tuple[float, float, float]]:
    """(before call_async, after call_async, answer in hand) per sequential request."""
    import rclpy
    from moveit_msgs.srv import GetPositionIK
    from rclpy.executors import SingleThreadedExecutor

    from dtd_ik.ros.client import make_request, reachable_goals
    from dtd_ik.ros.qos import CLIENT_QOS

    requests = [make_request(p, q) for _, p, q in reachable_goals(goals, seed=2027)]
    rclpy.init()
    node = rclpy.create_node("trace_client")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    ik = node.create_client(GetPositionIK, SERVICE, qos_profile=CLIENT_QOS)
    if not ik.wait_for_service(timeout_sec=60):
        raise SystemExit("the IK server did not come up")
    for req in requests[:20]:  # warm-up: discovery, first allocations
        executor.spin_until_future_complete(ik.call_async(req), timeout_sec=10)
    stamps = []
    for req in requests:
        t0 = time.perf_counter()
        future = ik.call_async(req)
        t1 = time.perf_counter()
        executor.spin_until_future_complete(future, timeout_sec=10)
        if future.result() is None:
            raise SystemExit("a request was not answered within 10 s")
        stamps.append((t0, t1, time.perf_counter()))
    node.destroy_node()
    rclpy.shutdown()
    return stamps


def report(stamps, events) -> None:
    n = len(stamps)
    take, callback, send = (np.array(events[k][-n:]) for k in ("take", "callback", "send"))
    c = np.array(stamps)
    rows = [
        ("client: call_async (serialise, write)", c[:, 1] - c[:, 0]),
        ("client written -> server take starts", take[:, 0] - c[:, 1]),
        ("server: rclpy take (deserialise)", take[:, 1] - take[:, 0]),
        ("server: take -> callback", callback[:, 0] - take[:, 1]),
        ("server: callback (the handler)", callback[:, 1] - callback[:, 0]),
        ("server: send_response (serialise, write)", send[:, 1] - send[:, 0]),
        ("server sent -> client has the answer", c[:, 2] - send[:, 1]),
        ("round trip", c[:, 2] - c[:, 0]),
    ]
    print(f"{'phase':44s}{'median [us]':>13s}{'mean [us]':>11s}")
    for label, dt in rows:
        print(f"{label:44s}{np.median(dt) * 1e6:13.1f}{dt.mean() * 1e6:11.1f}")
    print("inside the callback:")
    for _, label in STEPS:
        dt = np.diff(np.array(events[label][-n:]), axis=1)[:, 0]
        print(f"  {label:42s}{np.median(dt) * 1e6:13.1f}{dt.mean() * 1e6:11.1f}")


def main() -> None:
    from dtd_ik.ros.server_process import running_ik_server

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--goals", type=int, default=500, help="sequential requests timed")
    parser.add_argument("--model", default="auto", help="model_path of the server")
    parser.add_argument("--server", help=argparse.SUPPRESS)  # internal: the event file
    args, ros_args = parser.parse_known_args()
    if args.server:
        server(args.server, ros_args)
        return
    os.environ.update(ROS_DOMAIN_ID=DOMAIN, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    with tempfile.TemporaryDirectory(prefix="trace_ik_") as tmp:
        out = Path(tmp) / "events.json"
        # the node stops cleanly on SIGINT at the end of the block: the events are written
        with running_ik_server(
            f"model_path:={args.model}",
            namespace="/trace",
            executable=[sys.executable, __file__, "--server", str(out)],
        ):
            stamps = client(args.goals)
        print(
            f"trace_ik_server: {args.goals} sequential requests, model {args.model}, "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        report(stamps, json.loads(out.read_text()))


if __name__ == "__main__":
    main()
