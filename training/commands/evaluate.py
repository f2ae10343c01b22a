"""``evaluate``: the paper's Table II protocol on an exported model (see
:mod:`dtd_ik.training.evaluate`), printed as markdown.

    evaluate --model runs/stage2/model.pt [--goals 1000] [--repeats 100] [--out report.json]

Exit codes: 0 done, 2 bad arguments or a model that cannot be loaded.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from dtd_ik.exceptions import DtdIkError

from ..evaluate import evaluate, markdown, write_report


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="exported TorchScript model (.pt)")
    p.add_argument("--goals", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--single-queries", type=int, default=200)
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads (0: torch's default; the solver runs the network on 1)",
    )
    p.add_argument("--out", type=Path, help="write the report as JSON here (and .md beside it)")
    args = p.parse_args(argv)
    if args.goals < 1 or args.repeats < 1:
        print("evaluate: --goals and --repeats must be >= 1", file=sys.stderr)
        return 2
    if args.threads < 0:
        print("evaluate: --threads must be >= 0", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        report = evaluate(
            args.model, args.goals, args.repeats, args.seed, args.device, args.single_queries
        )
    except DtdIkError as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 2
    print(markdown(report))
    if args.out:
        write_report(report, args.out)
    return 0


__all__ = ["main"]


if __name__ == "__main__":
    sys.exit(main())
