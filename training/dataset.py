"""The paper's dataset: every joint range cut into ``points`` intervals (16: 16^7 = 268,435,456
combinations, the interval centres, so no configuration lies outside the limits or twice),
self-colliding ones removed with the capsule model, the rest sampled down, stratified, to a
target size; FK gives the 7-D pose. Output: one (N, 14) float32 ``.npy`` of rows [x (7), q (7)],
memory-mappable.

Bounded memory: the grid is walked in chunks of consecutive linear indices (joint 1 is the most
significant digit, so a chunk of points^k indices is one cell of the leading joints: a stratum).
Each stratum keeps ``keep * valid`` of its collision-free configurations (cumulative rounding, so
the total tracks ``keep * all valid``), chosen at random with a generator seeded by the chunk's
index. ``keep`` comes from a pilot estimate of the valid fraction.

Crash safety: rows are appended to ``<out>.part`` and a state file is replaced atomically after
every chunk; a rerun cuts the part file back to the recorded size and continues. The ``.npy``
appears only at the end (written to a temporary name, fsync'd, renamed), then ``<out>.json``
holding the counts and the rate; a run killed between the two is finished by a rerun. Readers
open the file with :func:`.samples.open_rows`, which refuses an unfinished or truncated file by
name.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from dtd_ik.kinematics.capsules import CapsuleModel

from .checkpoint import FileWriteError, atomic_write, remove_temporaries
from .samples import ROW, poses_of


@dataclass(frozen=True)
class GridSpec:
    """What to generate; a resumed run must ask for exactly the same."""

    points: int = 16  # intervals per joint
    target: int = 32_462_548  # rows wanted after stratified sampling
    chunk: int = 16**5  # grid configurations per chunk (one stratum)
    min_distance: float = 0.0  # keep configurations with capsule distance >= this [m]
    tip_frame: str = "panda_hand"
    seed: int = 0
    pilot: int = 200_000  # random grid points for the valid-fraction estimate
    batch: int = 65_536  # configurations per capsule evaluation (bounds memory)


def grid_joints(
    index: torch.Tensor, points: int, lower: torch.Tensor, span: torch.Tensor
) -> torch.Tensor:
    """(N,) linear grid indices -> (N, n) interval-centre joints [rad].

    Joint 1 is the most significant digit.
    """
    n = lower.shape[0]
    digits = torch.empty(index.shape[0], n, dtype=torch.long)
    rest = index.clone()
    for j in range(n - 1, -1, -1):
        digits[:, j] = rest % points
        rest //= points
    return lower + (digits.to(lower.dtype) + 0.5) * span / points


class GridDatasetWriter:
    """Generates the dataset of ``spec`` at ``out`` (``.npy``), resuming a previous attempt."""

    def __init__(self, capsules: CapsuleModel, spec: GridSpec, out: str | Path):
        self.capsules, self.spec, self.out = capsules, spec, Path(out)
        kin = capsules.kinematics
        self.lower, upper = kin.limits(torch.float64)
        self.span = upper - self.lower
        self.dof = kin.dof
        self.total = spec.points**self.dof
        if self.total % spec.chunk:
            raise ValueError(f"chunk {spec.chunk} must divide the grid size {self.total}")
        self.part = self.out.with_name(self.out.name + ".part")
        self.state_path = self.out.with_name(self.out.name + ".state.json")

    # --- pieces -------------------------------------------------------------------------
    def _valid(self, q: torch.Tensor) -> torch.Tensor:
        """(N, n) joints -> (N,) bool, capsule distance >= min_distance, in bounded batches."""
        out = []
        for start in range(0, q.shape[0], self.spec.batch):
            part = q[start : start + self.spec.batch].to(torch.float32)
            out.append(self.capsules.distance(part).distance >= self.spec.min_distance)
        return torch.cat(out)

    def estimate_valid_fraction(self) -> float:
        g = torch.Generator().manual_seed(self.spec.seed + 1)
        n = min(self.spec.pilot, self.total)
        index = torch.randint(self.total, (n,), generator=g)
        q = grid_joints(index, self.spec.points, self.lower, self.span)
        return float(self._valid(q).double().mean())

    def _fresh_state(self) -> dict:
        fraction = self.estimate_valid_fraction()
        keep = min(1.0, self.spec.target / max(fraction * self.total, 1.0))
        return {
            "spec": asdict(self.spec),
            "pilot_valid_fraction": fraction,
            "keep": keep,
            "next_chunk": 0,
            "rows": 0,
            "valid": 0,
            "seen": 0,
            "seconds": 0.0,
        }

    def _save_state(self, state: dict) -> None:
        atomic_write(self.state_path, lambda tmp: tmp.write_text(json.dumps(state)))

    def _load_state(self) -> dict | None:
        if not self.state_path.is_file():
            return None
        state = json.loads(self.state_path.read_text())
        if state["spec"] != asdict(self.spec):
            raise ValueError(
                f"{self.state_path}: an unfinished run with other settings "
                f"({state['spec']}); delete it or ask for the same"
            )
        return state

    def _chunk_rows(self, c: int, state: dict) -> np.ndarray:
        spec = self.spec
        index = torch.arange(c * spec.chunk, (c + 1) * spec.chunk)
        q = grid_joints(index, spec.points, self.lower, self.span)
        valid = self._valid(q)
        n_valid = int(valid.sum())
        before = round(state["keep"] * state["valid"])
        state["valid"] += n_valid
        quota = round(state["keep"] * state["valid"]) - before
        g = torch.Generator().manual_seed(spec.seed * 1_000_003 + c)
        pick = torch.nonzero(valid)[:, 0]
        pick = pick[torch.randperm(n_valid, generator=g)[:quota]].sort().values
        q = q[pick]
        x = poses_of(self.capsules.kinematics, q, spec.tip_frame).double()
        return torch.cat([x, q], dim=1).to(torch.float32).numpy()

    # --- the run ------------------------------------------------------------------------
    def run(self, progress: bool = True, after_chunk: Callable[[int], None] | None = None) -> dict:
        """Generate (or finish) the dataset; returns the metadata written to ``<out>.json``."""
        n_chunks = self.total // self.spec.chunk
        for path in (self.out, self.out.with_suffix(".json"), self.state_path):
            remove_temporaries(path)  # left by a run killed inside an atomic write
        state = self._load_state()
        if self.out.is_file():
            if state is None or state["next_chunk"] < n_chunks:
                raise FileExistsError(f"{self.out} exists; remove it to generate again")
            return self._finish(state)  # killed after the .npy appeared: write the rest
        self.out.parent.mkdir(parents=True, exist_ok=True)
        state = state or self._fresh_state()
        with open(self.part, "ab") as f:
            f.truncate(state["rows"] * ROW * 4)  # drop rows written after the last state
        bar = tqdm(
            range(state["next_chunk"], n_chunks),
            total=n_chunks,
            initial=state["next_chunk"],
            unit="chunk",
            disable=not progress,
            desc=f"grid {self.spec.points}^{self.dof}",
        )
        for c in bar:
            t0 = time.perf_counter()
            rows = self._chunk_rows(c, state)
            try:
                with open(self.part, "ab") as f:
                    f.write(rows.tobytes())
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as exc:  # disk full: the state still ends at the previous chunk
                raise FileWriteError(
                    f"{self.part}: could not append chunk {c} "
                    f"({exc.strerror or exc}); a rerun continues from it"
                ) from exc
            state["rows"] += rows.shape[0]
            state["seen"] += self.spec.chunk
            state["next_chunk"] = c + 1
            state["seconds"] += time.perf_counter() - t0
            self._save_state(state)
            bar.set_postfix(rate=f"{state['seen'] / state['seconds']:.0f}/s", rows=state["rows"])
            if after_chunk is not None:
                after_chunk(c)
        bar.close()
        return self._finish(state)

    def _finish(self, state: dict) -> dict:
        rows = state["rows"]

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as out, open(self.part, "rb") as src:
                np.lib.format.write_array_header_1_0(
                    out, {"descr": "<f4", "fortran_order": False, "shape": (rows, ROW)}
                )
                while block := src.read(64 << 20):
                    out.write(block)

        if not self.out.is_file():  # present: renamed into place, so complete
            atomic_write(self.out, write)
        meta = {
            "file": self.out.name,
            "rows": rows,
            "columns": [
                "px",
                "py",
                "pz",
                "qx",
                "qy",
                "qz",
                "qw",
                "q1",
                "q2",
                "q3",
                "q4",
                "q5",
                "q6",
                "q7",
            ],
            "grid_points": self.spec.points,
            "grid_size": self.total,
            "collision_free": state["valid"],
            "colliding": self.total - state["valid"],
            "pilot_valid_fraction": state["pilot_valid_fraction"],
            "keep": state["keep"],
            "spec": asdict(self.spec),
            "seconds": state["seconds"],
            "configurations_per_s": state["seen"] / max(state["seconds"], 1e-9),
        }
        atomic_write(
            self.out.with_suffix(".json"),
            lambda tmp: tmp.write_text(json.dumps(meta, indent=2) + "\n"),
        )
        self.part.unlink(missing_ok=True)
        self.state_path.unlink()  # last: while it exists, a rerun finishes these steps
        return meta


__all__ = ["GridDatasetWriter", "GridSpec", "grid_joints"]
