"""``train_campaign``: several two-stage trainings side by side on one device within one
wall-clock budget (see :mod:`dtd_ik.training.campaign`).

    python -m dtd_ik.training.commands.train_campaign --config config/train_gpu.yaml \\
        --out runs/gpu [--device cuda] [--runs paper,ship384] [--train-override key=value ...]
        [budget_s=420 ...]

Exit codes: 0 every run finished, 1 a bad config, a failed probe or an unfinished run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from dtd_ik.exceptions import ConfigError

from ..campaign import load_campaign, run_campaign, select_runs, summary, unfinished_runs


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="train_campaign", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", type=Path, required=True, help="campaign YAML")
    p.add_argument("--out", type=Path, required=True, help="folder of the runs")
    p.add_argument("--device", default="cuda", help="the one device all runs share")
    p.add_argument("--runs", help="comma-separated run names (default: all)")
    p.add_argument(
        "--train-override",
        action="append",
        default=[],
        metavar="key=value",
        help="appended to every train command (e.g. a small model for a dry run)",
    )
    p.add_argument("overrides", nargs="*", metavar="key=value", help="campaign keys")
    args = p.parse_args(argv)
    try:
        campaign = load_campaign(args.config, args.overrides)
        if args.runs:
            select_runs(campaign, args.runs.split(","))
        plan = run_campaign(campaign, args.out, args.device, args.train_override)
    except (ConfigError, RuntimeError) as exc:
        print(f"train_campaign: {exc}", file=sys.stderr)
        return 1
    print(summary(plan, args.out))
    failed = unfinished_runs(plan)
    if failed:
        print(f"train_campaign: not finished: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


__all__ = ["main"]


if __name__ == "__main__":
    sys.exit(main())
