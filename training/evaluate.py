"""The paper's Table II protocol on an exported model, plus success rates and the collision
margins of the answers (the ``evaluate`` command).

Protocol: ``repeats`` times, draw ``goals`` valid goals (joints uniform within the limits and
self-collision free, FK gives the pose of the model's tip frame), answer them in one batch, and
record the position MSE [m^2], the position error's RMS (sqrt of the MSE: the paper's "position
error", 5.73 mm = sqrt(0.000033 m^2)) and mean [mm], orientation error [rad, deg], inference time
per query and the success rates at 1 mm / 0.57 deg and 5 mm / 2 deg; report mean and std over
the repeats. The position errors of all answers pooled give RMS, mean, median and p95; their
minimum capsule distances the margin distribution.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from dtd_ik.kinematics.capsules import CapsuleModel
from dtd_ik.kinematics.forward import Kinematics
from dtd_ik.robot import COLLISION_MARGIN, load_robot_model
from dtd_ik.solver.network import load_ik_network

from .objective import IKObjective
from .samples import ConfigurationSampler, Samples
from .table2 import ERROR_ROWS

#: (position [mm], orientation [deg]) success thresholds.
THRESHOLDS = ((1.0, 0.57), (5.0, 2.0))
MARGIN_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class RepeatResult:
    """One repeat's answers: per-goal errors and the batch's time per query [s]."""

    position_sq: Tensor  # (N,) [m^2]
    orientation: Tensor  # (N,) [rad]
    distance: Tensor  # (N,) minimum capsule distance of the answer [m]
    seconds_per_query: float


def success_rate(position_sq: Tensor, orientation: Tensor, pos_mm: float, ori_deg: float) -> float:
    """Fraction of goals with position error <= ``pos_mm`` and orientation error <= ``ori_deg``."""
    ok = (position_sq.sqrt() * 1000 <= pos_mm) & (torch.rad2deg(orientation) <= ori_deg)
    return float(ok.double().mean())


def run_repeat(
    predict: Callable[[Tensor], Tensor], goals: Samples, objective: IKObjective
) -> RepeatResult:
    """Answer ``goals`` in one batch with ``predict`` and measure the errors."""
    with torch.inference_mode():
        t0 = time.perf_counter()
        q = predict(goals.x)
        seconds = (time.perf_counter() - t0) / len(goals)
        t = objective(q.to(goals.x), goals.x)
    return RepeatResult(
        t.position_sq.double(), t.orientation.double(), t.distance.double(), seconds
    )


def summarise(repeats: Sequence[RepeatResult], margin: float) -> dict:
    """Mean and std over repeats of each Table II metric, success rates, margin distribution."""
    per = {
        "pos_mse_m2": [float(r.position_sq.mean()) for r in repeats],
        "pos_rms_mm": [1000 * math.sqrt(float(r.position_sq.mean())) for r in repeats],
        "pos_err_mm": [1000 * float(r.position_sq.sqrt().mean()) for r in repeats],
        "ori_err_rad": [float(r.orientation.mean()) for r in repeats],
        "ori_err_deg": [math.degrees(float(r.orientation.mean())) for r in repeats],
        "seconds_per_query_batched": [r.seconds_per_query for r in repeats],
    }
    for pos_mm, ori_deg in THRESHOLDS:
        per[f"success_{pos_mm:g}mm_{ori_deg:g}deg"] = [
            success_rate(r.position_sq, r.orientation, pos_mm, ori_deg) for r in repeats
        ]
    out = {
        k: {
            "mean": float(torch.tensor(v).mean()),
            "std": float(torch.tensor(v).std()) if len(v) > 1 else 0.0,
        }
        for k, v in per.items()
    }
    e = 1000 * torch.cat([r.position_sq for r in repeats]).sqrt()  # (N,) [mm]
    out["position_error_mm"] = {
        "rms": float(e.square().mean().sqrt()),
        "mean": float(e.mean()),
        "median": float(e.median()),
        "p95": float(torch.quantile(e, 0.95)),
    }
    d = torch.cat([r.distance for r in repeats])
    out["margin_m"] = {
        "quantiles": {f"{q:g}": float(torch.quantile(d, q)) for q in MARGIN_QUANTILES},
        "min": float(d.min()),
        "colliding_fraction": float((d < 0).double().mean()),
        f"below_margin_{margin:g}_fraction": float((d < margin).double().mean()),
    }
    return out


def single_query_latency(predict: Callable[[Tensor], Tensor], goals: Samples, n: int) -> dict:
    """Mean and std [s] of answering one goal at a time (the server's case), ``n`` goals."""
    times = []
    with torch.inference_mode():
        predict(goals.x[:1])  # warm-up
        for i in range(min(n, len(goals))):
            t0 = time.perf_counter()
            predict(goals.x[i : i + 1])
            times.append(time.perf_counter() - t0)
    t = torch.tensor(times, dtype=torch.float64)
    return {"mean": float(t.mean()), "std": float(t.std()) if len(t) > 1 else 0.0, "n": len(t)}


def markdown(report: dict) -> str:
    """Table II layout: metric | mean | std."""
    rows = [
        *ERROR_ROWS,
        ("Inference time, batched (s / query)", "seconds_per_query_batched", "{:.2e}"),
    ]
    rows += [
        (f"Success <= {p:g} mm & {o:g} deg", f"success_{p:g}mm_{o:g}deg", "{:.4f}")
        for p, o in THRESHOLDS
    ]
    s = report["summary"]
    lines = [
        f"Model `{report['model']}`: {report['repeats']} x {report['goals']} goals, "
        f"tip frame {report['tip_frame']}",
        "",
        "| Metric | Mean | Std |",
        "|---|---|---|",
    ]
    for label, key, fmt in rows:
        lines.append(f"| {label} | {fmt.format(s[key]['mean'])} | {fmt.format(s[key]['std'])} |")
    lat = report["single_query_latency_s"]
    lines.append(
        f"| Inference time, one query at a time (s) | {lat['mean']:.2e} | {lat['std']:.2e} |"
    )
    e = s["position_error_mm"]
    lines += [
        "",
        f"Position error of all answers (mm): RMS {e['rms']:.2f}, mean {e['mean']:.2f}, "
        f"median {e['median']:.2f}, p95 {e['p95']:.2f}",
    ]
    m = s["margin_m"]
    lines += [
        "",
        "Collision margin of the answers (minimum capsule distance, m): "
        + ", ".join(f"q{k}={v:.4f}" for k, v in m["quantiles"].items())
        + f"; colliding {m['colliding_fraction']:.4f}",
    ]
    return "\n".join(lines) + "\n"


def evaluate(
    model_path: str | Path,
    goals: int = 1000,
    repeats: int = 100,
    seed: int = 0,
    device: str = "cpu",
    single_queries: int = 200,
    margin: float = COLLISION_MARGIN,
) -> dict:
    """Run the protocol on the model file; returns the report (JSON-ready)."""
    robot = load_robot_model()
    net = load_ik_network(model_path, robot, device)
    kin = Kinematics(robot)
    capsules = CapsuleModel(kin)
    objective = IKObjective(kin, capsules, net.tip_frame, margin)
    sampler = ConfigurationSampler(capsules, net.tip_frame)
    g = torch.Generator().manual_seed(seed)
    results, first = [], None
    for _ in range(repeats):
        batch = sampler.sample(goals, g)
        if first is None:  # warm-up: TorchScript optimises on its first calls
            first = batch
            for _ in range(3):
                net(batch.x)
        results.append(run_repeat(lambda x: net(x).cpu(), batch, objective))
    return {
        "model": str(model_path),
        "goals": goals,
        "repeats": repeats,
        "seed": seed,
        "tip_frame": net.tip_frame,
        "device": device,
        "threads": torch.get_num_threads(),
        "summary": summarise(results, margin),
        "single_query_latency_s": single_query_latency(lambda x: net(x), first, single_queries),
    }


def write_report(report: dict, out: Path) -> None:
    """Write ``report`` as JSON to ``out`` and its :func:`markdown` beside it (``.md``),
    creating the folder."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(report))


__all__ = ["evaluate", "markdown", "run_repeat", "success_rate", "summarise", "write_report"]
