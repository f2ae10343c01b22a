"""Training throughput: the paper's full loss (FK + capsules + hybrid weighting) beside the same
network trained on a plain joint-space MSE, in one run, for the paper's 1024 x 5 network and a
512 x 4 one. One training step = forward, loss, backward, AdamW step, on a batch of fresh samples.

The goal: the full loss costs at most 25 % more time per sample than the bare network.

    .venv/bin/python benchmarks/bench_training.py [--batch 1024] [--steps 20] [--threads N]
        [--networks 1024x5,512x4]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from dtd_ik.kinematics.capsules import CapsuleModel
from dtd_ik.training.config import TargetsConfig
from dtd_ik.training.network import IKNet, NetworkSpec
from dtd_ik.training.objective import IKObjective
from dtd_ik.training.samples import ConfigurationSampler
from dtd_ik.training.weighting import make_strategy

TARGETS = (TargetsConfig.pos, TargetsConfig.ori, TargetsConfig.coll)  # the paper's


def step_times(step, steps: int, warmup: int = 3) -> list[float]:
    """Wall times [s] of ``steps`` calls of ``step()`` after ``warmup`` calls."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    p.add_argument("--networks", default="1024x5,512x4", help="comma-separated HIDDENxBLOCKS")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    capsules = CapsuleModel()
    kin = capsules.kinematics
    objective = IKObjective(kin, capsules, "panda_hand")
    data = ConfigurationSampler(capsules, "panda_hand").sample(a.batch,
                                                               torch.Generator().manual_seed(0))
    lower, upper = (torch.as_tensor(v) for v in (kin.model.lower, kin.model.upper))
    print(f"training throughput: batch {a.batch}, {a.steps} steps (median), float32, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'network':>10} {'plain MSE [ms/step]':>20} {'full loss [ms/step]':>20} "
          f"{'MSE [samples/s]':>16} {'full [samples/s]':>17} {'extra time':>11} "
          f"{'extra [ms]':>11}")
    networks = [tuple(int(v) for v in n.split("x")) for n in a.networks.split(",")]
    for hidden, blocks in networks:
        torch.manual_seed(0)
        net = IKNet(NetworkSpec(hidden, blocks), lower, upper, data.x.mean(0), data.x.std(0),
                    list(kin.model.joint_names), kin.model.base_frame, "panda_hand")
        strategy = make_strategy("hybrid", TARGETS)
        opt = torch.optim.AdamW([*net.parameters(), *strategy.parameters()], lr=1e-5)

        def plain():
            loss = torch.nn.functional.mse_loss(net(data.x), data.q)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        def full():
            out = strategy(objective(net(data.x), data.x).losses)
            opt.zero_grad(set_to_none=True)
            out.total.backward()
            opt.step()

        # interleave the two so that machine load drifts hit both alike
        t_plain, t_full = [], []
        for _ in range(a.steps):
            t_plain += step_times(plain, 1, warmup=0 if t_plain else 3)
            t_full += step_times(full, 1, warmup=0 if t_full else 3)
        mp, mf = statistics.median(t_plain), statistics.median(t_full)
        print(f"{hidden:>6} x {blocks} {1000 * mp:>20.1f} {1000 * mf:>20.1f} "
              f"{a.batch / mp:>16.0f} {a.batch / mf:>17.0f} {100 * (mf / mp - 1):>10.1f}% "
              f"{1000 * (mf - mp):>11.1f}")


if __name__ == "__main__":
    main()
