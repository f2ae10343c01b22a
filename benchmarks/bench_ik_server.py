"""Round-trip latency of GetPositionIK through rclpy + Fast DDS on loopback, beside the solver's
in-process time on the same goals, so that the ROS overhead is visible.

    .venv/bin/python benchmarks/bench_ik_server.py [--goals 1000] [--clients 8] [--model none]

1. in-process: ``IKSolver.solve`` on one goal at a time (what the server calls per request);
2. rclpy's floor: the same client calling an echo server (same service type and QoS, a callback
   that returns the empty response at once): what any rclpy server costs on this machine;
3. one client: sequential GetPositionIK calls to the IK server in another process (default
   parameters, diagnostics on), and the server's own time per request (its handler: parse,
   solve, judge, fill) as its /diagnostics reports it;
4. N clients (separate processes) calling at once: throughput and latency percentiles.
Goals are poses of panda_hand at random configurations with capsule margin >= 10 mm (reachable,
collision-free). Every answer's error code is counted; latencies are for successful calls.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DOMAIN = str(150 + os.getpid() % 80)
LOST_AFTER = 5.0  # [s] a call unanswered this long is counted as lost


def error_name(val: int) -> str:
    from dtd_ik.ros.conversions import error_name as name

    return name(val)


def percentiles(seconds) -> str:
    ms = np.asarray(seconds) * 1e3
    return (
        f"p50 {np.percentile(ms, 50):6.3f} ms  p99 {np.percentile(ms, 99):6.3f} ms  "
        f"max {ms.max():7.3f} ms"
    )


def goals(n: int, seed: int):
    from dtd_ik.ros.client import reachable_goals

    return [(p, q) for _, p, q in reachable_goals(n, seed=seed)]


def in_process(model: str, targets) -> tuple[np.ndarray, float]:
    from dtd_ik.ros.server import resolve_model_path
    from dtd_ik.solver.ik_solver import IKSolver

    path = resolve_model_path(model)
    solver = IKSolver.load(None if path is None else str(path))
    times, solved = [], 0
    for p, q in targets:
        t0 = time.perf_counter()
        result = solver.solve(p[None], q[None], tip="panda_hand", timeout=0.05)
        times.append(time.perf_counter() - t0)
        solved += int(result.success[0])
    return np.array(times), solved / len(targets)


def worker(count: int, seed: int, service: str) -> None:
    """One client process: ``count`` sequential calls; prints JSON to stdout."""
    import rclpy
    from moveit_msgs.msg import MoveItErrorCodes
    from moveit_msgs.srv import GetPositionIK
    from rclpy.executors import SingleThreadedExecutor

    from dtd_ik.ros.client import make_request
    from dtd_ik.ros.qos import SERVICE_QOS

    targets = goals(count, seed)
    requests = [make_request(p, q) for p, q in targets]
    rclpy.init()
    node = rclpy.create_node(f"bench_client_{os.getpid()}")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    client = node.create_client(GetPositionIK, service, qos_profile=SERVICE_QOS)
    if not client.wait_for_service(timeout_sec=60):
        raise SystemExit("no service")
    for req in requests[:20]:  # warm-up (discovery, first allocations)
        executor.spin_until_future_complete(client.call_async(req), timeout_sec=10)
    print("ready", flush=True)
    sys.stdin.readline()  # start signal: all clients begin together
    latencies, answered, codes = [], [], {}
    start = time.time()
    for req in requests:
        t0 = time.perf_counter()
        future = client.call_async(req)
        executor.spin_until_future_complete(future, timeout_sec=LOST_AFTER)
        dt = time.perf_counter() - t0
        res = future.result()
        if res is None:  # never answered: count it, and let the client forget it
            client.remove_pending_request(future)
        code = res.error_code.val if res is not None else "lost"
        codes[code] = codes.get(code, 0) + 1
        if res is not None:
            answered.append(dt)
        if code == MoveItErrorCodes.SUCCESS:
            latencies.append(dt)
    end = time.time()
    print(
        json.dumps(
            {
                "latencies": latencies,
                "answered": answered,
                "codes": codes,
                "start": start,
                "end": end,
            }
        ),
        flush=True,
    )
    node.destroy_node()
    rclpy.shutdown()


def echo_server(service: str) -> None:
    """rclpy's floor: a GetPositionIK server whose callback returns the empty response."""
    import rclpy
    from moveit_msgs.srv import GetPositionIK
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    from dtd_ik.ros.qos import SERVICE_QOS

    rclpy.init()
    node = rclpy.create_node("bench_echo_server")
    node.create_service(
        GetPositionIK, service, lambda request, response: response, qos_profile=SERVICE_QOS
    )
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


def server_handler_times(timeout: float = 5.0) -> tuple[float, float] | None:
    """(p50, p99) [ms] of the IK server's handler over its recent requests, from /diagnostics."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray

    rclpy.init()
    node = rclpy.create_node("bench_diagnostics_reader")
    found = []

    def on_message(msg: DiagnosticArray) -> None:
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            if "latency_p50_ms" in values and status.name.startswith("dtd_ik_server"):
                found.append((float(values["latency_p50_ms"]), float(values["latency_p99_ms"])))

    node.create_subscription(DiagnosticArray, "/diagnostics", on_message, 10)
    end = time.monotonic() + timeout
    while not found and time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.1)
    node.destroy_node()
    rclpy.shutdown()
    return found[0] if found else None


def run_clients(n_clients: int, count: int, env: dict, service: str) -> list[dict]:
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", str(count), str(1000 + i), service],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(n_clients)
    ]
    for p in procs:
        line = p.stdout.readline().strip()
        if line != "ready":
            raise SystemExit(f"client failed to start: {line!r}")
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    out = [json.loads(p.stdout.readline()) for p in procs]
    for p in procs:
        p.wait(timeout=60)
    return out


def main() -> None:
    from dtd_ik.ros.server_process import running_ik_server

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--goals", type=int, default=1000, help="calls per measurement")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client processes")
    parser.add_argument(
        "--model", default="none", help="model_path for the server (auto, none, path)"
    )
    parser.add_argument(
        "--executor-threads",
        type=int,
        default=1,
        help="server executor threads (1: single-threaded, the default)",
    )
    parser.add_argument(
        "--max-batch",
        type=int,
        default=256,
        help="server max_batch (1: no draining of waiting requests)",
    )
    parser.add_argument(
        "--diagnostics-period",
        type=float,
        default=None,
        help="server diagnostics_period [s] (default: config/ik_server.yaml's; "
        "0 turns /diagnostics off, and the handler time is not read)",
    )
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--echo-server", help=argparse.SUPPRESS)
    args = parser.parse_args()
    service = "/bench/compute_ik"
    if args.worker:
        worker(int(args.worker[0]), int(args.worker[1]), args.worker[2])
        return
    if args.echo_server:
        echo_server(args.echo_server)
        return
    env = {**os.environ, "ROS_DOMAIN_ID": DOMAIN, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    os.environ.update(env)

    targets = goals(args.goals, seed=1000)
    t_solver, rate = in_process(args.model, targets)
    print(
        f"goals: {args.goals} reachable panda_hand poses (capsule margin >= 10 mm), "
        f"model: {args.model}, server executor threads: {args.executor_threads}, "
        f"max_batch: {args.max_batch}, "
        f"cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"solver in-process, 1 goal/call     {percentiles(t_solver)}  success {rate:.4f}")

    echo = subprocess.Popen(
        [sys.executable, __file__, "--echo-server", "/bench/echo_ik"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        (floor,) = run_clients(1, args.goals, env, "/bench/echo_ik")
        print(f"rclpy floor (echo server), 1 client {percentiles(floor['answered'])}")
    finally:
        echo.terminate()
        echo.wait(timeout=20)

    params = [
        f"model_path:={args.model}",
        f"executor_threads:={args.executor_threads}",
        f"max_batch:={args.max_batch}",
    ]
    if args.diagnostics_period is not None:
        params.append(f"diagnostics_period:={args.diagnostics_period}")
    with running_ik_server(*params, namespace="/bench", env=env):
        (single,) = run_clients(1, args.goals, env, service)
        ok = sum(v for k, v in single["codes"].items() if k == "1")
        print(
            f"ROS round trip, 1 client           {percentiles(single['latencies'])}  "
            f"success {ok / args.goals:.4f}"
        )
        overhead = np.median(single["latencies"]) - np.median(t_solver)
        print(f"  median ROS overhead (round trip - solver): {overhead * 1e3:.3f} ms")
        handler = server_handler_times() if args.diagnostics_period != 0 else None
        shown = (
            f"p50 {handler[0]:6.3f} ms  p99 {handler[1]:6.3f} ms"
            if handler
            else "no /diagnostics message"
        )
        print(f"  server handler (its /diagnostics)  {shown}")
        per_client = max(args.goals // args.clients, 50)
        many = run_clients(args.clients, per_client, env, service)
        lat = np.concatenate([m["latencies"] for m in many])
        calls = sum(sum(m["codes"].values()) for m in many)
        ok = sum(m["codes"].get("1", 0) for m in many)
        span = max(m["end"] for m in many) - min(m["start"] for m in many)
        print(
            f"ROS round trip, {args.clients} clients          {percentiles(lat)}  "
            f"success {ok / calls:.4f}"
        )
        print(f"  throughput {calls / span:8.1f} requests/s over {calls} calls in {span:.2f} s")
        codes = {}
        for m in many:
            for k, v in m["codes"].items():
                codes[k] = codes.get(k, 0) + v
        names = {k: (error_name(int(k)) if k.lstrip("-").isdigit() else k) for k in codes}
        print("  answers: " + ", ".join(f"{names[k]} {v}" for k, v in sorted(codes.items())))


if __name__ == "__main__":
    main()
