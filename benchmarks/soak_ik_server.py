"""Soak of the IK server: many GetPositionIK requests from concurrent client processes over real
Fast DDS, every answer checked; nothing may be lost, duplicated or wrong, and the node's memory
must not grow.

    .venv/bin/python benchmarks/soak_ik_server.py [--requests 10000] [--clients 8] [--in-flight 4]
        [--qos deep|default] [--bad-every 25] [--model none] [--json report.json]

One ``ik_server`` (console script, config/ik_server.yaml) in a subprocess on a private DDS domain,
then ``--clients`` client processes, each sending its share of ``--requests`` with up to
``--in-flight`` calls outstanding. Every request is its own goal: a pose of panda_hand at a random
collision-free configuration, stamped (sec = client, nanosec = index); the node echoes the stamp
in its answer's robot state, so each SUCCESS is matched to its request by the stamp and checked by
forward kinematics against that request's goal. Every ``--bad-every``-th request is a bad one
(unknown group, NaN position, zero quaternion, unknown frame, unknown link, out of reach) that
must get its MoveIt error code.

Counted: lost (no answer within ``--lost-after`` s), duplicated (a stamp answered twice, or the
node counting more requests than were sent), wrong (a SUCCESS off its goal or with another
request's stamp, a bad request with another code); unsolved reachable goals (NO_IK_SOLUTION within
the default 0.05 s budget) are reported, not failures. The node's resident memory (VmRSS) is read
after the clients' warm-up and after the last answer. Printed: latency percentiles of the first
and last 10 % of requests (by send time), throughput, the node's exit code on SIGTERM. Exit
code 1 when anything was lost, duplicated or wrong, the node died, or its RSS grew by
``--rss-limit`` (5 %) or more.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NAMESPACE = "/soak"
SERVICE = f"{NAMESPACE}/compute_ik"
WARM_UP = 20  # sequential calls per client before the measured run
SERVER_LOG_TAIL = 4000  # characters of the node's log kept in a failing report
GOAL_TOLERANCE = (2e-4, 2e-3)  # [m], [rad]: FK of a SUCCESS answer vs its request's goal
BAD_KINDS = (
    "unknown group",
    "nan position",
    "zero quaternion",
    "unknown frame",
    "unknown link",
    "out of reach",
)


def read_rss_kb(pid: int) -> int:
    """Resident set size of process ``pid`` [kB] (VmRSS in /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def percentiles(seconds) -> dict:
    """p50/p90/p99/max [ms] of ``seconds`` (NaN when empty)."""
    ms = np.asarray(seconds, dtype=float) * 1e3
    if ms.size == 0:
        return {k: math.nan for k in ("p50", "p90", "p99", "max")}
    return {
        "p50": float(np.percentile(ms, 50)),
        "p90": float(np.percentile(ms, 90)),
        "p99": float(np.percentile(ms, 99)),
        "max": float(ms.max()),
    }


# ---------------------------------------------------------------------------------------------
# client process


def bad_request(kind: str, position, quaternion):
    """(request, expected MoveItErrorCodes value) for one of BAD_KINDS."""
    from builtin_interfaces.msg import Duration
    from moveit_msgs.msg import MoveItErrorCodes as Codes

    from dtd_ik.ros.client import make_request

    if kind == "unknown group":
        return make_request(position, quaternion, group="arm"), Codes.INVALID_GROUP_NAME
    if kind == "nan position":
        return make_request([math.nan, 0, 0], quaternion), Codes.INVALID_GOAL_CONSTRAINTS
    if kind == "zero quaternion":
        return make_request(position, [0, 0, 0, 0]), Codes.INVALID_GOAL_CONSTRAINTS
    if kind == "unknown frame":
        return make_request(position, quaternion, frame="map"), Codes.FRAME_TRANSFORM_FAILURE
    if kind == "unknown link":
        return make_request(position, quaternion, link="panda_link3"), Codes.INVALID_LINK_NAME
    req = make_request([2.5, 0.0, 0.4], [1, 0, 0, 0])
    req.ik_request.timeout = Duration(sec=0, nanosec=20_000_000)
    return req, Codes.NO_IK_SOLUTION


def worker(
    index: int, count: int, in_flight: int, qos: str, bad_every: int, lost_after: float
) -> None:
    """One client process: ``count`` requests, up to ``in_flight`` outstanding; JSON to stdout."""
    import rclpy
    import torch
    from moveit_msgs.msg import MoveItErrorCodes as Codes
    from moveit_msgs.srv import GetPositionIK
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import qos_profile_services_default

    from dtd_ik.kinematics.forward import Kinematics
    from dtd_ik.ros.client import make_request, reachable_goals
    from dtd_ik.ros.qos import CLIENT_QOS

    goals = reachable_goals(count + WARM_UP, seed=10_000 + index)
    rclpy.init()
    node = rclpy.create_node(f"soak_client_{index}")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    deep = qos == "deep" or (qos == "mixed" and index > 0)
    profile = CLIENT_QOS if deep else qos_profile_services_default
    if qos == "mixed" and index == 0:  # a sequential caller beside busy deep-QoS clients
        in_flight = 1
    client = node.create_client(GetPositionIK, SERVICE, qos_profile=profile)
    if not client.wait_for_service(timeout_sec=120):
        raise SystemExit(f"client {index}: no {SERVICE}")
    for _, p, quat in goals[:WARM_UP]:  # discovery, first allocations
        executor.spin_until_future_complete(
            client.call_async(make_request(p, quat)), timeout_sec=30
        )
    print("ready", flush=True)
    sys.stdin.readline()  # start signal: all clients begin together

    # one row per request: kind ("goal" or a bad kind), expected code (goals: None)
    plan = []
    for i, (_, p, quat) in enumerate(goals[WARM_UP:]):
        if bad_every and i % bad_every == bad_every - 1:
            kind = BAD_KINDS[(i // bad_every) % len(BAD_KINDS)]
            req, code = bad_request(kind, p, quat)
        else:
            kind, req, code = "goal", make_request(p, quat), None
        req.ik_request.pose_stamped.header.stamp.sec = index
        req.ik_request.pose_stamped.header.stamp.nanosec = i
        plan.append((kind, req, code))
    sent = [math.nan] * count  # time.time() of each send
    latency = [math.nan] * count
    answers: list = [None] * count
    pending: dict[int, tuple] = {}  # index -> (future, perf_counter at send)
    lost = 0
    nxt = 0
    while nxt < count or pending:
        while nxt < count and len(pending) < in_flight:
            t0 = time.perf_counter()
            sent[nxt] = time.time()
            pending[nxt] = (client.call_async(plan[nxt][1]), t0)
            nxt += 1
        executor.spin_once(timeout_sec=0.01)
        now = time.perf_counter()
        for i, (future, t0) in list(pending.items()):
            if future.done():
                latency[i] = now - t0
                answers[i] = future.result()
                del pending[i]
            elif now - t0 > lost_after:  # never answered: forget it
                client.remove_pending_request(future)
                del pending[i]
                lost += 1
    # check every answer against its request
    kin = Kinematics()
    rows, stamps = [], {}
    solved_q, solved_goal = [], []
    for i, ((kind, _, code), res) in enumerate(zip(plan, answers)):
        if res is None:
            rows.append((sent[i], None, kind, "lost", False))
            continue
        val = res.error_code.val
        ok = val == code if kind != "goal" else val in (Codes.SUCCESS, Codes.NO_IK_SOLUTION)
        if val == Codes.SUCCESS:
            stamp = res.solution.joint_state.header.stamp
            key = (stamp.sec, stamp.nanosec)
            stamps[key] = stamps.get(key, 0) + 1
            ok = ok and key == (index, i) and len(res.solution.joint_state.position) >= 7
            if ok:
                solved_q.append(list(res.solution.joint_state.position[:7]))
                solved_goal.append(i)
        rows.append((sent[i], latency[i], kind, int(val), ok))
    if solved_q:
        pose = kin.forward(torch.tensor(solved_q, dtype=torch.float64), "panda_hand")
        for j, i in enumerate(solved_goal):
            _, p, quat = goals[WARM_UP + i]
            dp = float(np.linalg.norm(pose.position[j].numpy() - p))
            dot = abs(float(np.dot(pose.quaternion[j].numpy(), quat)))
            dr = 2 * math.acos(min(1.0, dot))
            if not (dp <= GOAL_TOLERANCE[0] and dr <= GOAL_TOLERANCE[1]):
                r = rows[i]
                rows[i] = (r[0], r[1], r[2], r[3], False)
    print(
        json.dumps(
            {
                "rows": rows,
                "lost": lost,
                "duplicated": sum(n - 1 for n in stamps.values() if n > 1),
                "warm_up": WARM_UP,
            }
        ),
        flush=True,
    )
    node.destroy_node()
    rclpy.shutdown()


# ---------------------------------------------------------------------------------------------
# the run


class Diagnostics:
    """Latest /diagnostics values of the node, from a background rclpy thread."""

    def __init__(self, domain: int):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor

        self.context = rclpy.context.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node("soak_monitor", context=self.context)
        self.values: dict[str, str] = {}
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on, 10)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _on(self, msg) -> None:
        for status in msg.status:
            if status.name.startswith("dtd_ik_server"):
                self.values = {kv.key: kv.value for kv in status.values}

    def _spin(self) -> None:
        while self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.1)
            except Exception:  # noqa: BLE001 (shutting down)
                return

    def requests(self) -> int:
        return int(self.values.get("requests", -1))

    def close(self) -> None:
        import rclpy

        rclpy.shutdown(context=self.context)
        self.thread.join(timeout=5)


def start_clients(args, shares: list[int], env: dict) -> list[subprocess.Popen]:
    procs = []
    for i, count in enumerate(shares):
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            str(i),
            str(count),
            "--in-flight",
            str(args.in_flight),
            "--qos",
            args.qos,
            "--bad-every",
            str(args.bad_every),
            "--lost-after",
            str(args.lost_after),
        ]
        procs.append(
            subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT
            )
        )
    return procs


def run(args) -> dict:
    from dtd_ik.ros.server_process import running_ik_server

    domain = 150 + os.getpid() % 80
    env = {
        **os.environ,
        "ROS_DOMAIN_ID": str(domain),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
    }
    os.environ.update(env)
    shares = [
        args.requests // args.clients + (i < args.requests % args.clients)
        for i in range(args.clients)
    ]
    report: dict = {
        "requests": args.requests,
        "clients": args.clients,
        "in_flight": args.in_flight,
        "qos": args.qos,
        "model": args.model,
        "bad_every": args.bad_every,
        "cores": os.cpu_count(),
    }
    with running_ik_server(
        f"model_path:={args.model}", "diagnostics_period:=0.5", namespace=NAMESPACE, env=env
    ) as server:
        monitor = Diagnostics(domain)
        clients = start_clients(args, shares, env)
        try:
            for p in clients:
                line = p.stdout.readline().strip()
                if line != "ready":
                    raise SystemExit(
                        f"a client failed to start ({line!r}); server log:\n"
                        f"{server.log()[-SERVER_LOG_TAIL:]}"
                    )
            time.sleep(1.0)
            report["load_average"] = os.getloadavg()[0]
            rss = [read_rss_kb(server.pid)]
            sampling = threading.Event()

            def sample():
                while not sampling.wait(0.5):
                    if server.alive():
                        rss.append(read_rss_kb(server.pid))
                    else:  # the node died: the clients would wait out every call; stop them
                        for p in clients:
                            p.kill()
                        return

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            for p in clients:
                p.stdin.write("go\n")
                p.stdin.flush()
            outputs = []
            for p in clients:
                line = p.stdout.readline()
                outputs.append(json.loads(line) if line else None)
                p.wait(timeout=120)
            sampling.set()
            sampler.join()
            report["server_alive"] = server.alive()
            if report["server_alive"]:
                time.sleep(1.0)  # one more diagnostics period: the node's request count
                rss.append(read_rss_kb(server.pid))
            report["client_exit_codes"] = [p.returncode for p in clients]
            report.update(summarise(outputs, shares, monitor.requests()))
            report["rss_start_kb"], report["rss_end_kb"] = rss[0], rss[-1]
            report["rss_max_kb"] = max(rss)
            report["rss_growth"] = (rss[-1] - rss[0]) / rss[0]
        finally:
            for p in clients:
                if p.poll() is None:
                    p.kill()
            monitor.close()
            report["server_exit_code"] = server.stop(signal.SIGTERM, timeout=30)
            text = server.log()
            report["server_tracebacks"] = text.count("Traceback")
            if report["server_tracebacks"] or report["server_exit_code"] not in (0, None):
                report["server_log_tail"] = text[-SERVER_LOG_TAIL:]  # what went wrong, kept
    report["failures"] = failures(report, args.rss_limit)
    return report


def summarise(outputs: list, shares: list[int], node_requests: int) -> dict:
    """Counts and latency figures over every client's rows."""
    if any(o is None for o in outputs):
        return {"client_crashed": True, "lost": sum(shares), "duplicated": 0, "wrong": 0}
    rows = [r for o in outputs for r in o["rows"]]  # (t_send, latency, kind, code, ok)
    rows.sort(key=lambda r: r[0])
    sent = len(rows)
    lost = sum(1 for r in rows if r[3] == "lost")
    answered = [r for r in rows if r[3] != "lost"]
    goals = [r for r in answered if r[2] == "goal"]
    solved = [r for r in goals if r[3] == 1]
    tenth = max(1, sent // 10)
    first = [r[1] for r in rows[:tenth] if r[3] != "lost"]
    last = [r[1] for r in rows[-tenth:] if r[3] != "lost"]
    span = max(r[0] + r[1] for r in answered) - rows[0][0] if answered else math.nan
    warm_up = sum(o["warm_up"] for o in outputs)
    node_extra = node_requests - (sent + warm_up) if node_requests >= 0 else 0
    return {
        "client_crashed": False,
        "sent": sent,
        "answered": len(answered),
        "lost": lost,
        "lost_per_client": [sum(1 for r in o["rows"] if r[3] == "lost") for o in outputs],
        "duplicated": sum(o["duplicated"] for o in outputs) + max(node_extra, 0),
        "wrong": sum(1 for r in answered if not r[4]),
        "bad_requests": sum(1 for r in rows if r[2] != "goal"),
        "goals": len(goals),
        "solved": len(solved),
        "unsolved": len(goals) - len(solved),
        "node_requests": node_requests,
        "node_requests_expected": sent + warm_up,
        "latency_first_10pct_ms": percentiles(first),
        "latency_last_10pct_ms": percentiles(last),
        "latency_all_ms": percentiles([r[1] for r in answered]),
        "throughput_per_s": len(answered) / span if span > 0 else math.nan,
        "duration_s": span,
    }


def failures(report: dict, rss_limit: float) -> list[str]:
    out = []
    if report.get("client_crashed") or any(c != 0 for c in report.get("client_exit_codes", [])):
        out.append("a client process failed")
    for key in ("lost", "duplicated", "wrong"):
        if report.get(key, 0):
            out.append(f"{report[key]} {key}")
    if not report.get("server_alive"):
        out.append("the node died")
    if report.get("server_exit_code") not in (0, None) and report.get("server_alive"):
        out.append(f"the node exited with {report['server_exit_code']} on SIGTERM")
    if report.get("server_tracebacks"):
        out.append("a traceback in the node's log")
    if report.get("node_requests", 0) >= 0 and report.get("node_requests") != report.get(
        "node_requests_expected"
    ):
        out.append(
            f"the node counted {report.get('node_requests')} requests, "
            f"{report.get('node_requests_expected')} were sent"
        )
    if not report.get("rss_growth", 0.0) < rss_limit:
        out.append(
            f"RSS grew by {report['rss_growth'] * 100:.1f} % (limit {rss_limit * 100:.0f} %)"
        )
    return out


def print_report(r: dict) -> None:
    def line(p):
        return " ".join(f"{k} {p[k]:7.2f}" for k in ("p50", "p90", "p99", "max")) + " ms"

    print(
        f"soak: {r['requests']} requests from {r['clients']} client processes, "
        f"{r['in_flight']} in flight each, client QoS {r['qos']}, model {r['model']}, "
        f"{r['cores']} cores, load average {r.get('load_average', math.nan):.1f}"
    )
    if r.get("client_crashed", True):
        print("a client crashed: no figures")
    else:
        print(
            f"  sent {r['sent']}, answered {r['answered']}, lost {r['lost']}, "
            f"duplicated {r['duplicated']}, wrong {r['wrong']}; bad requests "
            f"{r['bad_requests']} (each with its code); reachable goals {r['goals']}: solved "
            f"{r['solved']}, NO_IK_SOLUTION {r['unsolved']}"
        )
        if r["lost"]:
            print(f"  lost per client: {r['lost_per_client']}")
        print(
            f"  node counted {r['node_requests']} requests "
            f"(expected {r['node_requests_expected']} incl. warm-up)"
        )
        print(f"  latency first 10 %: {line(r['latency_first_10pct_ms'])}")
        print(f"  latency last 10 %:  {line(r['latency_last_10pct_ms'])}")
        print(f"  throughput {r['throughput_per_s']:.1f} requests/s over {r['duration_s']:.1f} s")
    if "rss_start_kb" in r:
        print(
            f"  node RSS: start {r['rss_start_kb'] / 1024:.1f} MiB, end "
            f"{r['rss_end_kb'] / 1024:.1f} MiB ({r['rss_growth'] * 100:+.2f} %), max "
            f"{r['rss_max_kb'] / 1024:.1f} MiB"
        )
    if r.get("server_alive"):
        print(f"  node alive at the end; exit code on SIGTERM {r.get('server_exit_code')}")
    else:
        print(f"  the node died during the run (exit code {r.get('server_exit_code')})")
    if r.get("server_log_tail"):
        print(f"  the node's log, last {SERVER_LOG_TAIL} characters:")
        print("    " + r["server_log_tail"].rstrip().replace("\n", "\n    "))
    print("PASS" if not r["failures"] else "FAIL: " + "; ".join(r["failures"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000, help="requests in all")
    parser.add_argument("--clients", type=int, default=8, help="client processes")
    parser.add_argument(
        "--in-flight", type=int, default=4, help="calls each client keeps outstanding"
    )
    parser.add_argument(
        "--qos",
        choices=("deep", "default", "mixed"),
        default="deep",
        help="client QoS: deep = dtd_ik.ros.client.CLIENT_QOS (depth 1000), "
        "default = rclpy's services default (KEEP_LAST 10), mixed = "
        "client 0 default with 1 call in flight, the others deep",
    )
    parser.add_argument(
        "--bad-every", type=int, default=25, help="every n-th request is a bad one (0: none)"
    )
    parser.add_argument(
        "--lost-after",
        type=float,
        default=20.0,
        help="[s] a call unanswered this long counts as lost",
    )
    parser.add_argument("--model", default="none", help="model_path of the server")
    parser.add_argument(
        "--rss-limit", type=float, default=0.05, help="largest allowed RSS growth (fraction)"
    )
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--worker", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(
            args.worker[0],
            args.worker[1],
            args.in_flight,
            args.qos,
            args.bad_every,
            args.lost_after,
        )
        return 0
    if args.clients < 1 or args.requests < args.clients:
        parser.error("need --clients >= 1 and --requests >= --clients")
    report = run(args)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
