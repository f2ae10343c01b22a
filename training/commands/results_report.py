"""``results_report``: docs/RESULTS.md from the files our own commands wrote (see
:mod:`dtd_ik.training.results`).

    results_report --table1 runs/table1 --model models/dtd_w_panda.pt \\
        --solver runs/results/bench_solver.md --solver-log runs/results/bench_solver.txt \\
        --out docs/RESULTS.md

Exit codes: 0 written, 2 an input that is missing or not what its command writes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..results import report


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="results_report", description=__doc__.split("\n\n")[0])
    p.add_argument("--table1", type=Path, default=Path("runs/table1"))
    p.add_argument("--model", type=Path, default=Path("models/dtd_w_panda.pt"))
    p.add_argument("--solver", type=Path, default=Path("runs/results/bench_solver.md"))
    p.add_argument("--solver-log", type=Path, default=Path("runs/results/bench_solver.txt"))
    p.add_argument("--network-bench", type=Path, default=Path("runs/results/bench_network.txt"))
    p.add_argument(
        "--campaign",
        type=Path,
        action="append",
        default=[],
        help="a train_campaign plan.json (repeatable): the GPU campaign's table",
    )
    p.add_argument(
        "--evaluations",
        type=Path,
        default=Path("runs/results"),
        help="folder of the campaign runs' table2_network_gpu_<run>.json reports",
    )
    p.add_argument("--out", type=Path, default=Path("docs/RESULTS.md"))
    args = p.parse_args(argv)
    command = "results_report " + " ".join(argv if argv is not None else sys.argv[1:])
    try:
        text = report(
            args.table1,
            args.model,
            args.solver,
            args.solver_log if args.solver_log.is_file() else None,
            args.out,
            command.strip(),
            args.network_bench if args.network_bench.is_file() else None,
            args.campaign,
            args.evaluations,
        )
    except (OSError, KeyError, StopIteration, ValueError) as exc:
        print(
            f"results_report: cannot build the report: {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return 2
    args.out.write_text(text)
    print(f"results_report: wrote {args.out}")
    return 0


__all__ = ["main"]


if __name__ == "__main__":
    sys.exit(main())
