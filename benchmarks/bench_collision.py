"""Cost of the exact mesh collision query (dtd_ik.collision) per configuration.

Draws random configurations within the joint limits, computes their link poses once (FK is not
timed), then times ``CollisionWorld.distance`` one configuration at a time, each one's fastest
of ``--repeat`` passes: self-collision only, and with a world of ten boxes around the robot.
Prints median and p99 over the configurations [ms] with the mean CPU time per query, and how
often the capsule model alone already proves a configuration clear (capsule distance > 0, where
the mesh check could be skipped: the capsules enclose the meshes).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_collision.py [--configs 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from dtd_ik.collision import Box, CollisionWorld, pose_matrix
from dtd_ik.kinematics.capsules import CapsuleModel
from dtd_ik.kinematics.forward import Kinematics


def ten_boxes(rng: np.random.Generator) -> list[tuple[Box, np.ndarray]]:
    """Ten boxes (5-30 cm sides) in random poses 0.5-0.9 m from the base axis [m]."""
    boxes = []
    for _ in range(10):
        angle, radius = rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 0.9)
        centre = [radius * np.cos(angle), radius * np.sin(angle), rng.uniform(0.0, 1.0)]
        boxes.append((Box(*rng.uniform(0.05, 0.3, 3)), pose_matrix(centre, rng.normal(size=4))))
    return boxes


def time_queries(
    world: CollisionWorld, poses: np.ndarray, repeat: int
) -> tuple[np.ndarray, float, list]:
    """(per-configuration wall time [s], the fastest of ``repeat`` passes over all
    configurations, so that another process taking the CPU does not count; CPU time per query
    [s]; results)."""
    times = np.full(len(poses), np.inf)
    cpu = time.process_time()
    for _ in range(repeat):
        results = []
        for k, p in enumerate(poses):
            t0 = time.perf_counter()
            results.append(world.distance(p))
            times[k] = min(times[k], time.perf_counter() - t0)
    return times, (time.process_time() - cpu) / (repeat * len(poses)), results


def report(label: str, times: np.ndarray, cpu: float, results: list) -> None:
    d = np.array([r.distance for r in results])
    print(
        f"{label:<22} median {np.median(times) * 1e3:6.3f} ms  p99 "
        f"{np.percentile(times, 99) * 1e3:6.3f} ms  mean CPU {cpu * 1e3:6.3f} ms"
        f"  in contact {np.mean(d <= 0) * 100:5.1f} %"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--repeat", type=int, default=3, help="passes; each configuration's fastest counts"
    )
    args = parser.parse_args()
    kin = Kinematics()
    rng = np.random.default_rng(args.seed)
    q = rng.uniform(kin.model.lower, kin.model.upper, size=(args.configs, kin.dof))
    world = CollisionWorld()
    poses = kin.frame_transforms(torch.as_tensor(q), world.robot.links).numpy()
    world.distance(poses[0])  # warm-up
    print(
        f"{args.configs} random configurations (seed {args.seed}), one query at a time, "
        f"fastest of {args.repeat} passes each"
    )
    times, cpu, self_results = time_queries(world, poses, args.repeat)
    report("self-collision", times, cpu, self_results)
    for k, (box, pose) in enumerate(ten_boxes(rng)):
        world.add(f"box{k}", [box], pose)
    report("self + ten boxes", *time_queries(world, poses, args.repeat))
    capsule = CapsuleModel(kin).distance(torch.as_tensor(q)).distance.numpy()
    mesh = np.array([r.distance for r in self_results])
    print(
        f"capsule distance > 0 (mesh check skippable): {np.mean(capsule > 0) * 100:.1f} % of "
        f"configurations; mesh clear but capsules not: "
        f"{np.mean((mesh > 0) & (capsule <= 0)) * 100:.1f} %; capsules clear but meshes not: "
        f"{int(np.sum((capsule > 0) & (mesh <= 0)))}"
    )


if __name__ == "__main__":
    main()
