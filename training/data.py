"""Where training samples come from: fixed validation/test splits and fresh draws per epoch.

Two sources with one interface: :class:`SamplerSource` (on the fly, no file) and
:class:`DatasetSource` (a memory-mapped ``.npy`` of (N, 14) rows [x (7), q (7)] written by
``generate_dataset``). Draws use the caller's generator only, so restoring its state replays them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dtd_ik.exceptions import ConfigError

from .dataset import open_rows
from .sampler import ConfigurationSampler
from .samples import Samples


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
            raise ConfigError(f"data.path: {self.path}: {self.size} rows cannot hold {val} val + "
                              f"{test} test")
        self.description = f"dataset {self.path.name} ({self.size} rows)"
        g = torch.Generator().manual_seed(split_seed)
        held = torch.randperm(self.size, generator=g)[:val + test]
        self._held = torch.zeros(self.size, dtype=torch.bool)
        self._held[held] = True
        self._val_rows, self._test_rows = held[:val], held[val:]

    @staticmethod
    def draw_device(train_device: torch.device) -> torch.device:
        """Where :meth:`draw` runs: the host, which holds the memory-mapped rows."""
        return torch.device("cpu")

    def _rows(self, index: torch.Tensor) -> Samples:
        rows = torch.from_numpy(np.ascontiguousarray(self.array[np.sort(index.numpy())]))
        return Samples(rows[:, :7].float(), rows[:, 7:].float())

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


__all__ = ["DatasetSource", "SamplerSource"]
