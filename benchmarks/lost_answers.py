"""Lost answers with MoveIt-style clients: our server beside a trivial one, in one run.

    .venv/bin/python benchmarks/lost_answers.py [--requests 2000] [--clients 8]
        [--kinds ours trivial nobatch] [--lost-after 30] [--json report.json]

For each kind of server, ``--clients`` client PROCESSES, each its own rclpy node with rclpy's
default service QoS (reliable, KEEP_LAST 10: how move_group and most user nodes create their
clients), one call in flight, no warm-up (the first call follows ``wait_for_service``), send
their share of ``--requests`` reachable goals. A call unanswered after ``--lost-after`` [s] is
lost; each loss is printed with its client and that client's call number (0 = the first call),
and the call is sent once more (as ``dtd_ik.ros.client.call_with_retry`` would): an answer to the
second try shows that the server still serves that client and the first answer was lost on the
way.

Kinds: ``ours`` = ``ik_server`` as shipped (config/ik_server.yaml); ``nobatch`` = the same with
``max_batch:=1`` (no draining of waiting requests, one goal per solve); ``nocopies`` = the same
with ``reply_copies:=[0.0]`` (no copies of answers); ``trivial`` = a plain
rclpy GetPositionIK server that answers every request at once with a fixed SUCCESS response. The
server's log is searched for rclpy's "failed to send response (timeout)" warning: rmw_fastrtps
gives up on a response when the client's response reader has not been matched within the
response writer's ``max_blocking_time`` (the discovery race of a first call).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NAMESPACE = "/lost"
SERVICE = f"{NAMESPACE}/compute_ik"
SEND_TIMEOUT_WARNING = "failed to send response (timeout)"
KINDS = ("ours", "trivial", "nobatch", "nocopies")


def trivial_server() -> None:
    """A GetPositionIK server that answers at once with a fixed SUCCESS (prints 'serving ')."""
    import rclpy
    from moveit_msgs.msg import MoveItErrorCodes
    from moveit_msgs.srv import GetPositionIK
    from rclpy.executors import ExternalShutdownException

    def answer(request, response):
        response.error_code.val = MoveItErrorCodes.SUCCESS
        return response

    rclpy.init()
    node = rclpy.create_node("trivial_ik_server", namespace=NAMESPACE)
    node.create_service(GetPositionIK, "compute_ik", answer)
    print("serving compute_ik", flush=True)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


def worker(index: int, count: int, lost_after: float) -> None:
    """One client process: ``count`` sequential calls; prints one JSON line with the call
    numbers that got no answer within ``lost_after`` [s]."""
    import rclpy
    from moveit_msgs.srv import GetPositionIK

    from dtd_ik.ros.client import make_request, reachable_goals

    goals = reachable_goals(count, seed=20_000 + index)
    rclpy.init()
    node = rclpy.create_node(f"lost_answers_client_{index}")
    client = node.create_client(GetPositionIK, SERVICE)  # rclpy's default QoS: depth 10
    if not client.wait_for_service(timeout_sec=120):
        raise SystemExit(f"client {index}: no {SERVICE}")
    print("ready", flush=True)
    sys.stdin.readline()  # all clients start together
    lost, unanswered_again = [], []
    for call, (_, p, quat) in enumerate(goals):
        request = make_request(p, quat)
        for tries in (1, 2):
            future = client.call_async(request)
            rclpy.spin_until_future_complete(node, future, timeout_sec=lost_after)
            if future.done():
                break
            client.remove_pending_request(future)
            (lost if tries == 1 else unanswered_again).append(call)
    print(
        json.dumps(
            {"client": index, "calls": count, "lost": lost, "unanswered_again": unanswered_again}
        ),
        flush=True,
    )
    node.destroy_node()
    rclpy.shutdown()


def start_server(kind: str, env: dict, log: Path):
    """(process, log path) of a server of ``kind``, once it serves."""
    from dtd_ik.ros.server_process import ServerProcess, ik_server_command

    if kind == "trivial":
        cmd = [sys.executable, __file__, "--trivial-server"]
    else:
        params = ["model_path:=none", "diagnostics_period:=0.0"]
        if kind == "nobatch":
            params.append("max_batch:=1")
        if kind == "nocopies":
            params.append("reply_copies:=[0.0]")
        cmd = ik_server_command(*params, namespace=NAMESPACE)
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    server = ServerProcess(proc, log, NAMESPACE)
    server.wait_until_serving(180)
    return server


def run_kind(kind: str, args, env: dict) -> dict:
    shares = [
        args.requests // args.clients + (i < args.requests % args.clients)
        for i in range(args.clients)
    ]
    log = Path(tempfile.mkstemp(prefix=f"lost_answers_{kind}_", suffix=".log")[1])
    server = start_server(kind, env, log)
    clients = []
    try:
        for i, count in enumerate(shares):
            cmd = [
                sys.executable,
                __file__,
                "--worker",
                str(i),
                str(count),
                "--lost-after",
                str(args.lost_after),
            ]
            clients.append(
                subprocess.Popen(
                    cmd,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    env=env,
                    cwd=ROOT,
                )
            )
        for p in clients:
            if p.stdout.readline().strip() != "ready":
                raise SystemExit(f"{kind}: a client failed to start")
        t0 = time.monotonic()
        for p in clients:
            p.stdin.write("go\n")
            p.stdin.flush()
        outputs = [json.loads(p.stdout.readline()) for p in clients]
        duration = time.monotonic() - t0
        for p in clients:
            p.wait(timeout=60)
    finally:
        for p in clients:
            if p.poll() is None:
                p.kill()
        code = server.stop()
    text = log.read_text(errors="replace")
    log.unlink()
    losses = [(o["client"], c) for o in outputs for c in o["lost"]]
    return {
        "kind": kind,
        "requests": sum(shares),
        "clients": args.clients,
        "lost": len(losses),
        "lost_at": losses,
        "first_call_lost": sum(1 for _, c in losses if c == 0),
        "unanswered_again": sum(len(o["unanswered_again"]) for o in outputs),
        "send_timeouts_in_server_log": text.count(SEND_TIMEOUT_WARNING),
        "duration_s": duration,
        "server_exit_code": code,
        "server_tracebacks": text.count("Traceback"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per kind")
    parser.add_argument("--clients", type=int, default=8, help="client processes per kind")
    parser.add_argument(
        "--kinds", nargs="+", choices=KINDS, default=["ours", "trivial", "nobatch"]
    )
    parser.add_argument(
        "--lost-after", type=float, default=30.0, help="[s] a call unanswered this long is lost"
    )
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--worker", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--trivial-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.trivial_server:
        trivial_server()
        return 0
    if args.worker:
        worker(args.worker[0], args.worker[1], args.lost_after)
        return 0
    domain = 150 + os.getpid() % 80  # private DDS domain on this host
    env = {
        **os.environ,
        "ROS_DOMAIN_ID": str(domain),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
    }
    reports = []
    for kind in args.kinds:
        r = run_kind(kind, args, env)
        reports.append(r)
        at = ", ".join(f"client {c} call {n}" for c, n in r["lost_at"]) or "-"
        print(
            f"{kind:8s} {r['requests']} requests from {r['clients']} default-QoS clients in "
            f"{r['duration_s']:.1f} s: lost {r['lost']} (first calls {r['first_call_lost']}; "
            f"at {at}; unanswered when sent again {r['unanswered_again']}); "
            f"'{SEND_TIMEOUT_WARNING}' in the server log "
            f"{r['send_timeouts_in_server_log']} times; server exit {r['server_exit_code']}, "
            f"tracebacks {r['server_tracebacks']}",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(reports, indent=1))
    return 1 if any(r["lost"] for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
