"""``compare_strategies``: Table I and Fig. 1: every weighting strategy trained with the same seed,
data and budget, the minimum validation losses of each as a markdown table, and the curves.

    compare_strategies --config config/train_compare.yaml --out runs/compare [key=value ...]

A strategy whose run folder already holds a finished run is not trained again, so an interrupted
comparison continues where it stopped.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from dtd_ik.exceptions import DtdIkError

from .config import load_config
from .figures import LABELS, plot_losses, plot_weights
from .run_log import read_log
from .trainer import CHECKPOINT, Trainer
from .weighting import STRATEGIES


def table(logs: dict[str, list[dict]]) -> str:
    """Markdown Table I: minimum validation position MSE and orientation error per strategy."""
    lines = ["| Method | Min. pos. MSE (m^2) | (RMS mm) | Min. ori. error (rad) | (deg) "
             "| Collision-free (last epoch) |", "|---|---|---|---|---|---|"]
    for name, records in logs.items():
        pos = min(r["val"]["pos_mse_m2"] for r in records)
        ori = min(r["val"]["ori_err_rad"] for r in records)
        free = records[-1]["val"]["collision_free_fraction"]
        lines.append(f"| {LABELS.get(name, name)} | {pos:.6f} | {1000 * pos ** 0.5:.1f} | "
                     f"{ori:.4f} | {ori * 57.29578:.2f} | {free:.3f} |")
    return "\n".join(lines) + "\n"


def _finished(run_dir: Path, epochs: int) -> bool:
    log = run_dir / "log.jsonl"
    return log.is_file() and len(read_log(log)) >= epochs and (run_dir / CHECKPOINT).is_file()


def compare(config: str, out: Path, strategies: Sequence[str], overrides: Sequence[str]) -> str:
    """Train each strategy (same config, seed and budget), write table1.md and the figures."""
    logs = {}
    for name in strategies:
        cfg = load_config(config, [*overrides, f"weighting.strategy={name}",
                                   f"out_dir={out / name}", f"name=compare_{name}"])
        if not _finished(out / name, cfg.epochs):
            resume = out / name / CHECKPOINT
            Trainer(cfg).run(resume if resume.is_file() else None)
        logs[name] = read_log(out / name)[:cfg.epochs]
    text = table(logs)
    (out / "table1.md").write_text(text)
    plot_losses(logs, out / "fig1_losses.png")
    plot_weights(logs, out / "fig1_weights.png")
    return text


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="compare_strategies", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="config/train_compare.yaml")
    p.add_argument("--out", type=Path, default=Path("runs/compare"))
    p.add_argument("--strategies", default=",".join(STRATEGIES),
                   help="comma-separated (default: all)")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    args = p.parse_args(argv)
    names = [s for s in args.strategies.split(",") if s]
    unknown = [s for s in names if s not in STRATEGIES]
    if unknown:
        print(f"compare_strategies: --strategies: unknown {unknown} (known: {list(STRATEGIES)})",
              file=sys.stderr)
        return 2
    try:
        print(compare(args.config, args.out, names, args.overrides))
    except DtdIkError as exc:
        print(f"compare_strategies: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
