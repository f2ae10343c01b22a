"""``ship_model``: put a finished training run into ``models/`` as the shipped model (see
:mod:`dtd_ik.training.ship`).

    ship_model --runs runs/ship/stage1 runs/ship/stage2 --name dtd_w_panda [--out models]
        [--evaluation report.json] [--campaign-plan runs/gpu/plan.json] [--note TEXT ...]

Exit codes: 0 done, 2 a run, report or file that cannot be read or written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from dtd_ik.exceptions import DtdIkError

from ..ship import ship


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ship_model", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--runs",
        type=Path,
        nargs="+",
        required=True,
        help="the run folders of every stage, in order; the last holds model.pt",
    )
    p.add_argument("--name", required=True, help="file name stem in --out")
    p.add_argument("--out", type=Path, default=Path("models"))
    p.add_argument("--evaluation", type=Path, help="evaluate --out report to add to the card")
    p.add_argument(
        "--note", action="append", default=[], help="a sentence for the card's notes (repeatable)"
    )
    p.add_argument(
        "--campaign-plan",
        type=Path,
        help="the train_campaign plan.json that trained the runs, added to the card",
    )
    args = p.parse_args(argv)
    try:
        files = ship(
            args.runs, args.name, args.out, args.evaluation, args.note, args.campaign_plan
        )
    except (DtdIkError, OSError, ValueError) as exc:
        print(f"ship_model: {exc}", file=sys.stderr)
        return 2
    for kind, path in files.items():
        print(f"{kind}: {path}")
    return 0


__all__ = ["main"]


if __name__ == "__main__":
    sys.exit(main())
