"""The training loop: epochs of fresh samples, weighted task losses, AdamW, validation, logging,
checkpoints every epoch and on SIGINT/SIGTERM, bit-for-bit resume, optional DDP, export.

A checkpoint holds everything the loop's future depends on (network, strategy, optimiser, the
sample generator's state at the start of the current epoch, the step reached in it and the epoch's
running sums), so a resumed run replays exactly what an uninterrupted run would have done.
"""

from __future__ import annotations

import dataclasses
import math
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from dtd_ik.exceptions import ConfigError

from .builder import (
    build_network,
    build_optimizer,
    build_robot,
    build_source,
    build_strategy,
    network_spec,
)
from .checkpoint import load_checkpoint, remove_temporaries, save_checkpoint
from .config import ModelConfig, TrainConfig
from .distributed import setup_distributed
from .early_stop import EarlyStop
from .export import export_model, model_card
from .objective import split_errors
from .run_log import RunLog
from .schedule import lr_factor
from .step import StepParts, lr_tensors, make_step, set_group_lr
from .weighting import TASKS

CHECKPOINT = "checkpoint.pt"
MODEL = "model.pt"


@dataclass
class TrainResult:
    """How a run ended: its folder, the epochs done, whether a signal stopped it, and when it
    finished, the test split's metrics and the exported model file."""

    run_dir: Path
    epochs_done: int
    interrupted: bool
    test_metrics: dict[str, float] = field(default_factory=dict)
    model_path: Path | None = None


class _EpochSums:
    """Running sums of an epoch's per-step values, keyed by name, each a (T,) tensor."""

    def __init__(self, state: dict | None = None):
        self.sums: dict[str, torch.Tensor] = dict(state["sums"]) if state else {}
        self.steps: int = state["steps"] if state else 0
        self.seconds: float = state["seconds"] if state else 0.0
        self.samples: int = state["samples"] if state else 0

    def add(self, values: dict[str, torch.Tensor]) -> None:
        # summed where the values are (a GPU step never waits for a copy to the host)
        for k, v in values.items():
            v = v.detach().double()
            self.sums[k] = self.sums[k].to(v.device) + v if k in self.sums else v.clone()
        self.steps += 1

    def means(self) -> dict[str, torch.Tensor]:
        return {k: v.cpu() / max(self.steps, 1) for k, v in self.sums.items()}

    def state(self) -> dict:
        return {
            "sums": {k: v.cpu() for k, v in self.sums.items()},
            "steps": self.steps,
            "seconds": self.seconds,
            "samples": self.samples,
        }


def _per_task(t: torch.Tensor) -> dict[str, float]:
    return {task: float(v) for task, v in zip(TASKS, t)}


class Trainer:
    """One training stage as configured by ``cfg``.

    Args:
        cfg: the validated configuration.
        on_step: called as ``on_step(epoch, step)`` after every optimiser step (tests use it).
    """

    def __init__(self, cfg: TrainConfig, on_step: Callable[[int, int], None] | None = None):
        self.cfg = cfg
        self.on_step = on_step
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.dist, self.device = setup_distributed(cfg.device)
        if cfg.optim.batch_size % self.dist.world_size:
            raise ConfigError(
                f"optim.batch_size: {cfg.optim.batch_size} does not split over "
                f"{self.dist.world_size} processes"
            )
        self.run_dir = Path(cfg.out_dir)
        self.robot = build_robot(cfg)
        self.source = build_source(cfg, self.robot)
        self.val, self.test = self.source.splits(cfg.data.val_size, cfg.data.test_size)
        self.net = build_network(cfg, self.robot, self.val)
        self.strategy = build_strategy(cfg)
        self.stages: list[dict[str, Any]] = []
        if cfg.init_from:
            self._init_from(Path(cfg.init_from))
        self.net.to(self.device)
        self.strategy.to(self.device)
        self.strategy.bind(self.net)
        self.optimizer = build_optimizer(cfg, self.net, self.strategy)
        for group in self.optimizer.param_groups:  # the schedule scales each group's start lr
            group.setdefault("initial_lr", group["lr"])
        self._lr_kind()
        self.model = DistributedDataParallel(self.net) if self.dist.enabled else self.net
        if cfg.optim.step != "eager" and self.dist.enabled:
            raise ConfigError(f"optim.step: {cfg.optim.step} runs single-process only")
        self.train_step = make_step(
            cfg.optim.step,
            StepParts(
                self.net,
                self.model,
                self.robot.objective,
                self.strategy,
                self.optimizer,
                cfg.optim.grad_clip,
                self.dist.mean,
                self.dist.average_grads,
            ),
            cfg.optim.compile_mode,
        )
        self.generator = torch.Generator(self.source.draw_device(self.device))
        self.generator.manual_seed(cfg.seed)
        self.epoch, self.step, self.global_step = 0, 0, 0
        self.epoch_generator_state: torch.Tensor | None = None
        self.sums = _EpochSums()
        self.history: list[dict[str, Any]] = []
        s = cfg.stop
        self.early_stop = EarlyStop(s.metric, s.patience, s.min_delta)
        self._stop = False
        self._epoch_started: float | None = None

    # --- stages and checkpoints ----------------------------------------------------------
    def _init_from(self, path: Path) -> None:
        """Start this stage from a previous stage's network (and s_t when the strategy agrees)."""
        prev = load_checkpoint(path)
        prev_model = prev["config"]["model"]
        for key in (
            "hidden",
            "blocks",
            "activation",
            "hidden_activation",
            "tip_frame",
            "input_features",
        ):
            # checkpoints from before a key existed used its default
            theirs = prev_model.get(key, getattr(ModelConfig(), key))
            if theirs != getattr(self.cfg.model, key):
                raise ConfigError(
                    f"model.{key}: {getattr(self.cfg.model, key)!r} differs from "
                    f"the init_from checkpoint's {theirs!r}"
                )
        self.net.load_state_dict(prev["model"])
        w = self.cfg.weighting
        if prev["config"]["weighting"]["strategy"] == w.strategy:
            self.strategy.load_state_dict(prev["strategy"])
            t = w.targets
            self.strategy.start_stage((t.pos, t.ori, t.coll), refit_alpha=w.alpha == "refit")
        elif w.alpha == "keep":
            raise ConfigError(
                f"weighting.alpha: keep needs the init_from checkpoint's strategy "
                f"({prev['config']['weighting']['strategy']}), not {w.strategy}"
            )
        self.stages = list(prev["previous_stages"]) + [prev["stage"]]

    def _stage_record(self) -> dict[str, Any]:
        t = self.cfg.weighting.targets
        return {
            "stage": self.cfg.stage,
            "strategy": self.cfg.weighting.strategy,
            "alpha": self.cfg.weighting.alpha,
            # patience > 0: the best validation epoch (its weights exported if restore_best)
            "early_stop": self.early_stop.record() if self.cfg.stop.patience else None,
            "targets": {"pos": t.pos, "ori": t.ori, "coll": t.coll},
            "lr": self.cfg.optim.lr,
            "param_lr": self.cfg.optim.lr * self.cfg.weighting.param_lr_scale,
            "epochs": self.epoch,
            "batch_size": self.cfg.optim.batch_size,
            "train_per_epoch": self.cfg.data.train_per_epoch,
            "init_from": self.cfg.init_from,
            "device": str(self.device),
            "world_size": self.dist.world_size,
        }

    def state(self) -> dict[str, Any]:
        return {
            "config": self.cfg.to_dict(),
            "model": self.net.state_dict(),
            "strategy": self.strategy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "global_step": self.global_step,
            "generator": self.generator.get_state(),
            "epoch_generator": self.epoch_generator_state,
            "sums": self.sums.state() if self.step else None,
            "history": self.history,
            "early_stop": self.early_stop.state_dict(),
            "previous_stages": self.stages,
            "stage": self._stage_record(),
            "world_size": self.dist.world_size,
        }

    def save(self) -> Path | None:
        if not self.dist.is_main:
            return None
        return save_checkpoint(self.run_dir / CHECKPOINT, self.state())

    def clear_temporaries(self) -> None:
        """Rank 0: delete what a process killed mid-write left beside the run's files."""
        if self.dist.is_main:
            for name in (CHECKPOINT, MODEL, Path(MODEL).with_suffix(".json").name):
                remove_temporaries(self.run_dir / name)

    def resume(self, path: Path) -> None:
        """Continue from a checkpoint written by :meth:`save` of the same configuration."""
        state = load_checkpoint(path)
        self.net.load_state_dict(state["model"])
        self.strategy.load_state_dict(state["strategy"])
        self.optimizer.load_state_dict(state["optimizer"])
        for group in self.optimizer.param_groups:  # checkpoints from before the schedule
            group.setdefault("initial_lr", float(group["lr"]))
        self._lr_kind()
        self.epoch, self.step = state["epoch"], state["step"]
        self.global_step = state["global_step"]
        self.generator.set_state(state["generator"])
        self.epoch_generator_state = state["epoch_generator"]
        self.sums = _EpochSums(state["sums"]) if state["sums"] else _EpochSums()
        self.history = list(state["history"])
        if state.get("early_stop") is not None:  # checkpoints from before early stopping
            self.early_stop.load_state_dict(state["early_stop"])
        self.stages = list(state["previous_stages"])

    def _lr_kind(self) -> None:
        """AdamW as this run's step needs it, whatever a loaded checkpoint's groups said: a
        captured step reads device-tensor lrs and a device step count (capturable); the eager
        step plain floats and a host step count."""
        captured = self.cfg.optim.step != "eager"
        for group in self.optimizer.param_groups:
            group["capturable"] = captured
            if not captured:
                group["lr"] = float(group["lr"])
            for param in group["params"]:
                st = self.optimizer.state.get(param, {})
                if "step" in st:
                    st["step"] = st["step"].to(param.device if captured else "cpu", torch.float32)
        if captured:
            lr_tensors(self.optimizer, self.device)

    # --- the loop -----------------------------------------------------------------------
    def _request_stop(self, signum, frame) -> None:
        self._stop = True

    def run(self, resume: Path | None = None) -> TrainResult:
        """Train to ``cfg.epochs``. Under DDP, what only rank 0 does (log, validation, checkpoint,
        export) is joined by every rank (``DistContext.together``): when it fails there, rank 0
        raises its error and the others :class:`~.distributed.PeerFailedError`."""
        together = self.dist.together
        if resume is not None:
            together(lambda: self.resume(resume))
        log = together(
            lambda: (
                RunLog(
                    self.run_dir,
                    self.cfg.log.tensorboard,
                    keep_epochs=self.epoch if resume is not None else None,
                )
                if self.dist.is_main
                else None
            )
        )
        old = {s: signal.signal(s, self._request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            while self.epoch < self.cfg.epochs:
                if not self._train_epoch():
                    together(self.save)
                    return TrainResult(self.run_dir, self.epoch, True)
                together(lambda: self._close_epoch(log))
                if self._stop:  # a signal between the last step and the checkpoint
                    return TrainResult(self.run_dir, self.epoch, True)
                # rank 0 validates; every rank stops with it
                if self.dist.any(self.dist.is_main and self._stage_done(), self.device):
                    break
            return self._finish()
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)
            if log is not None:
                log.close()

    def _train_epoch(self) -> bool:
        """Train the rest of the current epoch; False when stopped by a signal."""
        cfg, dist = self.cfg, self.dist
        if self._epoch_started is None:  # the first epoch of this process
            self._epoch_started = time.perf_counter()
        if self.step == 0:
            self.epoch_generator_state = self.generator.get_state()
            self.sums = _EpochSums()
        else:  # replay the interrupted epoch's draw
            self.generator.set_state(self.epoch_generator_state)
        data = self.source.draw(cfg.data.train_per_epoch, self.generator)
        B = cfg.optim.batch_size
        steps = cfg.data.train_per_epoch // B
        self.net.train()
        bar = tqdm(
            range(self.step, steps),
            total=steps,
            initial=self.step,
            unit="batch",
            desc=f"epoch {self.epoch + 1}/{cfg.epochs}",
            leave=False,
            disable=not (cfg.log.progress and dist.is_main),
        )
        for step in bar:
            t0 = time.perf_counter()
            batch = data.slice(step * B + dist.rank, (step + 1) * B, dist.world_size)
            self._set_lr(steps)
            values = self.train_step(batch.x.to(self.device))
            self.sums.seconds += time.perf_counter() - t0
            self.sums.samples += B
            self.sums.add(values)
            self.step, self.global_step = step + 1, self.global_step + 1
            # the bar reads losses on the host: eager only (a captured step never waits)
            if bar.disable is False and step % 10 == 0 and cfg.optim.step == "eager":
                stats = values["loss"]
                bar.set_postfix(
                    pos_mm=f"{1000 * float(stats[0]) ** 0.5:.1f}",
                    ori_deg=f"{math.degrees(float(stats[1])):.1f}",
                )
            if self.on_step is not None:
                self.on_step(self.epoch, step)
            if dist.any(self._stop, self.device) and self.step < steps:
                bar.close()
                self._stop = True
                return False
        bar.close()
        return True

    def _set_lr(self, steps_per_epoch: int) -> None:
        """Every group's lr for the coming step, from the stage's schedule."""
        o = self.cfg.optim
        factor = lr_factor(
            o.schedule,
            self.epoch * steps_per_epoch + self.step,
            self.cfg.epochs * steps_per_epoch,
            o.final_lr_factor,
        )
        for group in self.optimizer.param_groups:
            set_group_lr(group, group["initial_lr"] * factor)

    def _stage_done(self) -> bool:
        """Before ``epochs``: validation stopped improving, or the stage's wall time is spent
        (the epochs' own ``epoch_s``, so a resumed stage counts its earlier processes too)."""
        budget = self.cfg.stop.max_seconds
        spent = sum(r.get("epoch_s", 0.0) for r in self.history)
        return self.early_stop.should_stop(self.epoch) or (budget > 0 and spent >= budget)

    def _close_epoch(self, log: RunLog | None) -> None:
        record = self._end_epoch()
        if log is not None:
            log.write(record)
        # a signal always checkpoints (run), and so does the end of the stage (_finish)
        if self.epoch % self.cfg.log.checkpoint_every == 0:
            self.save()

    def _end_epoch(self) -> dict[str, Any]:
        means = self.sums.means()
        self.strategy.end_epoch(means["loss"].to(self.device))
        self.epoch, self.step = self.epoch + 1, 0
        record: dict[str, Any] = {
            "epoch": self.epoch,
            "stage": self.cfg.stage,
            "strategy": self.cfg.weighting.strategy,
            "global_step": self.global_step,
            "train": _per_task(means["loss"]),
            "train_total": float(means["total"]),
            "weights": _per_task(means["weights"]),
            "lr": {
                g.get("name", str(i)): float(g["lr"])
                for i, g in enumerate(self.optimizer.param_groups)
            },
            "samples_per_s": self.sums.samples / max(self.sums.seconds, 1e-9),
            "world_size": self.dist.world_size,
        }
        for key in ("w", "alpha", "sigma"):
            if key in means:
                record[key] = _per_task(means[key])
        if self.dist.is_main:
            record["val"] = self.validate(self.val)
            self.early_stop.update(self.epoch, record["val"], self.net)
        # wall time since the previous epoch's record: this epoch's draw, steps and validation
        # and the previous epoch's checkpoint write (the first epoch of a process: since its start)
        now = time.perf_counter()
        record["epoch_s"], self._epoch_started = now - self._epoch_started, now
        self.history.append(record)
        return record

    def validate(self, samples) -> dict[str, float]:
        self.net.eval()
        errors = split_errors(
            self.net, samples, self.robot.objective, self.device, self.cfg.log.val_batch
        )
        self.net.train()
        return errors.summary()

    def _finish(self) -> TrainResult:
        result = TrainResult(self.run_dir, self.epoch, False)
        self.dist.together(lambda: self._test_and_export(result))
        return result

    def _test_and_export(self, result: TrainResult) -> None:
        """Rank 0: test metrics, the exported model and the final checkpoint into ``result``."""
        if not self.dist.is_main:
            return
        # best weights are kept only when stop.patience > 0; the card then shows their epoch's
        # validation
        restored = self.cfg.stop.restore_best and self.early_stop.restore_best(self.net)
        result.test_metrics = self.validate(self.test)
        if self.cfg.export:
            stages = self.stages + [self._stage_record()]
            val = (
                next(
                    (r["val"] for r in self.history if r["epoch"] == self.early_stop.best_epoch),
                    {},
                )
                if restored
                else (self.history[-1]["val"] if self.history else {})
            )
            card = model_card(
                self.net,
                self.cfg.name,
                {**dataclasses.asdict(network_spec(self.cfg)), "type": "resnet_mlp"},
                self.cfg.weighting.strategy,
                stages,
                {
                    "source": self.source.description,
                    "size": self.source.size,
                    "train_per_epoch": self.cfg.data.train_per_epoch,
                    "val_size": self.cfg.data.val_size,
                    "test_size": self.cfg.data.test_size,
                },
                {
                    "position_error_mm_rms": val.get("pos_err_mm_rms"),
                    "position_error_mm_mean": val.get("pos_err_mm"),
                    "orientation_error_deg": val.get("ori_err_deg"),
                    "collision_free_fraction": val.get("collision_free_fraction"),
                    "validation": val,
                    "test": result.test_metrics,
                },
            )
            result.model_path, _ = export_model(self.net, self.run_dir / MODEL, card)
        self.save()


__all__ = ["CHECKPOINT", "MODEL", "TrainResult", "Trainer"]
