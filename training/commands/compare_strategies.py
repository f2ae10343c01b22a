"""``compare_strategies``: Table I and Fig. 1 (see :mod:`dtd_ik.training.compare`).

    compare_strategies --config config/train_compare.yaml --out runs/compare [key=value ...]
    compare_strategies ... --seeds 0,1,2     # every strategy per seed: out/seed<N>/<strategy>

Exit codes: 0 done, 2 bad arguments or a bad config.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from dtd_ik.exceptions import DtdIkError

from ..compare import compare
from ..weighting import STRATEGIES


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="compare_strategies", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="config/train_compare.yaml")
    p.add_argument("--out", type=Path, default=Path("runs/compare"))
    p.add_argument(
        "--strategies", default=",".join(STRATEGIES), help="comma-separated (default: all)"
    )
    p.add_argument(
        "--seeds",
        default="",
        help="comma-separated seeds, each a full comparison (default: the config's)",
    )
    p.add_argument("overrides", nargs="*", metavar="key=value")
    args = p.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        print(
            f"compare_strategies: --seeds: expected integers, got {args.seeds!r}", file=sys.stderr
        )
        return 2
    names = [s for s in args.strategies.split(",") if s]
    unknown = [s for s in names if s not in STRATEGIES]
    if unknown:
        print(
            f"compare_strategies: --strategies: unknown {unknown} (known: {list(STRATEGIES)})",
            file=sys.stderr,
        )
        return 2
    try:
        print(compare(args.config, args.out, names, args.overrides, seeds))
    except DtdIkError as exc:
        print(f"compare_strategies: {exc}", file=sys.stderr)
        return 2
    return 0


__all__ = ["main"]


if __name__ == "__main__":
    sys.exit(main())
