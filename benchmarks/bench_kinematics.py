"""Kinematics speed: dtd_ik beside pytorch-kinematics (and pybullet for collision), one run.

Times FK + geometric Jacobian for one configuration and for a batch, and the minimum self-collision
distance for a batch, on this machine's CPU; prints a table with the ratios. Two dtd_ik paths:
the torch modules (differentiable, batched, what training uses) and the compiled float64 kernels
(dtd_ik.solver.kernels.kinematics, what the solver uses; batches spread over all cores by
dtd_ik.solver.kernels.batch).

    .venv/bin/python benchmarks/bench_kinematics.py [--batch 4096] [--dtype float32] [--repeat 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numba
import numpy as np
import pybullet_data
import pytorch_kinematics as pk
import torch

from dtd_ik.kinematics.capsules import CapsuleModel
from dtd_ik.kinematics.forward import Kinematics
from dtd_ik.solver.kernels.batch import CompiledKinematics

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "test"))
from pybullet_panda import PybulletPanda  # noqa: E402  (the test suite's independent reference)

TARGETS_US = {"fk+J, 1 config": 50.0, "fk+J, batch": 2000.0, "min-distance, batch": 3000.0}


def median_time_us(fn, repeat: int, warmup: int = 3) -> float:
    """Median wall time of ``fn()`` [us] over ``repeat`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    kin = Kinematics()
    capsules = CapsuleModel(kin)
    rng = np.random.default_rng(0)
    q_batch = torch.tensor(
        rng.uniform(kin.model.lower, kin.model.upper, (args.batch, kin.dof)), dtype=dtype
    )
    q_one = q_batch[:1].clone()

    with open(os.path.join(pybullet_data.getDataPath(), "franka_panda", "panda.urdf"), "rb") as f:
        urdf = f.read()
    chain = pk.build_serial_chain_from_urdf(urdf, "panda_hand").to(dtype=dtype)

    def ours(q):
        return lambda: kin.forward_and_jacobian(q, "panda_hand")

    def peer(q):
        return lambda: (chain.forward_kinematics(q), chain.jacobian(q))

    rows = []
    with torch.no_grad():
        rows.append(
            (
                "fk+J, 1 config",
                median_time_us(ours(q_one), args.repeat * 20),
                median_time_us(peer(q_one), args.repeat * 20),
                "pytorch-kinematics",
            )
        )
        rows.append(
            (
                "fk+J, batch",
                median_time_us(ours(q_batch), args.repeat),
                median_time_us(peer(q_batch), args.repeat),
                "pytorch-kinematics",
            )
        )
        ours_coll = median_time_us(lambda: capsules.distance(q_batch), args.repeat)
    compiled = CompiledKinematics()
    q64_one, q64_batch = q_one.double().numpy(), q_batch.double().numpy()

    def compiled_fk_jacobian(q):
        return lambda: (compiled.forward(q, "panda_hand"), compiled.jacobian(q, "panda_hand"))

    compiled_one = median_time_us(compiled_fk_jacobian(q64_one), args.repeat * 20)
    batch = compiled  # batches of PARALLEL_MIN_ROWS or more run on all cores (numba prange)
    compiled_batch = median_time_us(
        lambda: batch.forward_and_jacobian(q64_batch, "panda_hand"), args.repeat
    )
    compiled_coll = median_time_us(lambda: batch.min_distance(q64_batch), args.repeat)
    panda = PybulletPanda()
    sample = q_batch[:200].double().numpy()

    def pybullet_batch():
        for q in sample:
            panda.set_joints(q)
            panda.min_distance(reach=0.01)

    per_config = median_time_us(pybullet_batch, 3, warmup=1) / len(sample)
    rows.append(
        ("min-distance, batch", ours_coll, per_config * args.batch, "pybullet meshes (x batch)")
    )
    rows = [(name, "torch", mine, theirs, who) for name, mine, theirs, who in rows]
    rows += [
        ("fk+J, 1 config", "compiled", compiled_one, rows[0][3], rows[0][4]),
        ("fk+J, batch", "compiled", compiled_batch, rows[1][3], rows[1][4]),
        ("min-distance, batch", "compiled", compiled_coll, rows[2][3], rows[2][4]),
    ]
    panda.close()

    print(
        f"dtd_ik kinematics benchmark: batch {args.batch}, {args.dtype}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{len(capsules.pair_names)} checked pairs (capsules + distance maps); compiled path "
        f"float64, {numba.get_num_threads()} numba threads for batches"
    )
    print(
        f"{'case':22s} {'path':9s} {'dtd_ik [us]':>12s} {'target':>9s} {'peer [us]':>12s} "
        f"{'peer/dtd_ik':>11s}  peer"
    )
    for name, path, mine, theirs, who in rows:
        print(
            f"{name:22s} {path:9s} {mine:12.1f} {TARGETS_US[name]:9.0f} {theirs:12.1f} "
            f"{theirs / mine:11.2f}  {who}"
        )


if __name__ == "__main__":
    main()
