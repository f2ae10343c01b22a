"""Export a trained network as docs/model_format.md asks: TorchScript file + JSON model card."""

from __future__ import annotations

import copy
import io
import json
import os
import subprocess
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from dtd_ik.solver.network import FORMAT_VERSION

from .checkpoint import atomic_write
from .network import IKNet


def git_commit(root: Path | None = None) -> str:
    """``$DTD_IK_GIT_COMMIT`` if set (a copy of the tree on another machine, whose ``.git``, if
    any, may be stale), else the checkout's HEAD commit (suffix ``-dirty`` with local changes),
    else ``unknown``."""
    if os.environ.get("DTD_IK_GIT_COMMIT"):
        return os.environ["DTD_IK_GIT_COMMIT"]
    root = root or Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def model_card(
    model: IKNet,
    name: str,
    architecture: dict[str, Any],
    strategy: str,
    stages: list[dict[str, Any]],
    data: dict[str, Any],
    metrics: dict[str, Any],
) -> dict[str, Any]:
    """The JSON model card of docs/model_format.md."""
    return {
        "format_version": FORMAT_VERSION,
        "name": name,
        "robot": {
            "joint_names": list(model.joint_names),
            "base_frame": model.base_frame,
            "tip_frame": model.tip_frame,
            "q_min": model.q_min.tolist(),
            "q_max": model.q_max.tolist(),
        },
        "architecture": architecture,
        "strategy": strategy,
        "stages": stages,
        "data": data,
        "metrics": metrics,
        "torch_version": torch.__version__,
        "git_commit": git_commit(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def export_model(model: IKNet, path: str | Path, card: dict[str, Any]) -> tuple[Path, Path]:
    """Script ``model`` (a CPU float32 copy in eval mode) to ``path`` and the card to ``.json``.

    Both files are written atomically; returns their paths.
    """
    path = Path(path)
    net = copy.deepcopy(model).to("cpu", torch.float32).eval()
    with warnings.catch_warnings():  # TorchScript is the format the runtime reads
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(net)
    # serialised in memory, written with Python's file I/O: a full disk then names its reason
    # (torch's own file writer says only "unexpected pos"), as save_checkpoint does
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer)
    atomic_write(path, lambda tmp: tmp.write_bytes(buffer.getbuffer()))
    card_path = atomic_write(
        path.with_suffix(".json"), lambda tmp: tmp.write_text(json.dumps(card, indent=2) + "\n")
    )
    return path, card_path


__all__ = ["export_model", "git_commit", "model_card"]
