"""What the node's world costs: applying one CollisionObject (the keeper copies the world and
swaps it in), building a request's world with one attached object, and one goal solved as the
node solves it (one at a time) with no world, and with ``--boxes`` boxes published as
CollisionObject messages (placed around the workspace, away from the goals' hands).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_ros_world.py [--boxes 10] [--goals 200]
        [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from geometry_msgs.msg import Pose
from moveit_msgs.msg import AttachedCollisionObject, CollisionObject
from shape_msgs.msg import SolidPrimitive

from dtd_ik import IKSolver
from dtd_ik.ros.client import reachable_goals
from dtd_ik.ros.world import WorldKeeper, attached_object, fixed_frames, world_change

FRAMES = fixed_frames("panda_link0", "world", np.eye(4))


def box_message(object_id: str, position, size=(0.1, 0.1, 0.1)) -> CollisionObject:
    msg = CollisionObject(id=object_id, operation=CollisionObject.ADD)
    msg.header.frame_id = "panda_link0"
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in position)
    msg.pose.orientation.w = 1.0
    at = Pose()
    at.orientation.w = 1.0
    msg.primitives = [SolidPrimitive(type=SolidPrimitive.BOX, dimensions=list(size))]
    msg.primitive_poses = [at]
    return msg


def percentiles(times: list[float]) -> str:
    t = np.array(times) * 1e3
    return f"p50 {np.percentile(t, 50):.3f} ms, p99 {np.percentile(t, 99):.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=int, default=10)
    parser.add_argument("--goals", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    keeper = WorldKeeper()
    angles = np.linspace(0, 2 * np.pi, args.boxes, endpoint=False)
    boxes = [
        box_message(f"box{i}", (1.0 * np.cos(a), 1.0 * np.sin(a), 0.3))  # 1 m out
        for i, a in enumerate(angles)
    ]
    for msg in boxes:
        keeper.apply(world_change(msg, FRAMES))
    times = []
    for k in range(200):
        t0 = time.perf_counter()
        keeper.apply(world_change(boxes[k % len(boxes)], FRAMES))
        times.append(time.perf_counter() - t0)
    print(f"apply one CollisionObject ({args.boxes} boxes in the world): {percentiles(times)}")

    tool = AttachedCollisionObject(link_name="panda_hand")
    tool.object = box_message("tool", (0.0, 0.0, 0.15), (0.02, 0.02, 0.05))
    tool.object.header.frame_id = "panda_hand"
    hand_frames = {"panda_hand": np.eye(4)}.__getitem__
    times = []
    for _ in range(200):
        t0 = time.perf_counter()
        keeper.for_request([attached_object(tool, keeper.world.robot.links, hand_frames)])
        times.append(time.perf_counter() - t0)
    print(f"request world with one attached object: {percentiles(times)}")

    solver = IKSolver.load(None)
    goals = reachable_goals(args.goals, seed=args.seed)
    for label, world in (("no world", None), (f"{args.boxes} boxes", keeper.world)):
        times, solved = [], 0
        for _, p, quat in goals:
            t0 = time.perf_counter()
            result = solver.solve(p[None], quat[None], tip="panda_hand", timeout=0.05, world=world)
            times.append(time.perf_counter() - t0)
            solved += int(result.success[0])
        print(f"solve, {label}: {solved}/{len(goals)} solved, {percentiles(times)}")


if __name__ == "__main__":
    main()
