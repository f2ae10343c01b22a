"""A `train` process killed with SIGKILL at random moments resumes from its last checkpoint
and ends with exactly the weights of a run that was never interrupted."""

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dtd_ik.training.checkpoint import load_checkpoint
from dtd_ik.training.run_log import read_log

pytestmark = pytest.mark.slow

TINY = Path(__file__).resolve().parent.parent / "config" / "train_tiny.yaml"
EPOCHS = 12
KILLS = 5


def train(run: Path, resume: bool) -> subprocess.Popen:
    args = (
        ["--resume", str(run / "checkpoint.pt"), f"epochs={EPOCHS}"]
        if resume
        else ["--config", str(TINY), f"out_dir={run}", f"epochs={EPOCHS}", "export=false"]
    )
    return subprocess.Popen(
        [sys.executable, "-m", "dtd_ik.training", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkill_at_random_moments_then_resume_ends_with_the_uninterrupted_weights(tmp_path):
    clean = train(tmp_path / "clean", resume=False)
    assert clean.wait(timeout=300) == 0, clean.stderr.read()[-2000:]

    run, rng, kills, killed_at = tmp_path / "killed", random.Random(7), 0, []
    while True:
        proc = train(run, resume=(run / "checkpoint.pt").exists())
        if kills < KILLS:
            # a random moment after this process has written a checkpoint of its own: between
            # two checkpoints, or inside a checkpoint write
            ckpt = run / "checkpoint.pt"
            start_epoch = load_checkpoint(ckpt)["epoch"] if ckpt.exists() else 0
            before = ckpt.stat().st_mtime_ns if ckpt.exists() else None
            deadline = time.monotonic() + 120
            while (
                proc.poll() is None
                and time.monotonic() < deadline
                and (not ckpt.exists() or ckpt.stat().st_mtime_ns == before)
            ):
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.4))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=60)
                kills += 1
                # what the kill left loads as a complete checkpoint, never a torn one
                state = load_checkpoint(run / "checkpoint.pt")
                assert start_epoch <= state["epoch"] <= EPOCHS
                killed_at.append(state["epoch"])
                continue
        assert proc.wait(timeout=300) == 0, proc.stderr.read()[-2000:]
        break

    assert kills == KILLS
    print(f"\nkilled with SIGKILL after epochs {killed_at} (of {EPOCHS})")
    assert max(killed_at) < EPOCHS  # every kill left work to resume
    a = load_checkpoint(tmp_path / "clean" / "checkpoint.pt")
    b = load_checkpoint(run / "checkpoint.pt")
    assert a["epoch"] == b["epoch"] == EPOCHS
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    for key, value in a["strategy"].items():
        assert torch.equal(value, b["strategy"][key]), key
    # the log holds every epoch once, with the uninterrupted run's figures
    log_a, log_b = read_log(tmp_path / "clean"), read_log(run)
    assert [r["epoch"] for r in log_b] == list(range(1, EPOCHS + 1))
    assert [r["train"] for r in log_a] == [r["train"] for r in log_b]
