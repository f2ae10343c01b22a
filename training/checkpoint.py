"""Atomic checkpoint files: written to a temporary file in the same folder, then renamed.

A killed run therefore leaves either the previous complete checkpoint or the new one, never a
half-written file under the checkpoint's name. A write that fails (disk full, file size limit)
removes its temporary file, leaves the previous version in place and raises
:class:`FileWriteError` naming the file and the reason. A checkpoint that cannot be read raises
:class:`CheckpointError`, again one line naming the file and the reason.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from dtd_ik.exceptions import DtdIkError
from dtd_ik.solver.network import torch_archive_kind

#: What a training checkpoint holds (``Trainer.state``); ``--resume`` and ``init_from`` read these.
CHECKPOINT_KEYS = (
    "config",
    "model",
    "strategy",
    "optimizer",
    "epoch",
    "step",
    "global_step",
    "generator",
    "epoch_generator",
    "sums",
    "history",
    "previous_stages",
    "stage",
)


class CheckpointError(DtdIkError):
    """A checkpoint file that is missing, unreadable, truncated or not a training checkpoint."""


class FileWriteError(DtdIkError, OSError):
    """A file that could not be written; its previous version, if any, is unchanged."""


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary path beside ``path``, fsync it, rename it to ``path``.

    Raises:
        FileWriteError: the write, the fsync or the rename failed (``errno`` kept); the
            temporary file is removed and ``path`` is as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _write_error(path, exc) from exc
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except OSError as exc:
        raise _write_error(path, exc) from exc
    finally:
        if tmp.exists():
            tmp.unlink()
    _fsync_dir(path.parent)
    return path


def _write_error(path: Path, exc: OSError) -> FileWriteError:
    kept = "the previous version is unchanged" if path.exists() else "nothing was written"
    err = FileWriteError(f"{path}: could not write ({exc.strerror or exc}); {kept}")
    err.errno = exc.errno
    return err


def remove_temporaries(path: str | Path) -> list[Path]:
    """Delete what :func:`atomic_write` to ``path`` left when its process was killed mid-write.

    Call it only where one process owns ``path`` (a run's main process, the dataset writer).
    """
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[A-Za-z0-9_]{{8}}\.tmp")
    if not path.parent.is_dir():
        return []
    removed = [p for p in path.parent.iterdir() if pattern.fullmatch(p.name)]
    for p in removed:
        p.unlink(missing_ok=True)
    return removed


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable; best effort (some filesystems refuse it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """torch.save ``state`` to ``path`` atomically.

    The state is serialised in memory first and written with Python's file I/O, so a full disk
    reports its own reason (torch's file writer reports only ``unexpected pos``).
    """
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return atomic_write(path, lambda tmp: tmp.write_bytes(buffer.getbuffer()))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The state saved by :func:`save_checkpoint` (on the CPU).

    Raises:
        CheckpointError: one line naming the file and why it is not a usable checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    kind = torch_archive_kind(path)
    if kind == "torchscript":
        raise CheckpointError(
            f"{path}: an exported TorchScript model, not a training checkpoint "
            f"(use the checkpoint.pt of its run)"
        )
    if kind != "pickle":
        size = path.stat().st_size
        what = (
            "an empty file"
            if size == 0
            else (
                "a zip archive without torch.save's data.pkl"
                if kind == "zip"
                else f"{size} bytes without a complete zip directory: truncated, or not "
                "written by torch.save"
            )
        )
        raise CheckpointError(f"{path}: not a readable checkpoint ({what})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # zip, pickle and storage errors all mean the same to the user
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path}: not a readable checkpoint, corrupt ({type(exc).__name__}: {reason})"
        ) from exc
    if not isinstance(state, dict):
        raise CheckpointError(
            f"{path}: not a training checkpoint (holds a "
            f"{type(state).__name__}, not the trainer's state)"
        )
    missing = [k for k in CHECKPOINT_KEYS if k not in state]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise CheckpointError(
            f"{path}: not a training checkpoint (no {', '.join(map(repr, missing[:3]))}{more})"
        )
    if not isinstance(state["config"], dict) or not isinstance(state["model"], dict):
        raise CheckpointError(
            f"{path}: not a training checkpoint (config or model is not a mapping)"
        )
    return state


__all__ = [
    "CHECKPOINT_KEYS",
    "CheckpointError",
    "FileWriteError",
    "atomic_write",
    "load_checkpoint",
    "remove_temporaries",
    "save_checkpoint",
]
