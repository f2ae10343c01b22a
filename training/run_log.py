"""Per-epoch records of a run: one JSON object per line (``log.jsonl``) and TensorBoard scalars."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def _scalars(record: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_scalars(value, name + "/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = float(value)
    return out


class RunLog:
    """Appends epoch records to ``<run>/log.jsonl`` and, if enabled, ``<run>/tensorboard``.

    On resume the JSONL is cut back to the epochs the checkpoint has seen, so each epoch is
    logged once.
    """

    def __init__(self, run_dir: Path, tensorboard: bool, keep_epochs: int | None = None):
        self.path = Path(run_dir) / "log.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if keep_epochs is not None and self.path.exists():
            kept = [
                line
                for line in self.path.read_text().splitlines()
                if line.strip() and json.loads(line).get("epoch", math.inf) <= keep_epochs
            ]
            self.path.write_text("".join(line + "\n" for line in kept))
        elif keep_epochs is None and self.path.exists():
            self.path.unlink()
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(Path(run_dir) / "tensorboard"))

    def write(self, record: dict[str, Any]) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            step = int(record.get("epoch", 0))
            for name, value in _scalars(record).items():
                if name != "epoch" and math.isfinite(value):
                    self.writer.add_scalar(name, value, step)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``log.jsonl`` file (or of ``<run>/log.jsonl`` given the run folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / "log.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


__all__ = ["RunLog", "read_log"]
