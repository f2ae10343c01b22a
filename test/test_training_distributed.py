"""A data-parallel job (2 CPU processes, gloo) whose rank 0 cannot write its checkpoint or its
exported model (a real EFBIG: RLIMIT_FSIZE on rank 0 only) stops on every rank, each with one line
naming the failure, and the previous file is kept."""

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dtd_ik.training.checkpoint import load_checkpoint
from dtd_ik.training.config import load_config
from dtd_ik.training.trainer import Trainer

pytestmark = pytest.mark.slow

TINY = Path(__file__).resolve().parent.parent / "config" / "train_tiny.yaml"
DEADLINE = 60.0  # [s] for the whole job; a rank that waits on a failed one is killed and fails


def limited(max_bytes: int):
    """preexec_fn: no file may grow past ``max_bytes``; SIGXFSZ ignored, so writes get EFBIG."""

    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return apply


def two_ranks(args: list[str], rank0_limit: int) -> list[tuple[int, str]]:
    """``train ARGS`` as ranks 0 and 1 of a gloo job (torchrun's environment, no agent to kill a
    waiting rank); rank 0 under the file size limit. Returns (exit code, stderr) per rank."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []
    for rank in (0, 1):
        env = {
            **os.environ,
            "OMP_NUM_THREADS": "1",
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": "2",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "dtd_ik.training", *args],
                env=env,
                text=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                preexec_fn=limited(rank0_limit) if rank == 0 else None,
            )
        )
    start, results = time.monotonic(), []
    try:
        for rank, proc in enumerate(procs):
            try:
                _, err = proc.communicate(timeout=max(1.0, start + DEADLINE - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"rank {rank} still running {DEADLINE:.0f} s after the start (hung)")
            results.append((proc.returncode, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return results


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
    return lines[0]


def temporaries(folder: Path) -> list:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_rank_0_failing_its_epoch_checkpoint_stops_both_ranks_and_keeps_the_previous(tmp_path):
    run = tmp_path / "run"
    ckpt = run / "checkpoint.pt"
    Trainer(load_config(TINY, [f"out_dir={run}", "epochs=1", "export=false"])).run()
    before = ckpt.read_bytes()
    # resumed on 2 ranks for 2 more epochs: rank 0's epoch-2 checkpoint fails in the kernel;
    # rank 1 would go on into epoch 3 and wait there for rank 0
    (rc0, err0), (rc1, err1) = two_ranks(["--resume", str(ckpt), "epochs=3"], len(before) // 2)
    failure = f"{ckpt}: could not write (File too large); the previous version is unchanged"
    assert (rc0, one_line(err0)) == (1, f"train: {failure}")
    assert (rc1, one_line(err1)) == (1, f"train: rank 0 failed: {failure}")
    assert ckpt.read_bytes() == before and load_checkpoint(ckpt)["epoch"] == 1
    assert temporaries(run) == []


def test_rank_0_failing_the_export_stops_both_ranks_and_keeps_the_previous_model(tmp_path):
    run = tmp_path / "run"
    Trainer(load_config(TINY, [f"out_dir={run}", "epochs=1"])).run()
    model = run / "model.pt"
    before = model.read_bytes()
    # resuming the finished run exports again; rank 1 has nothing to write and must not exit 0
    (rc0, err0), (rc1, err1) = two_ranks(
        ["--resume", str(run / "checkpoint.pt")], len(before) // 2
    )
    failure = f"{model}: could not write (File too large); the previous version is unchanged"
    assert (rc0, one_line(err0)) == (1, f"train: {failure}")
    assert (rc1, one_line(err1)) == (1, f"train: rank 0 failed: {failure}")
    assert model.read_bytes() == before and temporaries(run) == []
