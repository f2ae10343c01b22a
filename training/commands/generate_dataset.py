"""``generate_dataset``: the paper's grid dataset as a memory-mappable .npy (see
:mod:`dtd_ik.training.dataset`).

    generate_dataset --out data/panda_grid.npy [--points 16] [--target 32462548] [--threads 2]

Rerunning the same command after a crash continues where it stopped. Exit codes: 0 done, 2 bad
arguments or a file that cannot be written.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from dtd_ik.exceptions import DtdIkError
from dtd_ik.kinematics.capsules import CapsuleModel

from ..dataset import GridDatasetWriter, GridSpec


def main(argv: Sequence[str] | None = None) -> int:
    d = GridSpec()
    p = argparse.ArgumentParser(prog="generate_dataset", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--points", type=int, default=d.points, help="intervals per joint")
    p.add_argument("--target", type=int, default=d.target, help="rows after sampling")
    p.add_argument("--chunk", type=int, help="configurations per chunk (default points^5)")
    p.add_argument("--min-distance", type=float, default=d.min_distance, help="[m]")
    p.add_argument("--tip-frame", default=d.tip_frame)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--pilot", type=int, default=d.pilot)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    if a.points < 1 or a.target < 1:
        print("generate_dataset: --points and --target must be >= 1", file=sys.stderr)
        return 2
    if a.threads:
        torch.set_num_threads(a.threads)
    spec = GridSpec(
        a.points, a.target, a.chunk or a.points**5, a.min_distance, a.tip_frame, a.seed, a.pilot
    )
    try:
        meta = GridDatasetWriter(CapsuleModel(), spec, a.out).run(progress=not a.no_progress)
    except (DtdIkError, ValueError, FileExistsError) as exc:
        print(f"generate_dataset: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(meta, indent=2))
    return 0


__all__ = ["main"]


if __name__ == "__main__":
    sys.exit(main())
