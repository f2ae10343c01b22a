"""``train``: run one training stage from a YAML config, or resume one from its checkpoint.

    train --config config/train_stage1.yaml [--out runs/s1] [--device cuda] [key=value ...]
    train --resume runs/s1/checkpoint.pt [key=value ...]
    torchrun --nproc_per_node 2 -m dtd_ik.training --config ... (data parallel)

Every config value can be overridden as a dotted ``key=value`` (``optim.lr=1e-5``).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

from dtd_ik.exceptions import ConfigError, DtdIkError

from .checkpoint import CheckpointError, load_checkpoint, remove_temporaries
from .config import TrainConfig, config_from_dict, load_config


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--config", help="training YAML (config/train_*.yaml)")
    p.add_argument("--resume", type=Path, help="checkpoint to continue bit-for-bit")
    p.add_argument("--out", help="run folder (overrides out_dir)")
    p.add_argument("--device", help="cpu, cuda or cuda:N (overrides device)")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    return p.parse_args(argv)


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    """The run's config: the YAML (or the checkpoint's own config) plus overrides."""
    extra = list(args.overrides)
    if args.out:
        extra.append(f"out_dir={args.out}")
    if args.device:
        extra.append(f"device={args.device}")
    if args.resume is not None:
        if args.config:
            raise ConfigError("--resume: takes the checkpoint's config; pass changes as key=value")
        try:
            state = load_checkpoint(args.resume)
            saved = config_from_dict(state["config"])
        except (CheckpointError, ConfigError) as exc:
            where = "" if isinstance(exc, CheckpointError) else f"{args.resume}: its config: "
            raise CheckpointError(f"--resume: {where}{exc}") from exc
        cfg = config_from_dict(state["config"], extra)
        _same_network(cfg, saved)
        return cfg
    return load_config(args.config, extra)


def _same_network(cfg: TrainConfig, saved: TrainConfig) -> None:
    """A resumed run keeps the checkpoint's network and weighting (its weights fit no other)."""
    changed = [f"model.{f.name}" for f in dataclasses.fields(saved.model)
               if getattr(cfg.model, f.name) != getattr(saved.model, f.name)]
    if cfg.weighting.strategy != saved.weighting.strategy:
        changed.append("weighting.strategy")
    if changed:
        raise ConfigError(f"--resume: {', '.join(changed)} cannot change in a resumed run (the "
                          f"checkpoint's network and strategy state are kept); start a new stage "
                          f"with init_from instead")


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    from .distributed import teardown_distributed
    from .trainer import CHECKPOINT, MODEL, Trainer

    try:
        cfg = resolve_config(args)
    except DtdIkError as exc:
        print(f"train: {exc}", file=sys.stderr)
        return 2
    try:
        trainer = Trainer(cfg)
    except DtdIkError as exc:  # the only checkpoint a Trainer reads when built is init_from's
        where = "init_from: " if isinstance(exc, CheckpointError) else ""
        print(f"train: {where}{exc}", file=sys.stderr)
        return 2
    try:
        if trainer.dist.is_main:  # what a process killed mid-write left beside the run's files
            for name in (CHECKPOINT, MODEL, "model.json"):
                remove_temporaries(trainer.run_dir / name)
        result = trainer.run(args.resume)
    except DtdIkError as exc:  # a checkpoint that cannot be written or read back
        print(f"train: {exc}", file=sys.stderr)
        return 1
    finally:
        teardown_distributed()
    if trainer.dist.is_main:
        if result.interrupted:
            print(f"train: stopped at epoch {result.epochs_done} step {trainer.step}; resume with "
                  f"--resume {result.run_dir / 'checkpoint.pt'}")
        else:
            print(json.dumps({"run_dir": str(result.run_dir), "epochs": result.epochs_done,
                              "model": str(result.model_path) if result.model_path else None,
                              "test": result.test_metrics}, indent=2))
    return 130 if result.interrupted else 0


__all__ = ["main"]
