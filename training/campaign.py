"""``train_campaign``: several two-stage trainings side by side on one device, within one
wall-clock budget (a lent GPU for a few minutes, say).

    python -m dtd_ik.training.campaign --config config/train_gpu.yaml --out runs/gpu \\
        [--device cuda] [--runs paper,ship384] [--train-override key=value ...] [budget_s=420 ...]

Each run is the project's own ``train`` command on its stage configs (config/train_gpu.yaml).
A probe (``probe_epochs`` of every run's Stage 1, all at once, so the device is shared as it will
be) measures each run's epoch time and start-up cost; each stage then gets the epochs that fit its
share of ``budget_s`` (at most the configured ``epochs``). Stage 2 starts from Stage 1's
checkpoint. A run still going ``grace_s`` past the budget is stopped with SIGTERM (it writes its
checkpoint). ``<out>/plan.json`` holds the probe, every command as run, and the outcomes.
"""
from __future__ import annotations

import argparse
import json
import math
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from dtd_ik.config_files import read_yaml
from dtd_ik.exceptions import ConfigError

from .config import load_config, parse_overrides
from .run_log import read_log

#: the keys of one run in the campaign YAML
RUN_KEYS = {"stages", "share", "epochs", "overrides", "stage_overrides"}
#: an epoch may take this much longer in the real run than in the probe
EPOCH_TIME_MARGIN = 1.08


@dataclass
class RunSpec:
    """One run: its stage configs, each stage's share of the budget and epoch cap, overrides
    for every stage and for each stage."""

    name: str
    stages: list[str]
    share: list[float]
    epochs: list[Optional[int]]
    overrides: list[str] = field(default_factory=list)
    stage_overrides: list[list[str]] = field(default_factory=list)


@dataclass
class Campaign:
    budget_s: float
    probe_epochs: int
    grace_s: float
    runs: list[RunSpec]


def load_campaign(path: Path, overrides: Sequence[str] = ()) -> Campaign:
    """The campaign YAML with top-level ``key=value`` overrides; raises ConfigError."""
    try:
        return _parse_campaign(path, overrides)
    except ConfigError:
        raise
    except (TypeError, ValueError, AttributeError) as exc:  # a value of the wrong kind
        raise ConfigError(f"{path}: {type(exc).__name__}: {exc}") from exc


def _parse_campaign(path: Path, overrides: Sequence[str]) -> Campaign:
    tree = read_yaml(path, "campaign config") or {}
    if not isinstance(tree, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    tree.update(parse_overrides(overrides))
    unknown = set(tree) - {"budget_s", "probe_epochs", "grace_s", "runs"}
    if unknown:
        raise ConfigError(f"{path}: unknown keys {sorted(unknown)}")
    runs = []
    for name, run in (tree.get("runs") or {}).items():
        if not isinstance(run, dict) or set(run) - RUN_KEYS:
            raise ConfigError(f"runs.{name}: expected a mapping of {sorted(RUN_KEYS)}, got "
                              f"{sorted(run) if isinstance(run, dict) else run!r}")
        stages = list(run.get("stages", []))
        share = [float(s) for s in run.get("share", [])]
        epochs = list(run.get("epochs", [None] * len(stages)))
        per_stage = [[str(o) for o in s] for s in run.get("stage_overrides", [[]] * len(stages))]
        if not stages or len(share) != len(stages) or len(epochs) != len(stages) \
                or len(per_stage) != len(stages) or any(s <= 0 for s in share) \
                or sum(share) > 1.0 + 1e-9:
            raise ConfigError(f"runs.{name}: needs stages, one positive share per stage "
                              f"(sum <= 1) and, if given, one epoch cap and one override list "
                              f"per stage")
        runs.append(RunSpec(name, stages, share, epochs, [str(o) for o in run.get("overrides", [])],
                            per_stage))
    campaign = Campaign(float(tree.get("budget_s", 0)), int(tree.get("probe_epochs", 3)),
                        float(tree.get("grace_s", 30)), runs)
    if campaign.budget_s <= 0 or campaign.probe_epochs < 2 or not runs:
        raise ConfigError(f"{path}: needs budget_s > 0, probe_epochs >= 2 and at least one run")
    return campaign


def train_command(config: str, out: Path, device: str, overrides: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "dtd_ik.training", "--config", config, "--out", str(out),
            "--device", device, *overrides]


def _run_all(commands: dict[str, list[str]], logs: Path,
             deadline: float = math.inf) -> dict[str, dict]:
    """Runs the commands side by side; SIGTERM to any still going at ``deadline``.
    Returns {name: {"rc", "wall_s", "stopped"}}."""
    logs.mkdir(parents=True, exist_ok=True)
    procs, started, out = {}, time.monotonic(), {}
    for name, cmd in commands.items():
        with open(logs / f"{name}.log", "w") as log:
            procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    stopped = set()
    while procs:
        for name, p in list(procs.items()):
            if p.poll() is not None:
                out[name] = {"rc": p.returncode, "wall_s": time.monotonic() - started,
                             "stopped": name in stopped}
                del procs[name]
            elif time.monotonic() > deadline and name not in stopped:
                p.send_signal(signal.SIGTERM)
                stopped.add(name)
        time.sleep(0.2)
    return out


def probe(campaign: Campaign, out: Path, device: str, extra: Sequence[str]) -> dict[str, dict]:
    """Every run's Stage 1 for ``probe_epochs`` at once: epoch time (the first epoch left out)
    and the rest of the process's wall time (start-up, test, export) [s]."""
    commands = {r.name: train_command(r.stages[0], out / r.name / "probe", device,
                                      [*r.overrides, *r.stage_overrides[0], *extra,
                                       f"epochs={campaign.probe_epochs}",
                                       "export=false", "log.tensorboard=false"])
                for r in campaign.runs}
    results = _run_all(commands, out / "logs" / "probe")
    for name, res in results.items():
        if res["rc"] != 0:
            log = (out / "logs" / "probe" / f"{name}.log").read_text()[-3000:]
            raise RuntimeError(f"probe of {name} failed (exit {res['rc']}):\n{log}")
        epochs = [r["epoch_s"] for r in read_log(out / name / "probe")]
        res["epoch_s"] = sum(epochs[1:]) / len(epochs[1:])
        res["overhead_s"] = max(res["wall_s"] - sum(epochs), 0.0)
    return results


def plan_epochs(run: RunSpec, budget_s: float, epoch_s: float, overhead_s: float) -> list[int]:
    """Epochs per stage: what fits the stage's share of the budget after its start-up, at most
    the stage's cap, at least 1."""
    plan = []
    for share, cap in zip(run.share, run.epochs):
        fit = int((share * budget_s - overhead_s) / (epoch_s * EPOCH_TIME_MARGIN))
        plan.append(max(1, min(fit, cap) if cap else fit))
    return plan


def _stage_commands(run: RunSpec, epochs: list[int], out: Path, device: str,
                    extra: Sequence[str]) -> list[list[str]]:
    commands = []
    for i, (config, n) in enumerate(zip(run.stages, epochs)):
        overrides = [*run.overrides, *run.stage_overrides[i], *extra, f"epochs={n}"]
        if i:
            overrides.append(f"init_from={out / run.name / f'stage{i}' / 'checkpoint.pt'}")
        commands.append(train_command(config, out / run.name / f"stage{i + 1}", device,
                                      overrides))
    return commands


def run_campaign(campaign: Campaign, out: Path, device: str,
                 extra: Sequence[str] = ()) -> dict:
    """Probe, plan, then every run's stages in order, the runs side by side. Returns the plan
    (also written to ``<out>/plan.json``)."""
    # every stage's config and overrides are checked before any work (ConfigError naming the key)
    samples = {run.name: [samples_per_epoch(c, [*run.overrides, *o, *extra])
                          for c, o in zip(run.stages, run.stage_overrides)]
               for run in campaign.runs}
    out.mkdir(parents=True, exist_ok=True)
    plan: dict = {"device": device, "budget_s": campaign.budget_s, "extra_overrides": list(extra)}
    t0 = time.monotonic()
    plan["probe"] = probe(campaign, out, device, extra)
    plan["probe_wall_s"] = time.monotonic() - t0
    deadline = time.monotonic() + campaign.budget_s + campaign.grace_s
    runs = {}
    for run in campaign.runs:
        p = plan["probe"][run.name]
        epochs = plan_epochs(run, campaign.budget_s, p["epoch_s"], p["overhead_s"])
        runs[run.name] = {"epochs": epochs,
                          "commands": _stage_commands(run, epochs, out, device, extra),
                          "samples_per_epoch": samples[run.name],
                          "stages": []}
    plan["runs"] = runs
    (out / "plan.json").write_text(json.dumps(plan, indent=1))

    def one_run(name: str) -> None:
        for i, cmd in enumerate(runs[name]["commands"]):
            res = _run_all({f"{name}_stage{i + 1}": cmd}, out / "logs", deadline)
            runs[name]["stages"].append(res[f"{name}_stage{i + 1}"])
            if res[f"{name}_stage{i + 1}"]["rc"] != 0:
                return  # a failed or stopped stage 1 leaves nothing for stage 2 to start from

    threads = [threading.Thread(target=one_run, args=(r.name,)) for r in campaign.runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    plan["total_wall_s"] = time.monotonic() - t0
    (out / "plan.json").write_text(json.dumps(plan, indent=1))
    return plan


def samples_per_epoch(config: str, overrides: Sequence[str]) -> int:
    """``data.train_per_epoch`` of a stage config with its overrides, read and validated as
    ``train`` reads them (the previous stage's checkpoint, not there yet, is left out)."""
    own = [o for o in overrides if not o.startswith("init_from=")]
    return load_config(config, [*own, "init_from="]).data.train_per_epoch


def summary(plan: dict, out: Path) -> str:
    """One line per stage: epochs done, wall time, exit code, samples, last validation errors."""
    lines = [f"{'run':10s} {'stage':>5s} {'epochs':>6s} {'wall_s':>7s} {'rc':>3s} "
             f"{'samples':>12s} {'pos_mm':>7s} {'ori_deg':>7s} {'coll_free':>9s}"]
    for name, run in plan["runs"].items():
        for i, res in enumerate(run["stages"]):
            folder = out / name / f"stage{i + 1}"
            log = read_log(folder) if (folder / "log.jsonl").exists() else []
            val = log[-1]["val"] if log else {}
            lines.append(f"{name:10s} {i + 1:5d} {len(log):6d} {res['wall_s']:7.1f} "
                         f"{res['rc']:3d} {len(log) * run['samples_per_epoch'][i]:12,d} "
                         f"{val.get('pos_err_mm', math.nan):7.2f} "
                         f"{val.get('ori_err_deg', math.nan):7.2f} "
                         f"{val.get('collision_free_fraction', math.nan):9.4f}")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="train_campaign", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", type=Path, required=True, help="campaign YAML")
    p.add_argument("--out", type=Path, required=True, help="folder of the runs")
    p.add_argument("--device", default="cuda", help="the one device all runs share")
    p.add_argument("--runs", help="comma-separated run names (default: all)")
    p.add_argument("--train-override", action="append", default=[], metavar="key=value",
                   help="appended to every train command (e.g. a small model for a dry run)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="campaign keys")
    args = p.parse_args(argv)
    try:
        campaign = load_campaign(args.config, args.overrides)
        if args.runs:
            wanted = args.runs.split(",")
            missing = set(wanted) - {r.name for r in campaign.runs}
            if missing:
                raise ConfigError(f"--runs: unknown runs {sorted(missing)}")
            campaign.runs = [r for r in campaign.runs if r.name in wanted]
        plan = run_campaign(campaign, args.out, args.device, args.train_override)
    except (ConfigError, RuntimeError) as exc:
        print(f"train_campaign: {exc}", file=sys.stderr)
        return 1
    print(summary(plan, args.out))
    failed = [n for n, r in plan["runs"].items()
              if len(r["stages"]) < len(r["commands"]) or any(s["rc"] for s in r["stages"])]
    if failed:
        print(f"train_campaign: not finished: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
