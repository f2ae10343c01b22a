"""Fig. 1 of the paper from run logs: loss curves per strategy and the weight dynamics (PNG)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: render to files
import matplotlib.pyplot as plt  # noqa: E402

from .weighting import TASKS  # noqa: E402

LABELS = {
    "baseline": "Baseline",
    "dtd": "DTD only",
    "uncertainty": "Uncertainty only",
    "hybrid": "DTD + Uncertainty",
    "gradnorm": "GradNorm",
    "dwa": "DWA",
}


def plot_losses(logs: Mapping[str, list[dict]], path: Path) -> Path:
    """(a) validation position MSE [m^2], (b) orientation error [rad] per epoch, per strategy."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, records in logs.items():
        epochs = [r["epoch"] for r in records]
        label = LABELS.get(name, name)
        axes[0].plot(epochs, [r["val"]["pos_mse_m2"] for r in records], label=label)
        axes[1].plot(epochs, [r["val"]["ori_err_rad"] for r in records], label=label)
    for ax, title, unit in zip(
        axes,
        ("(a) position loss", "(b) orientation loss"),
        ("val. position MSE [m^2]", "val. orientation error [rad]"),
    ):
        ax.set_ylabel(unit)
        _log_panel(ax, title)
    return _save(fig, path)


def plot_weights(logs: Mapping[str, list[dict]], path: Path) -> Path:
    """Weight dynamics: each task's share of the effective weights per epoch, one panel per
    strategy (the DTD w_t where the strategy has them)."""
    names = list(logs)
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names):
        records = logs[name]
        key = "w" if "w" in records[0] else "weights"
        epochs = [r["epoch"] for r in records]
        for task in TASKS:
            share = [r[key][task] / sum(r[key].values()) for r in records]
            ax.plot(epochs, share, label=task)
        _log_panel(ax, f"{LABELS.get(name, name)} ({'w_t' if key == 'w' else 'weight share'})")
    return _save(fig, path)


def plot_run(records: Sequence[dict], losses_path: Path, weights_path: Path) -> tuple[Path, Path]:
    """One run over all its stages (epochs numbered on): validation errors (position [mm],
    orientation [deg], collision-free fraction) and weight dynamics (effective weights, DTD w_t,
    sigma_t), with a dashed line where a stage starts."""
    x = list(range(1, len(records) + 1))
    starts = [
        i + 1 for i in range(1, len(records)) if records[i]["stage"] != records[i - 1]["stage"]
    ]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, key, unit in zip(
        axes,
        ("pos_err_mm", "ori_err_deg"),
        ("val. position error, mean [mm]", "val. orientation error, mean [deg]"),
    ):
        ax.plot(x, [r["val"][key] for r in records], label="mean")
        ax.plot(x, [r["val"][key + "_median"] for r in records], label="median")
        ax.set_ylabel(unit)
    axes[2].plot(
        x, [1.0 - r["val"]["collision_free_fraction"] for r in records], label="colliding answers"
    )
    axes[2].set_ylabel("fraction of val. answers in collision")
    for ax, title in zip(axes, ("position", "orientation", "self-collision")):
        _stage_lines(ax, starts)
        _log_panel(ax, title, log=title != "self-collision")  # a fraction that may be 0
    losses = _save(fig, losses_path)
    keys = [k for k in ("weights", "w", "sigma") if k in records[0]]
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 4), squeeze=False)
    titles = {"weights": "effective weight of L_t", "w": "DTD w_t", "sigma": "sigma_t"}
    for ax, key in zip(axes[0], keys):
        for task in TASKS:
            ax.plot(x, [max(r[key][task], 1e-30) for r in records], label=task)
        _stage_lines(ax, starts)
        _log_panel(ax, titles[key])
    return losses, _save(fig, weights_path)


def _stage_lines(ax, starts: Sequence[int]) -> None:
    for s in starts:
        ax.axvline(s, color="grey", linestyle="--", linewidth=1)


def _log_panel(ax, title: str, log: bool = True) -> None:
    """Title, epoch axis, log scale (unless ``log`` is false), grid and legend of one panel."""
    ax.set_title(title)
    ax.set_xlabel("epoch")
    if log:
        ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


__all__ = ["LABELS", "plot_losses", "plot_run", "plot_weights"]
