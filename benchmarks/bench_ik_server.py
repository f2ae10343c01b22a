"""Round-trip latency of GetPositionIK through rclpy + Fast DDS on loopback, beside the solver's
in-process time on the same goals, so that the ROS overhead is visible.

    .venv/bin/python benchmarks/bench_ik_server.py [--goals 1000] [--clients 8] [--model none]

1. in-process: ``IKSolver.solve`` on one goal at a time (what the server calls per request);
2. one client: sequential GetPositionIK calls to a server in another process;
3. N clients (separate processes) calling at once: throughput and latency percentiles.
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
    from dtd_ik.ros_conversions import error_name as name

    return name(val)


def percentiles(seconds) -> str:
    ms = np.asarray(seconds) * 1e3
    return (f"p50 {np.percentile(ms, 50):6.3f} ms  p99 {np.percentile(ms, 99):6.3f} ms  "
            f"max {ms.max():7.3f} ms")


def goals(n: int, seed: int):
    from dtd_ik.ik_client import reachable_goals

    return [(p, q) for _, p, q in reachable_goals(n, seed=seed)]


def in_process(model: str, targets) -> tuple[np.ndarray, float]:
    from dtd_ik.ik_server_node import resolve_model_path
    from dtd_ik.solver import IKSolver

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

    from dtd_ik.ik_client import make_request
    from dtd_ik.ik_server_node import SERVICE_QOS

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
    latencies, codes = [], {}
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
        if code == MoveItErrorCodes.SUCCESS:
            latencies.append(dt)
    end = time.time()
    print(json.dumps({"latencies": latencies, "codes": codes, "start": start, "end": end}),
          flush=True)
    node.destroy_node()
    rclpy.shutdown()


def run_clients(n_clients: int, count: int, env: dict) -> list[dict]:
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", str(count), str(1000 + i)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
             for i in range(n_clients)]
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--goals", type=int, default=1000, help="calls per measurement")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client processes")
    parser.add_argument("--model", default="none",
                        help="model_path for the server (auto, none, path)")
    parser.add_argument("--executor-threads", type=int, default=1,
                        help="server executor threads (1: single-threaded, the default)")
    parser.add_argument("--max-batch", type=int, default=256,
                        help="server max_batch (1: no draining of waiting requests)")
    parser.add_argument("--worker", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    service = "/bench/compute_ik"
    if args.worker:
        worker(args.worker[0], args.worker[1], service)
        return
    env = {**os.environ, "ROS_DOMAIN_ID": DOMAIN, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    os.environ.update(env)

    targets = goals(args.goals, seed=1000)
    t_solver, rate = in_process(args.model, targets)
    print(f"goals: {args.goals} reachable panda_hand poses (capsule margin >= 10 mm), "
          f"model: {args.model}, server executor threads: {args.executor_threads}, "
          f"max_batch: {args.max_batch}, "
          f"cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    print(f"solver in-process, 1 goal/call     {percentiles(t_solver)}  success {rate:.4f}")

    server = subprocess.Popen(
        [str(Path(sys.prefix) / "bin" / "ik_server"), "--ros-args", "-r", "__ns:=/bench",
         "--params-file", str(ROOT / "config" / "ik_server.yaml"),
         "-p", f"model_path:={args.model}",
         "-p", "diagnostics_period:=0.0", "-p", f"executor_threads:={args.executor_threads}",
         "-p", f"max_batch:={args.max_batch}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        (single,) = run_clients(1, args.goals, env)
        ok = sum(v for k, v in single["codes"].items() if k == "1")
        print(f"ROS round trip, 1 client           {percentiles(single['latencies'])}  "
              f"success {ok / args.goals:.4f}")
        overhead = np.median(single["latencies"]) - np.median(t_solver)
        print(f"  median ROS overhead (round trip - solver): {overhead * 1e3:.3f} ms")
        per_client = max(args.goals // args.clients, 50)
        many = run_clients(args.clients, per_client, env)
        lat = np.concatenate([m["latencies"] for m in many])
        calls = sum(sum(m["codes"].values()) for m in many)
        ok = sum(m["codes"].get("1", 0) for m in many)
        span = max(m["end"] for m in many) - min(m["start"] for m in many)
        print(f"ROS round trip, {args.clients} clients          {percentiles(lat)}  "
              f"success {ok / calls:.4f}")
        print(f"  throughput {calls / span:8.1f} requests/s over {calls} calls in {span:.2f} s")
        codes = {}
        for m in many:
            for k, v in m["codes"].items():
                codes[k] = codes.get(k, 0) + v
        names = {k: (error_name(int(k)) if k.lstrip("-").isdigit() else k) for k in codes}
        print("  answers: " + ", ".join(f"{names[k]} {v}" for k, v in sorted(codes.items())))
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
