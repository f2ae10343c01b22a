"""Network inference latency by size: one query at a time and a batch, on this CPU.

For choosing the shipped architecture: the paper's 1024 x 5 and smaller ResNets, as TorchScript
(what `train` exports and the solver loads), with and without freezing + optimize_for_inference,
on the solver's torch thread count. Weights are random (latency does not depend on them).
Rounds alternate between the variants so a load change on a shared machine hits all alike.

    .venv/bin/python benchmarks/bench_network.py [--sizes 1024x5,512x4,384x4,256x4] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import torch

from dtd_ik.robot.model import load_robot_model
from dtd_ik.training.network import IKNet, NetworkSpec


def build(hidden: int, blocks: int) -> torch.jit.ScriptModule:
    robot = load_robot_model()
    net = IKNet(
        NetworkSpec(hidden, blocks, input_features="rotation_matrix"),
        torch.as_tensor(robot.lower),
        torch.as_tensor(robot.upper),
        torch.zeros(7),
        torch.ones(7),
        list(robot.joint_names),
        robot.base_frame,
        "panda_hand",
    ).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.script(net)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1024x5,512x4,384x4,256x4")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--calls", type=int, default=100, help="single calls per round and variant")
    p.add_argument("--batch", type=int, default=1000)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"network latency: torch {torch.__version__}, {args.threads} thread(s), "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(
        f"{'network':>9s}{'params':>12s}{'MB fp32':>9s}{'variant':>13s}{'1 query p50 [ms]':>18s}"
        f"{'p99':>8s}{f'batch {args.batch} [us/query]':>26s}"
    )
    one, batch = torch.randn(1, 7), torch.randn(args.batch, 7)
    for size in args.sizes.split(","):
        hidden, blocks = (int(v) for v in size.split("x"))
        scripted = build(hidden, blocks)
        variants = {
            "script": scripted,
            "frozen+opt": torch.jit.optimize_for_inference(torch.jit.freeze(scripted)),
        }
        single = {k: [] for k in variants}
        batched = {k: [] for k in variants}
        with torch.inference_mode():
            for m in variants.values():  # warm-up: TorchScript profiles its first calls
                for _ in range(20):
                    m(one), m(batch[:64])
            for _ in range(args.rounds):
                for k, m in variants.items():
                    for _ in range(args.calls):
                        t0 = time.perf_counter()
                        m(one)
                        single[k].append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    m(batch)
                    batched[k].append((time.perf_counter() - t0) / args.batch)
        n = sum(p.numel() for p in scripted.parameters())
        for k in variants:
            s = np.array(single[k]) * 1e3
            print(
                f"{size:>9s}{n:>12,d}{4 * n / 1e6:>9.1f}{k:>13s}{np.percentile(s, 50):>18.3f}"
                f"{np.percentile(s, 99):>8.3f}{1e6 * np.median(batched[k]):>26.1f}"
            )


if __name__ == "__main__":
    main()
