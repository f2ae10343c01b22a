"""docs/RESULTS.md from the files our own commands wrote (the ``results_report`` command).

Reads Table I (``compare_strategies --seeds``: ``table1.md``, the run logs, Fig. 1 PNGs), the
shipped model's card (with the ``evaluate`` report that ``ship_model --evaluation`` put in it)
and the solver benchmark (``bench_solver.py --markdown``), and writes them beside the paper's
numbers. No number in the output is typed here except the paper's own (PAPER_*), so rerunning
the commands regenerates every figure. ``scripts/reproduce_results.sh`` runs the whole chain.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
from collections.abc import Sequence
from pathlib import Path

from .compare import mean_sd, read_seed_logs, run_minima
from .figures import LABELS
from .run_log import read_log
from .table2 import ERROR_ROWS

#: The paper's Table I (Stage 1 minima): position MSE [m^2] (printed as "mm^2"), orientation
#: error [rad], in its order.
PAPER_TABLE1 = {
    "baseline": (0.000852, 0.12),
    "dtd": (0.000764, 0.13),
    "uncertainty": (0.000268, 0.08),
    "hybrid": (0.000447, 0.06),
}
#: The paper's Table II (Stage 2 hybrid, 100 x 1,000 goals): mean, std. Its position error is an
#: RMS: 5.73 mm = sqrt(0.000033 m^2), its MSE's root (compared with our RMS, never our mean).
PAPER_TABLE2 = {
    "pos_mse_m2": (0.000033, 0.000005),
    "pos_rms_mm": (5.73, 2.25),
    "ori_err_rad": (0.063, 0.0015),
    "ori_err_deg": (3.61, 0.86),
    "seconds_per_query": (0.0038, 0.0013),
}
#: The paper's Stage 1 budget (Sec. IV-B): epochs of fresh training samples.
PAPER_STAGE1_EPOCHS, PAPER_SAMPLES_PER_EPOCH = 500, 160_000
PAPER_STAGE1_SAMPLES = PAPER_STAGE1_EPOCHS * PAPER_SAMPLES_PER_EPOCH
#: The shipped network's own targets: one query on one CPU thread [s], and the fraction of its
#: answers free of self-collision.
TARGET_SINGLE_QUERY_S = 0.3e-3
TARGET_COLLISION_FREE = 0.99


def _seed_minima(table1: Path) -> dict[str, dict[str, list[float]]]:
    """Per strategy, each seed's min. val. position MSE [m^2] ("pos") and orientation error
    [rad] ("ori"), the seeds in that order ("seeds"), and the epochs of a run ("epochs")."""
    out: dict[str, dict[str, list[float]]] = {}
    for seed, logs in read_seed_logs(table1).items():
        for name, log in logs.items():
            pos, ori, _ = run_minima(log)
            entry = out.setdefault(name, {"pos": [], "ori": [], "seeds": [], "epochs": len(log)})
            entry["pos"].append(pos)
            entry["ori"].append(ori)
            entry["seeds"].append(seed)
    return out


def _rank(values: dict[str, float]) -> list[str]:
    return sorted(values, key=values.get)


def table1_section(table1: Path, figures: Path, doc_dir: Path) -> str:
    minima = _seed_minima(table1)
    epochs = minima["hybrid"]["epochs"]
    lines = [
        "## Table I: weighting strategies, Stage 1",
        "",
        f"Every strategy trained with the same config (`config/train_compare.yaml`: "
        f"{epochs} epochs), the same data, once per seed; each run's minimum validation "
        f"position MSE and orientation error, then mean +/- sample standard deviation over "
        f"the seeds ({', '.join(map(str, next(iter(minima.values()))['seeds']))}).",
        "",
        "| Method | paper: pos. MSE (m^2) | paper: ori. (rad) | ours: pos. MSE (m^2) "
        "| ours: RMS (mm) | ours: ori. (rad) | ours: ori. (deg) |",
        "|---|---|---|---|---|---|---|",
    ]
    order = [n for n in LABELS if n in minima] + [n for n in minima if n not in LABELS]
    for name in order:
        m, paper = minima[name], PAPER_TABLE1.get(name)
        (pm, ps), (rm, rs), (om, os_) = (
            mean_sd(v) for v in (m["pos"], [1000 * p**0.5 for p in m["pos"]], m["ori"])
        )
        lines.append(
            f"| {LABELS.get(name, name)} | {f'{paper[0]:.6f}' if paper else '-'} "
            f"| {f'{paper[1]:.2f}' if paper else '-'} "
            f"| {pm:.6f} +/- {ps:.6f} | {rm:.1f} +/- {rs:.1f} | {om:.4f} +/- {os_:.4f} "
            f"| {math.degrees(om):.2f} |"
        )
    four = [n for n in PAPER_TABLE1 if n in minima]
    ours_pos = _rank({n: statistics.mean(minima[n]["pos"]) for n in four})
    ours_ori = _rank({n: statistics.mean(minima[n]["ori"]) for n in four})
    paper_pos = _rank({n: PAPER_TABLE1[n][0] for n in four})
    paper_ori = _rank({n: PAPER_TABLE1[n][1] for n in four})

    def label(names):
        return " < ".join(LABELS[n] for n in names)

    lines += [
        "",
        "Ranking of the paper's four methods (best first):",
        "",
        f"- position, paper: {label(paper_pos)}",
        f"- position, ours: {label(ours_pos)} "
        f"({'agrees' if ours_pos == paper_pos else 'disagrees'})",
        f"- orientation, paper: {label(paper_ori)}",
        f"- orientation, ours: {label(ours_ori)} "
        f"({'agrees' if ours_ori == paper_ori else 'disagrees'})",
        f"- best on both at once in the paper: {LABELS['hybrid']}; ours: best position "
        f"{LABELS[ours_pos[0]]}, best orientation {LABELS[ours_ori[0]]}.",
    ]
    for png in ("fig1_losses.png", "fig1_weights.png"):
        shutil.copyfile(table1 / png, figures / png)
    rel = figures.relative_to(doc_dir)
    lines += [
        "",
        "## Fig. 1",
        "",
        f"(a)(b) validation position MSE and orientation error per epoch, seed "
        f"{next(iter(minima.values()))['seeds'][0]}:",
        "",
        f"![Fig. 1 (a)(b)]({rel}/fig1_losses.png)",
        "",
        "(c)(d) weight dynamics: each task's share of the weights (DTD's w_t where the "
        "strategy has them):",
        "",
        f"![Fig. 1 (c)(d)]({rel}/fig1_weights.png)",
        "",
    ]
    return "\n".join(lines) + "\n"


def position_rms(summary: dict) -> dict:
    """The position error's RMS [mm] of an ``evaluate`` summary, ``{"mean", "std"}`` over the
    repeats; for reports written before it was recorded, the root of the mean MSE (the same
    statistic pooled over equal repeats, so no std)."""
    if "pos_rms_mm" in summary:
        return summary["pos_rms_mm"]
    return {"mean": 1000 * math.sqrt(summary["pos_mse_m2"]["mean"]), "std": None}


def _val_rms(val: dict) -> str:
    """A validation record's position RMS [mm], from its MSE when the record predates the key."""
    return f"{val.get('pos_err_mm_rms', 1000 * math.sqrt(val['pos_mse_m2'])):.2f}"


def _ms(seconds: float) -> str:
    return f"{1000 * seconds:.3f} ms"


def model_section(model: Path, figures: Path, doc_dir: Path) -> str:
    card = json.loads(model.with_suffix(".json").read_text())
    ev = card["evaluation"]
    s, lat = ev["summary"], ev["single_query_latency_s"]
    arch = card["architecture"]
    log = [
        json.loads(line) for line in (model.parent / card["training_log"]).read_text().splitlines()
    ]
    samples = sum(st["epochs"] * st["train_per_epoch"] for st in card["stages"])
    seconds = training_seconds(log, card["stages"])
    devices = sorted({training_device(card, st) for st in card["stages"]})
    free = 1.0 - s["margin_m"]["colliding_fraction"]
    s = {**s, "pos_rms_mm": position_rms(s)}
    rows = list(ERROR_ROWS)
    lines = [
        "## Table II: the shipped model, network alone",
        "",
        f"`{model.as_posix()}`: {arch['hidden']} x {arch['blocks']} ResNet "
        f"({arch.get('input_features', 'quaternion')} input features), strategy "
        f"{card['strategy']}, stages "
        + ", ".join(
            f"{st['stage']} ({st['epochs']} epochs x {st['train_per_epoch']:,}, lr "
            f"{st['lr']:g}, targets {st['targets']})"
            for st in card["stages"]
        )
        + f"; {samples:,} training samples in {seconds / 60:.1f} min of training steps "
        f"on {' and '.join(devices)}, commit {card['git_commit']}.",
        "",
        *[f"Card note: {note}" for note in card.get("notes", [])],
        *([""] if card.get("notes") else []),
        f"Protocol (`evaluate`): {ev['repeats']} x {ev['goals']} goals, seed {ev['seed']}, "
        f"torch threads {ev['threads']}; mean and std over the repeats.",
        "",
        "| Metric | paper mean | paper std | ours mean | ours std | target |",
        "|---|---|---|---|---|---|",
    ]
    for label, key, fmt in rows:
        p = PAPER_TABLE2.get(key)
        paper = f"{fmt.format(p[0])} | {fmt.format(p[1])}" if p else "- | -"
        target = {"pos_rms_mm": "<= 5.73", "ori_err_deg": "<= 3.61"}.get(key, "")
        std = s[key]["std"]
        lines.append(
            f"| {label} | {paper} | {fmt.format(s[key]['mean'])} "
            f"| {'-' if std is None else fmt.format(std)} | {target} |"
        )
    p = PAPER_TABLE2["seconds_per_query"]
    lines.append(
        f"| Inference, one query at a time | {_ms(p[0])} | {_ms(p[1])} "
        f"| {_ms(lat['mean'])} | {_ms(lat['std'])} | <= {_ms(TARGET_SINGLE_QUERY_S)} |"
    )
    b = s["seconds_per_query_batched"]
    lines.append(
        f"| Inference, batch of {ev['goals']} (per query) | - | - "
        f"| {1e6 * b['mean']:.1f} us | {1e6 * b['std']:.1f} us | |"
    )
    lines.append(
        f"| Self-collision-free answers (capsule margin >= 0) | - | - | {free:.4f} | | "
        f">= {TARGET_COLLISION_FREE} |"
    )
    for key, value in s.items():
        if key.startswith("success_"):
            lines.append(
                f"| Within {key[8:].replace('_', ' & ')} | - | - "
                f"| {value['mean']:.4f} | {value['std']:.4f} | |"
            )
    for png in (f"{model.stem}_losses.png", f"{model.stem}_weights.png"):
        shutil.copyfile(model.parent / png, figures / png)
    rel = figures.relative_to(doc_dir)
    lines += [
        "",
        "Training curves of the shipped model (both stages; dashed: Stage 2 starts):",
        "",
        f"![losses]({rel}/{model.stem}_losses.png)",
        "",
        f"![weights]({rel}/{model.stem}_weights.png)",
        "",
    ]
    return "\n".join(lines) + "\n"


def training_device(card: dict, stage: dict) -> str:
    """Where a stage trained: its record's ``device`` (cards since 68f01ec), else the campaign
    plan's that ``ship_model --campaign-plan`` put in the card, else the CPU."""
    return stage.get("device") or card.get("training_campaign", {}).get("device") or "cpu"


def training_seconds(log: list[dict], stages: list[dict]) -> float:
    """Time spent in training steps [s]: each epoch's samples over its measured rate."""
    per_epoch = {st["stage"]: st["train_per_epoch"] for st in stages}
    return sum(per_epoch[r["stage"]] / r["samples_per_s"] for r in log)


def solver_section(solver_md: Path, solver_log: Path | None) -> str:
    lines = [
        "## With refinement: the solver, beside TRAC-IK on the same goals",
        "",
        "`benchmarks/bench_solver.py --model <shipped model>`: every answer judged by the "
        "same independent checks (KDL FK for the errors, the capsule model for the 5 mm "
        "margin, pybullet's meshes for self-collision). Columns: the solver without a "
        "network (default `network_seed: fallback` with no model), with the shipped network "
        "as fallback seed and as first seed, the network's answer alone, and TRAC-IK "
        "(20 ms, eps 1e-5, mid-range seed, one core).",
        "",
        solver_md.read_text().strip(),
        "",
    ]
    if solver_log is not None:
        lines += [
            "Full output of that run (seed sources, unreachable goals, Cartesian paths):",
            "",
            "```text",
            solver_log.read_text().rstrip(),
            "```",
            "",
        ]
    return "\n".join(lines) + "\n"


def choice_section(network_bench: Path | None) -> str:
    lines = [
        "## Why this network",
        "",
        "The solver refines any seed to micrometres; the network is its fallback seed for "
        "goals the seed table leaves unsolved (`network_seed: fallback`), so the network's "
        "cost per query counts against every such goal while its accuracy only saves LM "
        "iterations. The shipped architecture is therefore the one whose single query on "
        "one CPU thread meets the 0.3 ms target (latency by size below; the shipped model's "
        "own figure is in Table II), trained on a GPU for as many samples as the lent "
        "minutes allowed; the GPU campaign below compares it with 384 x 4 and with the "
        "paper's 1024 x 5, which is several times slower per query here. Both stages use the "
        "paper's hybrid weighting and its position and orientation targets; four departures, "
        "all in the configs (`config/train_ship_stage{1,2}.yaml` and "
        "`config/train_gpu.yaml`, which say why): the first layer sees the rotation matrix "
        "rather than the w >= 0 quaternion (which jumps at w = 0); each stage's learning "
        "rate decays by a cosine (at a constant rate the validation error wandered by a "
        "factor of two from epoch to epoch); Stage 2's collision target is tighter than the "
        "paper's, whose target leaves the collision term with practically zero weight; and "
        "on the GPU the batch is 8,192 rather than 1,024.",
        "",
    ]
    if network_bench is not None:
        lines += [
            "Latency by size (`benchmarks/bench_network.py`):",
            "",
            "```text",
            network_bench.read_text().rstrip(),
            "```",
            "",
        ]
    return "\n".join(lines) + "\n"


def campaign_section(plans: Sequence[Path], evaluations: Path) -> str:
    """The GPU campaign's runs (``train_campaign`` plan.json files) side by side: what each
    trained, its validation errors at the end of each stage, and, where ``evaluate`` wrote
    ``<evaluations>/table2_network_gpu_<run>.json``, the Table II protocol on this machine."""
    lines = [
        "## The GPU campaign: every network trained on the lent GPU",
        "",
        "`python -m dtd_ik.training.commands.train_campaign --config config/train_gpu.yaml` "
        "(`scripts/train_gpu.sh` on the GPU machine): the runs of one plan trained side by "
        "side on one GPU, each stage given the epochs that fit its share of the budget "
        "(measured by a probe). Validation: the last epoch's 20,000 held-out goals; Table "
        "II: `evaluate` on this CPU (100 x 1,000 goals, one torch thread).",
        "",
    ]
    for plan_path in plans:
        plan = json.loads(plan_path.read_text())
        root = plan_path.parent
        lines += [
            f"`{plan_path.as_posix()}`:",
            "",
            "| run | network | stage 1 | stage 2 | samples/s | val. end of stage 1 | "
            "val. end of stage 2 | Table II: pos. / ori. / collision-free / one query |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, run in plan["runs"].items():
            cells, ends, rates, arch = [], [], [], ""
            for i, epochs in enumerate(run["epochs"]):
                folder = root / name / f"stage{i + 1}"
                log = read_log(folder)
                cells.append(
                    f"{len(log)} x {run['samples_per_epoch'][i]:,}"
                    + ("" if len(log) == epochs else f" (of {epochs} planned)")
                )
                v = log[-1]["val"]
                ends.append(
                    f"{_val_rms(v)} mm RMS ({v['pos_err_mm']:.2f} mean), "
                    f"{v['ori_err_deg']:.2f} deg, "
                    f"{v['collision_free_fraction']:.4f}"
                )
                rates += [r["samples_per_s"] for r in log]
                card = folder / "model.json"
                if card.is_file():
                    a = json.loads(card.read_text())["architecture"]
                    features = a.get("input_features", "quaternion")
                    arch = f"{a['hidden']} x {a['blocks']}, {features}"
            ev_path = evaluations / f"table2_network_gpu_{name}.json"
            table2 = "-"
            if ev_path.is_file():
                ev = json.loads(ev_path.read_text())
                sm = ev["summary"]
                table2 = (
                    f"{position_rms(sm)['mean']:.2f} mm RMS / "
                    f"{sm['ori_err_deg']['mean']:.2f} "
                    f"deg / {1 - sm['margin_m']['colliding_fraction']:.4f} / "
                    f"{_ms(ev['single_query_latency_s']['mean'])}"
                )
            lines.append(
                f"| {name} | {arch} | {cells[0]} | {cells[1] if len(cells) > 1 else '-'} "
                f"| {statistics.median(rates):,.0f} | {ends[0]} | "
                f"{ends[1] if len(ends) > 1 else '-'} | {table2} |"
            )
        lines.append("")
        if "paper" in plan["runs"]:
            done = (
                len(read_log(root / "paper" / "stage1"))
                * plan["runs"]["paper"]["samples_per_epoch"][0]
            )
            lines.append(
                f"The paper's Stage 1 is {PAPER_STAGE1_SAMPLES:,} samples "
                f"({PAPER_STAGE1_EPOCHS} epochs x {PAPER_SAMPLES_PER_EPOCH:,}, Sec. "
                f"IV-B); run `paper` trained {done / PAPER_STAGE1_SAMPLES:.0%} of it in "
                f"its share of the budget."
            )
            lines.append("")
        lines.append(
            f"Device {plan['device']}, budget "
            f"{plan['budget_s']:.0f} s, probe {plan['probe_wall_s']:.0f} s, all runs "
            f"{plan['total_wall_s']:.0f} s."
        )
        lines.append("")
    return "\n".join(lines) + "\n"


def report(
    table1: Path,
    model: Path,
    solver_md: Path,
    solver_log: Path | None,
    out: Path,
    command: str,
    network_bench: Path | None = None,
    campaigns: Sequence[Path] = (),
    evaluations: Path = Path("runs/results"),
) -> str:
    figures = out.parent / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    text = [
        "# Results: the paper's tables, regenerated",
        "",
        f"Generated by `{command}` from the files the project's own commands wrote "
        "(`scripts/reproduce_results.sh` runs the whole chain: train, evaluate, ship, "
        "compare_strategies, bench_solver, this report). Only the paper's numbers are "
        "typed in (`training/results.py`). Evaluations and benchmarks ran on this machine "
        "(2 CPU cores); where training ran is said with each model.",
        "",
        table1_section(table1, figures, out.parent),
        model_section(model, figures, out.parent),
        choice_section(network_bench),
        *([campaign_section(campaigns, evaluations)] if campaigns else []),
        solver_section(solver_md, solver_log),
    ]
    return "\n".join(text)


__all__ = ["PAPER_TABLE1", "PAPER_TABLE2", "campaign_section", "report"]
