"""``train``: run one training stage from a YAML config, or resume one from its checkpoint.

    train --config config/train_stage1.yaml [--out runs/s1] [--device cuda] [key=value ...]
    train --resume runs/s1/checkpoint.pt [key=value ...]
    torchrun --nproc_per_node 2 -m dtd_ik.training --config ... (data parallel)

Every config value can be overridden as a dotted ``key=value`` (``optim.lr=1e-5``).
Exit codes: 0 done, 2 a bad config or checkpoint (nothing trained), 1 a checkpoint that cannot
be written or read back, 130 stopped by SIGINT/SIGTERM (resume from its checkpoint).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from dtd_ik.exceptions import DtdIkError

from ..checkpoint import CheckpointError
from ..config import run_config


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="train",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument("--config", help="training YAML (config/train_*.yaml)")
    p.add_argument("--resume", type=Path, help="checkpoint to continue bit-for-bit")
    p.add_argument("--out", help="run folder (overrides out_dir)")
    p.add_argument("--device", help="cpu, cuda or cuda:N (overrides device)")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # torch.distributed and the trainer load after the arguments, so --help answers at once
    from ..distributed import finish_distributed, teardown_distributed
    from ..trainer import Trainer

    extra = [
        *args.overrides,
        *([f"out_dir={args.out}"] if args.out else []),
        *([f"device={args.device}"] if args.device else []),
    ]
    try:
        cfg = run_config(args.config, extra, args.resume)
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
        trainer.clear_temporaries()
        result = trainer.run(args.resume)
        finish_distributed()
    except DtdIkError as exc:  # a checkpoint that cannot be written or read back
        print(f"train: {exc}", file=sys.stderr)
        return 1
    finally:
        teardown_distributed()
    if trainer.dist.is_main:
        if result.interrupted:
            print(
                f"train: stopped at epoch {result.epochs_done} step {trainer.step}; resume with "
                f"--resume {result.run_dir / 'checkpoint.pt'}"
            )
        else:
            print(
                json.dumps(
                    {
                        "run_dir": str(result.run_dir),
                        "epochs": result.epochs_done,
                        "model": str(result.model_path) if result.model_path else None,
                        "test": result.test_metrics,
                    },
                    indent=2,
                )
            )
    return 130 if result.interrupted else 0


__all__ = ["main"]


if __name__ == "__main__":
    sys.exit(main())
