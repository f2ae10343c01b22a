"""Faults around the IK server, over real DDS.

(a) three client processes in turn SIGKILLed with 200 calls in flight: the node answers the
    next client correctly, stays up, and its memory does not grow with each dead client;
(b) the node SIGKILLed and started again while two client processes are sending: the clients
    (``dtd_ik.ros.client.call_with_retry``) get every answer, right, and none hangs;
(c) SIGTERM and SIGINT with requests in flight: exit code 0, nothing on stderr but log lines;
(d) a truncated model file stops the node at start-up with one line naming the file (missing,
    garbage and other-robot files: test_ik_server.py).

The module's node is ik_server_fixtures' ``server`` (with its ``client``); (b) and (c) start
their own nodes under other namespaces with running_ik_server, the way scripts/main does.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from builtin_interfaces.msg import Duration
from moveit_msgs.msg import MoveItErrorCodes as Codes
from moveit_msgs.srv import GetPositionIK

import ik_server_fixtures as fx
from dtd_ik.ros.client import make_request, reachable_goals
from dtd_ik.ros.qos import CLIENT_QOS
from dtd_ik.ros.server_process import ik_server_command, running_ik_server

pytestmark = pytest.mark.ros

# A client process that sends ``count`` goals that cannot be met (beyond the reach: each uses
# every restart of the solver) at once, says "answering" at the first answer and spins until it
# is killed.
FLOODING_CLIENT = textwrap.dedent("""
    import sys, rclpy
    from moveit_msgs.srv import GetPositionIK
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    service, count = sys.argv[1], int(sys.argv[2])
    rclpy.init()
    node = rclpy.create_node("doomed_client")
    client = node.create_client(GetPositionIK, service,
                                qos_profile=QoSProfile(depth=1000,
                                                       reliability=ReliabilityPolicy.RELIABLE))
    assert client.wait_for_service(timeout_sec=60)
    futures = []
    for i in range(count):
        req = GetPositionIK.Request()
        ik = req.ik_request
        ik.group_name, ik.ik_link_name = "panda_arm", "panda_hand"
        ik.pose_stamped.pose.position.x = 0.9
        ik.pose_stamped.pose.position.z = 0.333 + 0.01 * (i % 7)
        ik.pose_stamped.pose.orientation.w = 1.0
        ik.timeout.nanosec = 300_000_000
        futures.append(client.call_async(req))
    while not any(f.done() for f in futures):  # the node is working through them
        rclpy.spin_once(node, timeout_sec=0.05)
    print("answering", flush=True)
    while True:
        rclpy.spin_once(node, timeout_sec=0.1)
""")

# A client process that sends ``count`` reachable goals one after another (``pause`` s apart)
# with call_with_retry, FK-checks every answer and prints one JSON line: [[code, tries, ok]...].
# It prints "answered <i>" as it goes.
RETRYING_CLIENT = textwrap.dedent("""
    import json, sys, time
    import numpy as np, rclpy, torch
    from moveit_msgs.srv import GetPositionIK
    from dtd_ik.ros.qos import CLIENT_QOS
    from dtd_ik.ros.client import call_with_retry, make_request, reachable_goals
    from dtd_ik.kinematics.forward import Kinematics
    service, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    pause = float(sys.argv[4])
    kin = Kinematics()
    goals = reachable_goals(count, seed=seed)
    rclpy.init()
    node = rclpy.create_node(f"retrying_client_{seed}")
    client = node.create_client(GetPositionIK, service, qos_profile=CLIENT_QOS)
    assert client.wait_for_service(timeout_sec=60)
    out = []
    for i, (_, p, quat) in enumerate(goals):
        req = make_request(p, quat)
        req.ik_request.timeout.sec = 1
        req.ik_request.pose_stamped.header.stamp.sec = i
        res, tries = call_with_retry(node, client, req, timeout=1.5, attempts=40, wait=2.0)
        js = res.solution.joint_state
        ok = res.error_code.val == 1 and js.header.stamp.sec == i
        if ok:
            pose = kin.forward(torch.tensor([js.position[:7]], dtype=torch.float64), "panda_hand")
            ok = float(np.linalg.norm(pose.position[0].numpy() - p)) <= 2e-4
        out.append([res.error_code.val, tries, bool(ok)])
        print(f"answered {i}", flush=True)
        time.sleep(pause)
    print(json.dumps(out), flush=True)
""")


def node(ns: str, *params: str, **kwargs):
    """ik_server under namespace ``ns`` with config/ik_server.yaml and no model."""
    return running_ik_server(
        "model_path:=none", *params, namespace=ns, env=fx.ENV, wait=fx.WAIT, **kwargs
    )


def rss_kb(pid: int) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in text.splitlines() if line.startswith("VmRSS:")).split()[1])


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def solves_correctly(client, kin, goals) -> None:
    for _, p, quat in goals:
        res = client.call(client.ik, make_request(p, quat))
        assert res.error_code.val == Codes.SUCCESS, res.error_code.message
        dp, dr = fx.goal_error(kin, res.solution.joint_state.position[:7], p, quat)
        assert dp <= 1e-4 and dr <= 1e-3


def test_clients_killed_mid_call_leave_the_node_serving_without_growth(server, client, kin):
    goals = reachable_goals(3, seed=31)
    solves_correctly(client, kin, goals)  # warm: the first answers allocate
    rss = []
    for _ in range(3):
        doomed = subprocess.Popen(
            [sys.executable, "-c", FLOODING_CLIENT, f"{fx.NS}/compute_ik", "200"],
            env=fx.ENV,
            cwd=fx.ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert doomed.stdout.readline().strip() == "answering"
            doomed.send_signal(signal.SIGKILL)  # while the node works through its calls
            doomed.wait(timeout=fx.WAIT)
        finally:
            stop(doomed)
        # Until the node is through the dead client's calls, a goal may share a solver batch
        # with goals that cannot be met and get no time of its own: then NO_IK_SOLUTION, a
        # defined answer (docs/ik_server.md, "Reliability"). After that, every answer is right.
        _, p, quat = goals[0]
        deadline = time.monotonic() + fx.WAIT
        while (
            res := client.call(client.ik, make_request(p, quat))
        ).error_code.val != Codes.SUCCESS:
            assert res.error_code.val == Codes.NO_IK_SOLUTION, res.error_code.message
            assert time.monotonic() < deadline, "the node never came back to serving"
        solves_correctly(client, kin, goals)  # served, answers checked by FK
        assert server.alive(), server.log()
        rss.append(rss_kb(server.pid))
    # the first cycle may still grow caches; the later ones must not keep growing
    assert rss[-1] < rss[0] * 1.05, rss
    assert "Traceback" not in server.log()


@pytest.mark.slow
def test_node_restarted_under_load_clients_recover_on_retry(tmp_path, compiled_solver):
    ns = "/faults_restart"
    clients = []
    try:
        with node(ns, log=tmp_path / "node.log") as first:
            clients = [
                subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        RETRYING_CLIENT,
                        f"{ns}/compute_ik",
                        "20",
                        str(seed),
                        "0.1",
                    ],
                    env=fx.ENV,
                    cwd=fx.ROOT,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for seed in (41, 42)
            ]
            for c in clients:  # each has had a few answers: the node is under load
                for _ in range(3):
                    line = c.stdout.readline()
                    assert line.startswith("answered"), line + c.stderr.read()
            first.kill()
        with node(ns, log=tmp_path / "restarted.log") as restarted:
            results = []
            for c in clients:
                c.wait(timeout=fx.WAIT * 3)  # a hang fails here
                # read(), not communicate(): that reads the pipe itself and misses what the
                # readline() calls above have already buffered (all of it, for a fast client)
                out, err = c.stdout.read(), c.stderr.read()
                assert c.returncode == 0 and out.strip(), (out, err)
                results.append(json.loads(out.strip().splitlines()[-1]))
            assert restarted.alive(), restarted.log()
    finally:
        for c in clients:
            stop(c)
    for rows in results:  # [code, tries, FK ok] per request
        assert len(rows) == 20
        assert all(code == Codes.SUCCESS and ok for code, _, ok in rows), (
            rows,
            (tmp_path / "restarted.log").read_text(),
        )
    tries = [t for rows in results for _, t, _ in rows]
    assert sum(tries) > len(tries), results  # the restart cost retries


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_the_node_cleanly_with_requests_in_flight(sig, compiled_solver):
    import rclpy

    with node("/faults_signal") as server:
        context = rclpy.context.Context()
        rclpy.init(context=context, domain_id=fx.DOMAIN)
        try:
            c = fx.Client(context)
            ik = c.node.create_client(
                GetPositionIK, "/faults_signal/compute_ik", qos_profile=CLIENT_QOS
            )
            assert ik.wait_for_service(timeout_sec=fx.WAIT), "the node did not come up"
            futures = []
            for i in range(200):  # out of reach: each uses every restart of the solver
                req = make_request([0.9, 0.0, 0.333 + 0.01 * (i % 7)], [0, 0, 0, 1])
                req.ik_request.timeout = Duration(sec=0, nanosec=300_000_000)
                futures.append(ik.call_async(req))
            c.spin_until(lambda: any(f.done() for f in futures), "a first answer")
            assert not all(f.done() for f in futures)  # requests still in flight
            code = server.stop(sig, timeout=fx.WAIT)  # a hang fails here
            c.node.destroy_node()
        finally:
            rclpy.shutdown(context=context)
        log = server.log()
    assert code == 0, log
    assert "Traceback" not in log and "Error" not in log, log
    for line in log.splitlines():  # only log lines
        assert line.startswith("[INFO]") or line.startswith("[WARN]"), log


@pytest.mark.slow
def test_a_signal_during_a_publish_or_a_wait_still_exits_cleanly(compiled_solver):
    """A diagnostics timer firing every millisecond: SIGTERM then lands while a callback
    publishes or while the executor builds its wait set, and rclpy raises "context is invalid"
    there. Before the fix 3 of 12 such stops exited with 1 and a traceback (and once in the
    CI-sized soak); each stop here must exit with 0 and only log lines."""
    for i in range(8):
        with node("/faults_busy_timer", "diagnostics_period:=0.001") as server:
            time.sleep(0.1 + 0.05 * i)
            code = server.stop(signal.SIGTERM, timeout=fx.WAIT)
            log = server.log()
        assert code == 0 and "Traceback" not in log, (i, log)


def test_truncated_model_stops_the_node_with_one_line(tmp_path, kin):
    from contract_networks import MidRange

    model = tmp_path / "truncated.pt"
    torch.jit.script(MidRange(kin.model.joint_names, kin.model.lower, kin.model.upper)).save(
        str(model)
    )
    data = model.read_bytes()
    model.write_bytes(data[: len(data) // 2])
    proc = subprocess.run(
        ik_server_command(f"model_path:={model}", namespace=fx.NS),
        env=fx.ENV,
        capture_output=True,
        text=True,
        timeout=fx.WAIT,
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("ik_server: ") and str(model) in lines[0], (
        proc.stderr
    )
