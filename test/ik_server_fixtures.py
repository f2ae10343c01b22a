"""The IK server tests' shared node and client (a pytest plugin, loaded by conftest): a test module
that names the fixtures ``server`` and ``client`` gets its own node for the module, a
running ``ik_server`` subprocess (dtd_ik.ros.server_process.running_ik_server) on a private DDS
domain limited to localhost, and a plain rclpy client of it: no part of ROS is mocked.
"""

import math
import os
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
import torch
from moveit_msgs.srv import GetPositionFK, GetPositionIK
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.executors import SingleThreadedExecutor

from dtd_ik.robot.spatial import quaternion_to_matrix
from dtd_ik.ros.qos import SERVICE_QOS
from dtd_ik.ros.server_process import running_ik_server

ROOT = Path(__file__).resolve().parent.parent
NS = "/e2e"
DOMAIN = 100 + os.getpid() % 100  # private DDS domain: no cross-talk with other runs
ENV = {**os.environ, "ROS_DOMAIN_ID": str(DOMAIN), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
ARM = [f"panda_joint{i}" for i in range(1, 8)]
ALL_JOINTS = ARM + ["panda_finger_joint1", "panda_finger_joint2"]
WAIT = 60.0  # [s] upper bound on any wait for the server (a hang fails, speed is not tested)


@pytest.fixture(scope="module")
def compiled_solver():
    """Load the solver once here: on a fresh clone this compiles and caches its kernels (tens of
    seconds, once), so that the server processes below start from the cache."""
    from dtd_ik.solver.ik_solver import IKSolver

    IKSolver.load(None)


@pytest.fixture(scope="module")
def server(tmp_path_factory, compiled_solver):
    """The module's node: no model, the shipped parameter file with one value changed (which
    shows that the file reaches the node), command-line parameters over it."""
    folder = tmp_path_factory.mktemp("server")
    text = (ROOT / "config" / "ik_server.yaml").read_text()
    assert "default_timeout: 0.05 " in text
    params = folder / "ik_server.yaml"
    params.write_text(text.replace("default_timeout: 0.05 ", "default_timeout: 0.07 "))
    with running_ik_server(
        "model_path:=none",
        "max_timeout:=4.0",
        f"joint_state_topic:={NS}/joint_states",
        namespace=NS,
        params_file=params,
        env=ENV,
        log=folder / "ik_server.log",
        wait=WAIT,
    ) as node:
        yield node


class Client:
    def __init__(self, context):
        self.node = rclpy.create_node("ik_server_test", context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        # deep queues like the server's: the 200-request burst must not be dropped on our side
        self.ik = self.node.create_client(
            GetPositionIK, f"{NS}/compute_ik", qos_profile=SERVICE_QOS
        )
        self.fk = self.node.create_client(GetPositionFK, f"{NS}/compute_fk")

    def spin_until(self, condition, what: str, timeout: float = WAIT):
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"no {what} within {timeout:.0f} s"
            self.executor.spin_once(timeout_sec=0.05)

    def call(self, client, request):
        future = client.call_async(request)
        self.spin_until(future.done, f"answer from {client.srv_name}")
        return future.result()


@pytest.fixture(scope="module")
def client(server):
    context = rclpy.context.Context()
    rclpy.init(context=context, domain_id=DOMAIN)
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    c = Client(context)
    assert c.ik.wait_for_service(timeout_sec=WAIT), f"no compute_ik service:\n{server.log()}"
    assert c.fk.wait_for_service(timeout_sec=WAIT)
    yield c
    c.node.destroy_node()
    rclpy.shutdown(context=context)


def fk_matrix(kin, q, link="panda_hand"):
    return kin.frame_transforms(torch.tensor(np.asarray(q)[None], dtype=torch.float64), [link])[
        0, 0
    ].numpy()


def goal_error(kin, q, position, quaternion, link="panda_hand"):
    T = fk_matrix(kin, q, link)
    R_goal = quaternion_to_matrix(np.asarray(quaternion))
    angle = math.acos(max(-1.0, min(1.0, (np.trace(R_goal.T @ T[:3, :3]) - 1) / 2)))
    return float(np.linalg.norm(T[:3, 3] - position)), angle


def set_params(client, **values):
    setter = client.node.create_client(SetParameters, f"{NS}/dtd_ik_server/set_parameters")
    assert setter.wait_for_service(timeout_sec=WAIT)
    req = SetParameters.Request()
    for name, value in values.items():
        pv = ParameterValue()
        if isinstance(value, str):
            pv.type, pv.string_value = ParameterType.PARAMETER_STRING, value
        else:
            pv.type, pv.double_value = ParameterType.PARAMETER_DOUBLE, float(value)
        req.parameters.append(Parameter(name=name, value=pv))
    return client.call(setter, req).results
