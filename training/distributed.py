"""Data-parallel plumbing over torch.distributed: one process per device, launched by torchrun.

Without torchrun's environment (``WORLD_SIZE`` unset or 1) everything here is a no-op, so the same
trainer runs single-process. Work that only rank 0 does (validation, log, checkpoint, export) goes
through :meth:`DistContext.together`, so a rank 0 that fails there stops every rank at once with
its error, not later with the transport's error (or a timeout) in the next collective.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import Tensor

from dtd_ik.exceptions import DtdIkError

T = TypeVar("T")


class PeerFailedError(DtdIkError):
    """Another process of the data-parallel job failed; this one stops with it."""


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job: ``rank`` of ``world_size`` (1 = not distributed)."""

    rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def mean(self, t: Tensor) -> Tensor:
        """The mean of ``t`` over all processes (a detached copy)."""
        t = t.detach().clone()
        if self.enabled:
            dist.all_reduce(t)
            t /= self.world_size
        return t

    def any(self, flag: bool, device: torch.device) -> bool:
        """True when ``flag`` is set on any process."""
        if not self.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def average_grads(self, params: Iterable[torch.nn.Parameter]) -> None:
        """Average the gradients of parameters DDP does not own (the strategy's)."""
        if not self.enabled:
            return
        for p in params:
            if p.grad is not None:
                dist.all_reduce(p.grad)
                p.grad /= self.world_size

    def together(self, action: Callable[[], T]) -> T:
        """``action()`` here, then every process learns whether it failed on any of them.

        A process whose ``action`` raised re-raises its own error; the others raise
        :class:`PeerFailedError` naming the lowest failed rank and its error. Every process must
        call this at the same point. Single-process it is just ``action()``.
        """
        if not self.enabled:
            return action()
        try:
            result = action()
        except Exception as exc:
            self._share_failure(
                str(exc) if isinstance(exc, DtdIkError) else f"{type(exc).__name__}: {exc}"
            )
            raise
        self._share_failure(None)
        return result

    def _share_failure(self, failure: str | None) -> None:
        failures: list[str | None] = [None] * self.world_size
        dist.all_gather_object(failures, failure)
        if failure is None:
            for rank, message in enumerate(failures):
                if message is not None:
                    raise PeerFailedError(f"rank {rank} failed: {message}")


def setup_distributed(device: str) -> tuple[DistContext, torch.device]:
    """Join torchrun's process group if there is one; returns the context and this rank's device.

    CUDA jobs use NCCL and device ``cuda:LOCAL_RANK``; CPU jobs use gloo.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext(), torch.device(device)
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device.startswith("cuda")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    if cuda:
        torch.cuda.set_device(local)
        return DistContext(rank, world), torch.device("cuda", local)
    return DistContext(rank, world), torch.device("cpu")


#: How long a finished rank waits for the others before tearing the group down [s].
FINISH_TIMEOUT = 120.0


def finish_distributed() -> None:
    """After a run that ended normally: wait until every rank has finished too. Without it the
    first rank to leave destroys its gloo context while a peer's still runs, and that peer can
    abort at exit ("terminate called without an active exception", exit code -6)."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    if dist.get_backend() == "gloo":  # a peer that died is named after the timeout, not hung on
        dist.monitored_barrier(timeout=timedelta(seconds=FINISH_TIMEOUT))
    else:
        dist.barrier()


def teardown_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


__all__ = [
    "DistContext",
    "PeerFailedError",
    "finish_distributed",
    "setup_distributed",
    "teardown_distributed",
]
