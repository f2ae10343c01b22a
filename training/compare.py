"""Table I and Fig. 1 (the ``compare_strategies`` command): every weighting strategy trained with
the same seed, data and budget, the minimum validation losses of each as a markdown table, and
the curves.

A strategy whose run folder already holds a finished run is not trained again, so an interrupted
comparison continues where it stopped. With several seeds the table gives each strategy's mean
and sample standard deviation over the seeds, then one table per seed; Fig. 1 shows the first seed.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path

from .config import load_config
from .figures import LABELS, plot_losses, plot_weights
from .run_log import read_log
from .trainer import CHECKPOINT, Trainer


def table(logs: dict[str, list[dict]]) -> str:
    """Markdown Table I: minimum validation position MSE and orientation error per strategy."""
    lines = [
        "| Method | Min. pos. MSE (m^2) | (RMS mm) | Min. ori. error (rad) | (deg) "
        "| Collision-free (last epoch) |",
        "|---|---|---|---|---|---|",
    ]
    for name, records in logs.items():
        pos, ori, free = run_minima(records)
        lines.append(
            f"| {LABELS.get(name, name)} | {pos:.6f} | {1000 * pos**0.5:.1f} | "
            f"{ori:.4f} | {math.degrees(ori):.2f} | {free:.3f} |"
        )
    return "\n".join(lines) + "\n"


def run_minima(records: list[dict]) -> tuple[float, float, float]:
    """A run's (min. val. position MSE [m^2], min. val. orientation error [rad], last epoch's
    collision-free fraction)."""
    return (
        min(r["val"]["pos_mse_m2"] for r in records),
        min(r["val"]["ori_err_rad"] for r in records),
        records[-1]["val"]["collision_free_fraction"],
    )


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def read_seed_logs(out: Path) -> dict[int, dict[str, list[dict]]]:
    """The run logs a ``--seeds`` comparison left in ``out``: {seed: {strategy: records}}."""
    seeds = sorted(
        (p for p in out.glob("seed*") if p.name[4:].isdigit()), key=lambda p: int(p.name[4:])
    )
    return {
        int(s.name[4:]): {
            run.name: read_log(run / "log.jsonl")
            for run in sorted(s.iterdir())
            if (run / "log.jsonl").is_file()
        }
        for s in seeds
    }


def seed_table(logs_by_seed: dict[int, dict[str, list[dict]]]) -> str:
    """Markdown Table I over seeds: mean +/- sample standard deviation of each run's minima."""
    seeds = list(logs_by_seed)
    lines = [
        f"Mean +/- standard deviation over seeds {', '.join(map(str, seeds))}.",
        "",
        "| Method | Min. pos. MSE (m^2) | (RMS mm) | Min. ori. error (rad) | (deg) "
        "| Collision-free (last epoch) |",
        "|---|---|---|---|---|---|",
    ]
    for name in logs_by_seed[seeds[0]]:
        pos, ori, free = zip(*(run_minima(logs_by_seed[s][name]) for s in seeds))
        stats = [
            mean_sd(v)
            for v in (pos, [1000 * p**0.5 for p in pos], ori, [math.degrees(o) for o in ori])
        ]
        (pm, ps), (rm, rs), (om, os_), (dm, ds) = stats
        lines.append(
            f"| {LABELS.get(name, name)} | {pm:.6f} +/- {ps:.6f} | {rm:.1f} +/- {rs:.1f} "
            f"| {om:.4f} +/- {os_:.4f} | {dm:.2f} +/- {ds:.2f} "
            f"| {statistics.mean(free):.3f} |"
        )
    text = "\n".join(lines) + "\n"
    for s in seeds:
        text += f"\nSeed {s}:\n\n" + table(logs_by_seed[s])
    return text


def _finished(run_dir: Path, epochs: int) -> bool:
    log = run_dir / "log.jsonl"
    return log.is_file() and len(read_log(log)) >= epochs and (run_dir / CHECKPOINT).is_file()


def _train_all(
    config: str, out: Path, strategies: Sequence[str], overrides: Sequence[str]
) -> dict[str, list[dict]]:
    """Train (or find finished) each strategy's run under ``out``; their logs by strategy."""
    logs = {}
    for name in strategies:
        cfg = load_config(
            config,
            [
                *overrides,
                f"weighting.strategy={name}",
                f"out_dir={out / name}",
                f"name=compare_{name}",
            ],
        )
        if not _finished(out / name, cfg.epochs):
            resume = out / name / CHECKPOINT
            Trainer(cfg).run(resume if resume.is_file() else None)
        logs[name] = read_log(out / name)[: cfg.epochs]
    return logs


def compare(
    config: str,
    out: Path,
    strategies: Sequence[str],
    overrides: Sequence[str],
    seeds: Sequence[int] | None = None,
) -> str:
    """Train each strategy (same config, seed and budget), write table1.md and the figures.

    ``seeds``: train every strategy once per seed (runs in ``out/seed<N>/<strategy>``) and
    tabulate the spread; none: the config's own seed, runs in ``out/<strategy>``.
    """
    if seeds:
        by_seed = {
            s: _train_all(config, out / f"seed{s}", strategies, [*overrides, f"seed={s}"])
            for s in seeds
        }
        text, logs = seed_table(by_seed), by_seed[seeds[0]]
    else:
        logs = _train_all(config, out, strategies, overrides)
        text = table(logs)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table1.md").write_text(text)
    plot_losses(logs, out / "fig1_losses.png")
    plot_weights(logs, out / "fig1_weights.png")
    return text


__all__ = ["compare", "mean_sd", "read_seed_logs", "run_minima", "seed_table", "table"]
