"""One optimiser step of a training stage, three ways (``optim.step``):

- ``eager``: plain torch, one kernel launch per op (the default; any device, any strategy).
- ``compiled``: the forward pass, objective and weighting through ``torch.compile`` (its backward
  compiled by AOTAutograd), and gradient clipping + AdamW step compiled as a second graph. With
  ``optim.compile_mode: reduce-overhead`` inductor replays both as CUDA graphs on a GPU; on the
  CPU the same code runs as inductor's C++ kernels, which is how the tests keep it checked.
- ``cuda_graph``: the whole step (forward, FK, capsules, weighting, backward, clipping, AdamW) is
  captured once into one ``torch.cuda.CUDAGraph`` over a static input batch and replayed.

The captured paths need what a graph can replay: AdamW with ``capturable=True`` and its lr as a
device tensor (the schedule writes into it, :func:`set_group_lr`), no host reads inside the step,
one process. A step returns its values as device tensors; the caller sums them on the device, so
no step waits for the host.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .objective import IKObjective
from .weighting import WeightingStrategy

#: The ``optim.step`` choices.
STEP_MODES = ("eager", "compiled", "cuda_graph")
#: The ``optim.compile_mode`` choices (torch.compile's modes).
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@dataclass
class StepParts:
    """What one step touches: the network (or its DDP wrapper as ``model``), the objective, the
    strategy, the optimiser, the max gradient norm (0 = off), and the hooks that average the
    losses / the strategy's gradients over data-parallel processes (identity when single)."""

    net: nn.Module
    model: nn.Module
    objective: IKObjective
    strategy: WeightingStrategy
    optimizer: torch.optim.Optimizer
    grad_clip: float
    mean: Callable[[Tensor], Tensor] = lambda t: t.detach().clone()
    average_grads: Callable[[object], None] = lambda params: None


def step_values(losses: Tensor, out) -> dict[str, Tensor]:
    """The detached per-step values the epoch sums keep: (T,) ``loss``, (T,) ``weights``,
    the scalar ``total`` and the strategy's extras."""
    return {
        "loss": losses.detach(),
        "weights": out.weights.detach(),
        "total": out.total.detach(),
        **{k: v.detach() for k, v in out.extras.items()},
    }


class EagerStep:
    """The reference step: forward, objective, weighting, backward, clip, AdamW, the strategy's
    after-step hook, op by op."""

    def __init__(self, parts: StepParts):
        self.parts = parts

    def __call__(self, x: Tensor) -> dict[str, Tensor]:
        """(B, 7) goal poses [p [m], q_xyzw] on the training device -> the step's values."""
        p = self.parts
        tasks = p.objective(p.model(x), x)
        stats = p.mean(tasks.losses)
        out = p.strategy(tasks.losses, stats)
        p.optimizer.zero_grad(set_to_none=True)
        out.total.backward()
        p.average_grads(p.strategy.parameters())
        if p.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(p.net.parameters(), p.grad_clip)
        p.optimizer.step()
        p.strategy.after_step()
        return step_values(stats, out)


class CompiledStep:
    """The same step with its two halves through ``torch.compile`` (see the module docstring).

    Args:
        parts: the step's parts; the optimiser's lrs must be tensors (:func:`set_group_lr`).
        mode: torch.compile's mode.
    """

    def __init__(self, parts: StepParts, mode: str = "reduce-overhead"):
        self.parts = parts
        self._forward = torch.compile(self._losses, mode=mode, dynamic=False)
        self._update = torch.compile(self._apply, mode=mode, dynamic=False)

    def _losses(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        p = self.parts
        tasks = p.objective(p.model(x), x)
        out = p.strategy(tasks.losses, tasks.losses.detach())
        return out.total, step_values(tasks.losses, out)

    def _apply(self) -> None:
        p = self.parts
        if p.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(p.net.parameters(), p.grad_clip)
        p.optimizer.step()

    def __call__(self, x: Tensor) -> dict[str, Tensor]:
        p = self.parts
        total, values = self._forward(x)
        p.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self._update()
        p.strategy.after_step()
        # a CUDA-graph replay reuses its output buffers: the caller gets its own copies
        return {k: v.clone() for k, v in values.items()}


class TrainingState:
    """Every tensor a step changes (parameters, buffers, optimiser state), to put back.

    A CUDA graph is captured after warm-up steps on a side stream; those steps change the
    weights, AdamW's moments and step count, and the strategy's fixed alpha. Restoring them (in
    place: the graph keeps the same storages) makes the captured run start where the eager one
    does. State that the warm-up created (AdamW's, lazily) is reset to AdamW's own fresh state:
    zeros for the moments and the step count.
    """

    def __init__(self, modules: list[nn.Module], optimizer: torch.optim.Optimizer):
        self.modules, self.optimizer = modules, optimizer
        self._saved: dict[int, Tensor] = {}

    def _tensors(self) -> list[Tensor]:
        out = [t for m in self.modules for t in (*m.parameters(), *m.buffers())]
        out += [
            v for s in self.optimizer.state.values() for v in s.values() if isinstance(v, Tensor)
        ]
        out += [g["lr"] for g in self.optimizer.param_groups if isinstance(g["lr"], Tensor)]
        return out

    def save(self) -> None:
        self._saved = {id(t): t.detach().clone() for t in self._tensors()}

    @torch.no_grad()
    def restore(self) -> None:
        """Every saved tensor back to its saved value, every tensor made since to zero."""
        for t in self._tensors():
            saved = self._saved.get(id(t))
            if saved is None:
                t.zero_()
            else:
                t.copy_(saved)
        for m in self.modules:
            for param in m.parameters():
                param.grad = None


def warm_up(step: Callable[[], object], state: TrainingState, steps: int) -> None:
    """Run ``step()`` ``steps`` times (allocations and lazy state settle, as capture needs), then
    put every tensor the steps changed back to its value before."""
    state.save()
    for _ in range(steps):
        step()
    state.restore()


class StaticInput:
    """A fixed buffer a captured graph reads its batch from; each step copies the new batch in.

    Args:
        shape, dtype, device: the batch's; every later batch must match.
    """

    def __init__(self, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device):
        self.buffer = torch.zeros(shape, dtype=dtype, device=device)

    def load(self, x: Tensor) -> Tensor:
        if x.shape != self.buffer.shape or x.dtype != self.buffer.dtype:
            raise ValueError(
                f"a captured step takes batches of {tuple(self.buffer.shape)} "
                f"{self.buffer.dtype}, got {tuple(x.shape)} {x.dtype}"
            )
        self.buffer.copy_(x, non_blocking=True)
        return self.buffer


class CudaGraphStep:
    """The whole eager step captured into one CUDA graph on the first call, replayed after.

    Args:
        parts: the step's parts (single process; capturable AdamW with tensor lrs).
        warmup_steps: eager steps on a side stream before capture (undone, :func:`warm_up`).
    """

    def __init__(self, parts: StepParts, warmup_steps: int = 3):
        self.parts = parts
        self.warmup_steps = warmup_steps
        self._eager = EagerStep(parts)
        self._graph: torch.cuda.CUDAGraph | None = None
        self._input: StaticInput | None = None
        self._values: dict[str, Tensor] = {}

    def _body(self) -> dict[str, Tensor]:
        assert self._input is not None
        p = self.parts
        tasks = p.objective(p.model(self._input.buffer), self._input.buffer)
        out = p.strategy(tasks.losses, tasks.losses.detach())
        out.total.backward()
        if p.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(p.net.parameters(), p.grad_clip)
        p.optimizer.step()
        p.strategy.after_step()
        return step_values(tasks.losses, out)

    def _capture(self, x: Tensor) -> None:
        self._input = StaticInput(tuple(x.shape), x.dtype, x.device)
        self._input.load(x)
        state = TrainingState([self.parts.net, self.parts.strategy], self.parts.optimizer)
        side = torch.cuda.Stream(x.device)
        side.wait_stream(torch.cuda.current_stream(x.device))
        with torch.cuda.stream(side):

            def one() -> None:
                self.parts.optimizer.zero_grad(set_to_none=True)
                self._body()

            warm_up(one, state, self.warmup_steps)
        torch.cuda.current_stream(x.device).wait_stream(side)
        self._graph = torch.cuda.CUDAGraph()
        self.parts.optimizer.zero_grad(set_to_none=True)
        with torch.cuda.graph(self._graph):
            self._values = self._body()

    def __call__(self, x: Tensor) -> dict[str, Tensor]:
        if self._graph is None:
            self._capture(x)
        else:
            self._input.load(x)
        # captured with every .grad None, the graph's backward writes (not adds) the gradients
        # into its own storages: nothing to zero between replays
        self._graph.replay()
        return {k: v.clone() for k, v in self._values.items()}


def set_group_lr(group: dict, lr: float) -> None:
    """Set a group's lr for the coming step: in place when it is a tensor (a captured step reads
    that tensor; a new Python float would mean a recompile or a stale graph)."""
    if isinstance(group["lr"], Tensor):
        group["lr"].fill_(lr)
    else:
        group["lr"] = lr


def lr_tensors(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """Turn every group's lr into a 0-d float32 tensor on ``device`` (what a captured AdamW step
    reads); already-tensor lrs move there."""
    for group in optimizer.param_groups:
        group["lr"] = torch.as_tensor(float(group["lr"]), dtype=torch.float32, device=device)


def make_step(mode: str, parts: StepParts, compile_mode: str = "reduce-overhead"):
    """The step of ``optim.step`` = ``mode`` (one of :data:`STEP_MODES`)."""
    if mode == "eager":
        return EagerStep(parts)
    if mode == "compiled":
        return CompiledStep(parts, compile_mode)
    if mode == "cuda_graph":
        return CudaGraphStep(parts)
    raise ValueError(f"unknown step mode {mode!r}; known: {', '.join(STEP_MODES)}")


__all__ = [
    "COMPILE_MODES",
    "STEP_MODES",
    "CompiledStep",
    "CudaGraphStep",
    "EagerStep",
    "StaticInput",
    "StepParts",
    "TrainingState",
    "lr_tensors",
    "make_step",
    "set_group_lr",
    "step_values",
    "warm_up",
]
