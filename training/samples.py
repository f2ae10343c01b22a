"""Training samples and where they come from.

A batch is a :class:`Samples` (goal poses x and the joints that reach them). Two sources share one
interface (``splits`` for the fixed validation/test splits, ``draw`` for fresh training samples):
:class:`SamplerSource` draws on the fly with a :class:`ConfigurationSampler` (joints uniform
within the limits, self-collision filtered, FK for the pose; no file), and
:class:`DatasetSource` reads the rows of a memory-mapped ``.npy`` written by ``generate_dataset``
(:func:`open_rows`). Every draw comes from the caller's ``torch.Generator`` only, so a run that
restores the generator state redraws exactly the same samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from dtd_ik.exceptions import ConfigError
from dtd_ik.kinematics.capsules import CapsuleModel
from dtd_ik.kinematics.forward import Kinematics

#: Columns of a pose x: the position p [m], then the unit quaternion x-y-z-w.
POSITION, QUATERNION = slice(0, 3), slice(3, 7)
#: Where the joints start in a dataset row (the pose's width).
POSE_WIDTH = 7
#: Columns of a dataset row: the pose x (7), then the joints q (7) [rad].
ROW = 14


@dataclass(frozen=True)
class Samples:
    """``x`` (N, 7) [p [m], q_xyzw] poses of the tip frame, ``q`` (N, 7) joints [rad], float32."""

    x: Tensor
    q: Tensor

    def __len__(self) -> int:
        return self.x.shape[0]

    def slice(self, start: int, stop: int, step: int = 1) -> Samples:
        return Samples(self.x[start:stop:step], self.q[start:stop:step])

    def to(self, device) -> Samples:
        return Samples(self.x.to(device), self.q.to(device))

    @staticmethod
    def cat(parts: list[Samples]) -> Samples:
        return Samples(torch.cat([p.x for p in parts]), torch.cat([p.q for p in parts]))


def poses_of(kinematics: Kinematics, q: Tensor, tip_frame: str) -> Tensor:
    """(N, 7) joints [rad] -> (N, 7) float32 network inputs [p [m], q_xyzw with w >= 0]."""
    pose = kinematics.forward(q, tip_frame)
    return torch.cat([pose.position, pose.quaternion], dim=-1).to(torch.float32)


class ConfigurationSampler:
    """Draws collision-free configurations and their tip poses.

    Args:
        capsules: the self-collision model (its kinematics gives FK and the limits).
        tip_frame: frame of the poses.
        min_distance: a configuration is kept when its minimum capsule distance is >= this [m].
        chunk: configurations drawn and checked per round.
    """

    def __init__(
        self, capsules: CapsuleModel, tip_frame: str, min_distance: float = 0.0, chunk: int = 16384
    ):
        self.capsules, self.kinematics = capsules, capsules.kinematics
        self.tip_frame, self.min_distance, self.chunk = tip_frame, float(min_distance), int(chunk)

    @torch.no_grad()
    def joints(self, n: int, generator: torch.Generator) -> Tensor:
        """(n, 7) float32 collision-free joints uniform within the limits [rad], on the
        generator's device (a CUDA generator draws on the GPU)."""
        device = generator.device
        lower, upper = self.kinematics.limits(torch.float32, device)
        kept, count = [], 0
        while count < n:
            q = lower + (upper - lower) * torch.rand(
                self.chunk, self.kinematics.dof, generator=generator, device=device
            )
            q = q[self.capsules.distance(q).distance >= self.min_distance]
            kept.append(q)
            count += q.shape[0]
        return torch.cat(kept)[:n]

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> Samples:
        """``n`` collision-free samples (pose, joints)."""
        q = self.joints(n, generator)
        return Samples(poses_of(self.kinematics, q, self.tip_frame), q)


def open_rows(path: str | Path) -> np.ndarray:
    """The (N, 14) float32 rows of a finished dataset file, memory-mapped (read-only).

    Raises:
        ConfigError: one line naming the file: missing, an unfinished run's ``.part`` file,
            not a ``.npy``, truncated, or not (N, 14) float32 rows.
    """
    path = Path(path)
    unfinished = path if path.name.endswith(".part") else path.with_name(path.name + ".part")
    if unfinished.is_file():
        raise ConfigError(
            f"{path}: an unfinished generate_dataset run ({unfinished.name} is "
            f"there); rerun generate_dataset with the same --out to finish it"
        )
    if not path.is_file():
        raise ConfigError(f"{path}: dataset file not found")
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(f)
            offset = f.tell()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a .npy dataset file ({exc})") from exc
    if dtype != np.float32 or fortran or len(shape) != 2 or shape[1] != ROW:
        raise ConfigError(
            f"{path}: expected (N, {ROW}) float32 rows [x, q], got {shape} "
            f"{dtype}{' (Fortran order)' if fortran else ''}"
        )
    expected = offset + shape[0] * ROW * 4
    if size != expected:
        raise ConfigError(
            f"{path}: {size} bytes, its header promises {shape[0]} rows "
            f"({expected} bytes): {'truncated' if size < expected else 'damaged'}"
        )
    return np.load(path, mmap_mode="r")


class SamplerSource:
    """Samples drawn on the fly; the splits come from a generator seeded with ``split_seed``."""

    description = "on-the-fly sampler (uniform joints, capsule self-collision filtered)"

    def __init__(self, sampler: ConfigurationSampler, split_seed: int):
        self.sampler, self.split_seed = sampler, split_seed
        self.size = None  # unbounded

    @staticmethod
    def draw_device(train_device: torch.device) -> torch.device:
        """Where :meth:`draw` runs (its generator's device): the training device, so a GPU run
        draws its samples on the GPU instead of waiting for the host's."""
        return torch.device(train_device)

    def splits(self, val: int, test: int) -> tuple[Samples, Samples]:
        """The fixed validation and test splits, on the host (the same on every device)."""
        g = torch.Generator().manual_seed(self.split_seed)
        both = self.sampler.sample(val + test, g)
        return both.slice(0, val), both.slice(val, val + test)

    def draw(self, n: int, generator: torch.Generator) -> Samples:
        return self.sampler.sample(n, generator)


class DatasetSource:
    """Rows of a (N, 14) float32 ``.npy`` file, memory-mapped; val/test rows are held out."""

    def __init__(self, path: str | Path, split_seed: int, val: int, test: int):
        self.path = Path(path)
        try:
            self.array = open_rows(self.path)
        except ConfigError as exc:
            raise ConfigError(f"data.path: {exc}") from exc
        self.size = self.array.shape[0]
        if val + test >= self.size:
            raise ConfigError(
                f"data.path: {self.path}: {self.size} rows cannot hold {val} val + {test} test"
            )
        self.description = f"dataset {self.path.name} ({self.size} rows)"
        g = torch.Generator().manual_seed(split_seed)
        held = torch.randperm(self.size, generator=g)[: val + test]
        self._held = torch.zeros(self.size, dtype=torch.bool)
        self._held[held] = True
        self._val_rows, self._test_rows = held[:val], held[val:]

    @staticmethod
    def draw_device(train_device: torch.device) -> torch.device:
        """Where :meth:`draw` runs: the host, which holds the memory-mapped rows."""
        return torch.device("cpu")

    def _rows(self, index: torch.Tensor) -> Samples:
        rows = torch.from_numpy(np.ascontiguousarray(self.array[np.sort(index.numpy())]))
        return Samples(rows[:, :POSE_WIDTH].float(), rows[:, POSE_WIDTH:].float())

    def splits(self, val: int, test: int) -> tuple[Samples, Samples]:
        return self._rows(self._val_rows), self._rows(self._test_rows)

    def draw(self, n: int, generator: torch.Generator) -> Samples:
        """``n`` training rows drawn uniformly (with replacement) from the non-held-out rows."""
        picked = []
        count = 0
        while count < n:
            idx = torch.randint(self.size, (n - count,), generator=generator)
            idx = idx[~self._held[idx]]
            picked.append(idx)
            count += idx.numel()
        index = torch.cat(picked)
        order = torch.argsort(index)
        rows = self._rows(index)  # sorted for the memory map; put back in random order
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(order.numel())
        return Samples(rows.x[inverse], rows.q[inverse])


__all__ = [
    "POSITION",
    "POSE_WIDTH",
    "QUATERNION",
    "ROW",
    "ConfigurationSampler",
    "DatasetSource",
    "SamplerSource",
    "Samples",
    "open_rows",
    "poses_of",
]
