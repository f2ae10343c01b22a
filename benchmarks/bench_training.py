"""Training throughput: optimiser steps/s of the trainer's own step (``optim.step``) for each
network and batch, eager beside the captured paths, in one run on one device.

A step is what ``train`` runs per batch: forward, FK (once), capsule distance, the hybrid
weighting, backward, AdamW (``Trainer.train_step`` of a Trainer built from
config/train_stage1.yaml with the overrides below). Batches are drawn on the device beforehand,
as the trainer draws an epoch's; the clock runs over ``--steps`` steps after ``--warmup`` (which
include torch.compile's compilation and the CUDA graph's capture) and waits for the device once
at the end, never per step. Targets on one H100/H200: >= 300 steps/s for 1024x5 at batch 1,024,
>= 600 steps/s for 256x4.

    .venv/bin/python benchmarks/bench_training.py [--device cuda] [--steps 200] [--warmup 20]
        [--runs 1024x5@1024,256x4@1024,256x4@8192] [--modes eager,compiled,cuda_graph]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from dtd_ik.training.config import load_config
from dtd_ik.training.trainer import Trainer

DEFAULT_RUNS = "1024x5@1024,256x4@1024,256x4@8192"


def parse_run(text: str) -> tuple[int, int, int]:
    """``HIDDENxBLOCKS@BATCH`` -> (hidden, blocks, batch)."""
    net, batch = text.split("@")
    hidden, blocks = net.split("x")
    return int(hidden), int(blocks), int(batch)


def steps_per_s(
    hidden: int,
    blocks: int,
    batch: int,
    mode: str,
    device: str,
    steps: int,
    warmup: int,
    compile_mode: str,
) -> float:
    """Optimiser steps per second of ``mode``'s step for one network and batch."""
    with tempfile.TemporaryDirectory() as out:
        cfg = load_config(
            "config/train_stage1.yaml",
            [
                f"out_dir={out}",
                f"device={device}",
                f"model.hidden={hidden}",
                f"model.blocks={blocks}",
                f"optim.batch_size={batch}",
                f"optim.step={mode}",
                f"optim.compile_mode={compile_mode}",
                "optim.schedule=cosine",
                "export=false",
                f"data.train_per_epoch={8 * batch}",
                "data.val_size=1024",
                "data.test_size=1024",
                "log.progress=false",
                "log.tensorboard=false",
            ],
        )
        trainer = Trainer(cfg)
        data = trainer.source.draw(8 * batch, trainer.generator).x.to(trainer.device)
        batches = [data[i * batch : (i + 1) * batch] for i in range(8)]
        per_epoch = 8

        def run(n: int) -> None:
            for i in range(n):
                trainer.step = i % per_epoch
                trainer._set_lr(per_epoch)
                trainer.train_step(batches[i % per_epoch])

        run(warmup)
        if trainer.device.type == "cuda":
            torch.cuda.synchronize(trainer.device)
        t0 = time.perf_counter()
        run(steps)
        if trainer.device.type == "cuda":
            torch.cuda.synchronize(trainer.device)
        return steps / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--runs", default=DEFAULT_RUNS, help="comma-separated HIDDENxBLOCKS@BATCH")
    p.add_argument(
        "--modes",
        default=None,
        help="comma-separated optim.step modes (default: every one the device has)",
    )
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument(
        "--compile-mode",
        default=None,
        help="optim.compile_mode (default: reduce-overhead on CUDA, default on CPU)",
    )
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    cuda = a.device.startswith("cuda")
    modes = (
        a.modes.split(",") if a.modes else ["eager", "compiled"] + (["cuda_graph"] if cuda else [])
    )
    compile_mode = a.compile_mode or ("reduce-overhead" if cuda else "default")
    name = (
        torch.cuda.get_device_name(a.device) if cuda else f"cpu, {torch.get_num_threads()} threads"
    )
    print(
        f"training steps/s ({name}, torch {torch.__version__}): {a.steps} steps after "
        f"{a.warmup} warm-up, hybrid weighting, compile mode {compile_mode}"
    )
    print(
        f"{'network':>9} {'batch':>6} "
        + " ".join(f"{m:>11}" for m in modes)
        + (f" {'best/eager':>10}" if len(modes) > 1 else "")
    )
    for run in a.runs.split(","):
        hidden, blocks, batch = parse_run(run)
        rates = [
            steps_per_s(hidden, blocks, batch, m, a.device, a.steps, a.warmup, compile_mode)
            for m in modes
        ]
        line = f"{hidden:>5} x {blocks} {batch:>6} " + " ".join(f"{r:>11.1f}" for r in rates)
        if len(modes) > 1:
            line += f" {max(rates[1:]) / rates[0]:>9.2f}x"
        print(line, flush=True)


if __name__ == "__main__":
    main()
