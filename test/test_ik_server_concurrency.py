"""Several clients at once over real DDS: no starved goals; lost answers counted.

- Fairness: one client process floods the node with goals that cannot be met and long timeouts
  while the test's client sends reachable goals one after another; every reachable goal must be
  solved (FK-checked against our kinematics), whatever the flood does.
- Lost answers: benchmarks/lost_answers.py as a user runs it, short (8 client processes with
  rclpy's default client QoS, one call in flight, 100 calls each, twice). It counts the answers
  lost and their call numbers (printed); a lost call sent again must be answered: the node
  serves every client throughout, and the loss happened in the middleware on the client's side
  (benchmarks/lost_answers.py). Whether any is lost at all is not asserted: that is the
  middleware's (the trivial server there loses answers too).

No timing is asserted; each test prints what it measured.
"""

import json
import subprocess
import sys
import textwrap

import pytest
from moveit_msgs.msg import MoveItErrorCodes as Codes

import ik_server_fixtures as fx
from dtd_ik.ros.client import make_request, reachable_goals
from ik_server_fixtures import client, compiled_solver, server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.ros

# A client process that keeps ``in_flight`` goals the arm cannot meet (panda_hand 0.9 m out at
# shoulder height, pointing up; seeded from the ready pose, as MoveIt seeds from the current
# state) outstanding with a ``timeout`` [s] each, sending a new one for every answer; it prints
# "flooding" at its first answer and the count of answers when stdin closes.
FLOODER = textwrap.dedent("""
    import sys, threading, rclpy
    from moveit_msgs.srv import GetPositionIK
    from dtd_ik.ros.qos import CLIENT_QOS
    service, in_flight, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    rclpy.init()
    node = rclpy.create_node("flooding_client")
    client = node.create_client(GetPositionIK, service, qos_profile=CLIENT_QOS)
    assert client.wait_for_service(timeout_sec=60)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    def unreachable(i):
        req = GetPositionIK.Request()
        ik = req.ik_request
        ik.group_name, ik.ik_link_name = "panda_arm", "panda_hand"
        ik.pose_stamped.header.frame_id = "panda_link0"
        ik.pose_stamped.pose.position.x = 0.9
        ik.pose_stamped.pose.position.z = 0.333 + 0.01 * (i % 7)
        ik.pose_stamped.pose.orientation.w = 1.0
        ik.robot_state.joint_state.name = [f"panda_joint{j}" for j in range(1, 8)]
        ik.robot_state.joint_state.position = [0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785]
        ik.timeout.sec = int(timeout)
        ik.timeout.nanosec = int((timeout % 1) * 1e9)
        return req
    futures = [client.call_async(unreachable(i)) for i in range(in_flight)]
    sent, answered, said = in_flight, 0, False
    while not stop.is_set():
        rclpy.spin_once(node, timeout_sec=0.05)
        for k, f in enumerate(futures):
            if f.done():
                answered += 1
                futures[k] = client.call_async(unreachable(sent))
                sent += 1
        if answered and not said:
            print("flooding", flush=True)
            said = True
    print(answered, flush=True)
""")


# The flood: enough seeded goals to fill a solver batch (max_batch 256) with long timeouts [s];
# the reachable goals come unseeded, with a shorter timeout of their own. (Solved as one batch
# under the batch's latest deadline, the seeded goals go first and use it up.)
FLOOD_IN_FLIGHT, FLOOD_TIMEOUT = 250, 2.0
REACHABLE_TIMEOUT = 0.25  # [s], from the request's arrival at the node


def test_a_flood_of_unreachable_goals_does_not_starve_reachable_goals(server, client, kin):  # noqa: F811
    goals = reachable_goals(20, seed=41)
    flooder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            FLOODER,
            f"{fx.NS}/compute_ik",
            str(FLOOD_IN_FLIGHT),
            str(FLOOD_TIMEOUT),
        ],
        env=fx.ENV,
        cwd=fx.ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    codes = []
    try:
        assert flooder.stdout.readline().strip() == "flooding", server.log()[-3000:]
        for _, p, quat in goals:
            request = make_request(p, quat)
            request.ik_request.timeout.nanosec = int(REACHABLE_TIMEOUT * 1e9)
            res = client.call(client.ik, request)
            codes.append(res.error_code.val)
            if res.error_code.val == Codes.SUCCESS:
                dp, dr = fx.goal_error(kin, res.solution.joint_state.position[:7], p, quat)
                assert dp <= 1e-4 and dr <= 1e-3
    finally:
        out, _ = flooder.communicate("", timeout=fx.WAIT)
    flood_answers = int(out.split()[-1])
    solved = sum(c == Codes.SUCCESS for c in codes)
    print(
        f"reachable goals beside a flood of {FLOOD_IN_FLIGHT} unreachable ones "
        f"({FLOOD_TIMEOUT} s each): {solved} of "
        f"{len(goals)} solved, codes {codes}; the flooding client got {flood_answers} answers"
    )
    assert codes == [Codes.SUCCESS] * len(goals)
    assert flood_answers > 0  # the flood was answered too, not merely ignored
    assert server.alive() and "Traceback" not in server.log()


@pytest.mark.slow
def test_default_qos_clients_lose_no_answers(tmp_path):
    from dtd_ik.solver import IKSolver

    IKSolver.load(None)  # on a fresh clone: compiles and caches the kernels the node then loads
    lost = []
    for run in range(2):
        report = tmp_path / f"lost_{run}.json"
        proc = subprocess.run(
            [
                sys.executable,
                str(fx.ROOT / "benchmarks" / "lost_answers.py"),
                "--kinds",
                "ours",
                "--clients",
                "8",
                "--requests",
                "800",
                "--json",
                str(report),
            ],
            capture_output=True,
            text=True,
            timeout=900,
            cwd=fx.ROOT,
        )
        print(proc.stdout.strip())
        assert report.exists(), proc.stdout + proc.stderr
        (r,) = json.loads(report.read_text())
        assert r["requests"] == 800 and r["clients"] == 8
        assert r["server_exit_code"] == 0 and r["server_tracebacks"] == 0
        assert r["unanswered_again"] == 0, proc.stdout
        lost.append(r["lost_at"])
    print(f"lost (client, call number) per run: {lost}")
