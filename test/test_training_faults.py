"""A checkpoint write that fails (file size limit: a real EFBIG from the kernel, or a
writer that dies half way with ENOSPC) keeps the previous checkpoint, leaves no temporary file and
stops `train` with one line; a rerun resumes to the uninterrupted run's weights. Checkpoints and
models that cannot be loaded are refused by `train --resume`, `init_from` and `evaluate --model`
with one line naming the file and the reason."""

import errno
import os
import re
import resource
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch

from dtd_ik.training.checkpoint import (
    CheckpointError,
    FileWriteError,
    atomic_write,
    load_checkpoint,
    save_checkpoint,
)
from dtd_ik.training.commands import evaluate, train
from dtd_ik.training.config import load_config
from dtd_ik.training.run_log import read_log
from dtd_ik.training.trainer import Trainer

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "config" / "train_tiny.yaml"
EPOCHS = 3


def tiny(run: Path, *overrides: str):
    return load_config(TINY, [f"out_dir={run}", f"epochs={EPOCHS}", *overrides])


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted tiny run: checkpoint.pt, model.pt, log.jsonl."""
    run = tmp_path_factory.mktemp("reference")
    Trainer(tiny(run)).run()
    return run


def temporaries(folder: Path) -> list:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def limited(max_bytes: int):
    """preexec_fn: files this process writes may not grow past ``max_bytes`` (RLIMIT_FSIZE);
    SIGXFSZ ignored, so a write past it fails with EFBIG instead of killing the process."""

    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return apply


def one_line(err: str, prefix: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(prefix), err
    assert "Traceback" not in err
    return lines[0]


# --- disk full ------------------------------------------------------------------------------
def test_checkpoint_write_past_the_file_size_limit_keeps_the_previous_one_then_resume_finishes(
    tmp_path, reference
):
    run = tmp_path / "run"
    ckpt = run / "checkpoint.pt"

    def interrupt(epoch, step):  # a mid-epoch checkpoint to start from (epoch 2, step 4)
        if (epoch, step) == (1, 3):
            os.kill(os.getpid(), signal.SIGINT)

    assert Trainer(tiny(run), on_step=interrupt).run().interrupted
    before = ckpt.read_bytes()
    assert (load_checkpoint(ckpt)["epoch"], load_checkpoint(ckpt)["step"]) == (1, 4)

    # the resumed process may not write a file larger than half the checkpoint: its next
    # checkpoint (end of epoch 2) fails in the kernel with EFBIG
    proc = subprocess.run(
        [sys.executable, "-m", "dtd_ik.training", "--resume", str(ckpt)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limited(len(before) // 2),
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    line = one_line(proc.stderr, f"train: {ckpt}: could not write (File too large)")
    assert "the previous version is unchanged" in line
    assert ckpt.read_bytes() == before  # the previous checkpoint, byte for byte
    assert (load_checkpoint(ckpt)["epoch"], load_checkpoint(ckpt)["step"]) == (1, 4)
    assert temporaries(run) == []
    print(f"\nEFBIG at the epoch-2 checkpoint (limit {len(before) // 2} bytes): {line}")

    # the rerun without the limit resumes from it and ends with the uninterrupted weights
    assert train.main(["--resume", str(ckpt)]) == 0
    a, b = load_checkpoint(reference / "checkpoint.pt"), load_checkpoint(ckpt)
    assert b["epoch"] == EPOCHS
    for part in ("model", "strategy"):
        for key, value in a[part].items():
            assert torch.equal(value, b[part][key]), (part, key)
    assert [r["train"] for r in read_log(reference)] == [r["train"] for r in read_log(run)]
    assert [r["epoch"] for r in read_log(run)] == list(range(1, EPOCHS + 1))
    assert temporaries(run) == []


def test_export_past_the_file_size_limit_keeps_the_previous_model(tmp_path):
    run = tmp_path / "run"
    Trainer(tiny(run)).run()  # finished: model.pt exported
    model = run / "model.pt"
    before = model.read_bytes()
    # resuming a finished run exports again; this time the file may not grow past half its size
    proc = subprocess.run(
        [sys.executable, "-m", "dtd_ik.training", "--resume", str(run / "checkpoint.pt")],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limited(len(before) // 2),
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    one_line(proc.stderr, f"train: {model}: could not write (File too large)")
    assert model.read_bytes() == before
    assert temporaries(run) == []


def test_a_writer_that_dies_half_way_with_enospc_leaves_the_previous_file(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"epoch": 1, "w": torch.arange(1000.0)})
    before = path.read_bytes()

    def half_then_full(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            f.write(before[: len(before) // 2])
            f.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(FileWriteError) as err:
        atomic_write(path, half_then_full)
    assert err.value.errno == errno.ENOSPC and isinstance(err.value, OSError)
    assert str(err.value) == (
        f"{path}: could not write (No space left on device); the previous version is unchanged"
    )
    assert path.read_bytes() == before and temporaries(tmp_path) == []
    # a first write that fails leaves nothing under the name
    with pytest.raises(FileWriteError, match="nothing was written"):
        atomic_write(tmp_path / "new.pt", half_then_full)
    assert not (tmp_path / "new.pt").exists() and temporaries(tmp_path) == []
    # any other failure of the writer passes through unchanged, also without leftovers
    with pytest.raises(ZeroDivisionError):
        atomic_write(path, lambda tmp: 1 / 0)
    assert path.read_bytes() == before and temporaries(tmp_path) == []


def test_a_temporary_file_left_by_a_kill_mid_write_is_removed_by_the_next_run(tmp_path, reference):
    run = tmp_path / "run"
    run.mkdir()
    ckpt = run / "checkpoint.pt"
    ckpt.write_bytes((reference / "checkpoint.pt").read_bytes())
    # a process killed (SIGKILL) inside atomic_write, after half of the bytes
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time; from dtd_ik.training.checkpoint import atomic_write\n"
                "def slow(tmp):\n"
                "    with open(tmp, 'wb') as f:\n"
                "        f.write(b'x' * 1000); f.flush(); time.sleep(120)\n"
                f"atomic_write({str(ckpt)!r}, slow)\n"
            ),
        ]
    )
    deadline = time.monotonic() + 120
    while not any(p.stat().st_size for p in run.glob(".checkpoint.pt.*.tmp")):
        assert writer.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    writer.kill()
    writer.wait(timeout=60)
    left = temporaries(run)
    assert len(left) == 1 and ckpt.read_bytes() == (reference / "checkpoint.pt").read_bytes()
    (run / ".checkpoint.pt.notmine.tmp").write_text("kept")  # not atomic_write's name pattern
    # `train --resume` (already at its last epoch: it only exports) cleans up before it starts
    assert train.main(["--resume", str(ckpt), f"out_dir={run}"]) == 0
    assert temporaries(run) == [".checkpoint.pt.notmine.tmp"]


# --- files that do not load -----------------------------------------------------------------
@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, reference) -> dict:
    d = tmp_path_factory.mktemp("bad")
    ckpt = (reference / "checkpoint.pt").read_bytes()
    model = (reference / "model.pt").read_bytes()
    corrupt = bytearray(ckpt)
    with zipfile.ZipFile(reference / "checkpoint.pt") as z:  # the pickle's first bytes
        info = next(i for i in z.infolist() if i.filename.endswith("/data.pkl"))
    local = info.header_offset  # local header: name length at +26, extra length at +28
    start = (
        local
        + 30
        + int.from_bytes(ckpt[local + 26 : local + 28], "little")
        + int.from_bytes(ckpt[local + 28 : local + 30], "little")
    )
    assert ckpt[start] == 0x80  # pickle's PROTO opcode
    corrupt[start : start + 16] = b"\xff" * 16
    files = {
        "missing": None,
        "empty": b"",
        "truncated": ckpt[: len(ckpt) // 2],
        "garbage": b"this is not a checkpoint\n" * 10,
        "corrupt": bytes(corrupt),
        "model": model,
        "truncated_model": model[: len(model) // 2],
    }
    out = {}
    for name, data in files.items():
        out[name] = d / f"{name}.pt"
        if data is not None:
            out[name].write_bytes(data)
    torch.save(Trainer(tiny(d / "x")).net.state_dict(), d / "state_dict.pt")  # wrong kind
    torch.save([1, 2, 3], d / "list.pt")
    state = load_checkpoint(reference / "checkpoint.pt")
    state["config"]["optim"]["lr"] = -1.0  # a checkpoint whose own config is refused
    save_checkpoint(d / "bad_config.pt", state)
    out["state_dict"], out["list"], out["checkpoint"] = (
        d / "state_dict.pt",
        d / "list.pt",
        reference / "checkpoint.pt",
    )
    out["bad_config"] = d / "bad_config.pt"
    return out


CHECKPOINT_CASES = [
    ("missing", "checkpoint file not found"),
    ("empty", "an empty file"),
    ("truncated", "without a complete zip directory: truncated"),
    ("garbage", "without a complete zip directory"),
    ("corrupt", "corrupt (UnpicklingError"),
    ("model", "an exported TorchScript model, not a training checkpoint"),
    ("state_dict", "not a training checkpoint (no 'config'"),
    ("list", "not a training checkpoint (holds a list"),
]


@pytest.mark.parametrize("name, reason", CHECKPOINT_CASES, ids=[c[0] for c in CHECKPOINT_CASES])
def test_train_resume_refuses_a_bad_checkpoint_with_one_line(bad_files, capsys, name, reason):
    path = bad_files[name]
    assert train.main(["--resume", str(path)]) == 2
    line = one_line(capsys.readouterr().err, f"train: --resume: {path}: ")
    assert reason in line
    with pytest.raises(CheckpointError, match=re.escape(reason)):
        load_checkpoint(path)


def test_train_resume_names_the_checkpoint_whose_own_config_is_bad(bad_files, capsys):
    path = bad_files["bad_config"]
    assert train.main(["--resume", str(path)]) == 2
    one_line(
        capsys.readouterr().err,
        f"train: --resume: {path}: its config: optim.lr: must be > 0, got -1.0",
    )


@pytest.mark.parametrize(
    "override", ["model.hidden=64", "model.activation=tanh", "weighting.strategy=dwa"]
)
def test_train_resume_refuses_to_change_the_network_or_strategy(
    tmp_path, reference, capsys, override
):
    ckpt = reference / "checkpoint.pt"
    assert train.main(["--resume", str(ckpt), f"out_dir={tmp_path}", override]) == 2
    one_line(
        capsys.readouterr().err,
        f"train: --resume: {override.split('=')[0]} cannot change in a resumed run",
    )
    assert not (tmp_path / "checkpoint.pt").exists()


@pytest.mark.parametrize("name", ["truncated", "garbage", "model", "state_dict"])
def test_init_from_a_bad_checkpoint_is_refused_with_one_line(tmp_path, bad_files, capsys, name):
    path = bad_files[name]
    assert train.main(["--config", str(TINY), f"out_dir={tmp_path}", f"init_from={path}"]) == 2
    one_line(capsys.readouterr().err, f"train: init_from: {path}: ")
    assert not (tmp_path / "checkpoint.pt").exists()


MODEL_CASES = [
    ("missing", "model file not found"),
    ("truncated_model", "not a readable TorchScript file (PytorchStreamReader"),
    ("garbage", "not a readable TorchScript file"),
    ("checkpoint", "a torch.save archive, such as a training checkpoint"),
    ("state_dict", "a torch.save archive"),
]


@pytest.mark.parametrize("name, reason", MODEL_CASES, ids=[c[0] for c in MODEL_CASES])
def test_evaluate_refuses_a_bad_model_with_one_line(bad_files, capsys, name, reason):
    path = bad_files[name]
    assert evaluate.main(["--model", str(path), "--goals", "4", "--repeats", "1"]) == 2
    line = one_line(capsys.readouterr().err, f"evaluate: {path}: ")
    assert reason in line


def test_the_train_process_itself_exits_with_one_line_on_a_truncated_checkpoint(bad_files):
    path = bad_files["truncated"]
    proc = subprocess.run(
        [sys.executable, "-m", "dtd_ik.training", "--resume", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    one_line(proc.stderr, f"train: --resume: {path}: not a readable checkpoint")
