"""Several two-stage trainings side by side on one device, within one wall-clock budget (a lent
GPU for a few minutes, say): the ``train_campaign`` command.

Each run is the project's own ``train`` command on its stage configs (config/train_gpu.yaml).
A probe (``probe_epochs`` of every run's Stage 1, all at once, so the device is shared as it will
be) measures each run's epoch time and start-up cost; each stage then gets the epochs that fit its
share of ``budget_s`` (at most the configured ``epochs``). Stage 2 starts from Stage 1's
checkpoint. A run still going ``grace_s`` past the budget is stopped with SIGTERM (it writes its
checkpoint). ``<out>/plan.json`` holds the probe, every command as run, and the outcomes.
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dtd_ik.config_files import load, parse_overrides, setting
from dtd_ik.exceptions import ConfigError

from .config import load_config
from .run_log import read_log

#: an epoch may take this much longer in the real run than in the probe
EPOCH_TIME_MARGIN = 1.08
#: how far the stage shares of a run may sum beyond 1 (float rounding of shares like 0.6 + 0.4)
SHARE_SUM_SLACK = 1e-9


@dataclass
class RunSpec:
    """One run (``runs.<name>`` in the campaign YAML): its stage configs, each stage's share of
    the budget and epoch cap (None or 0: no cap), overrides for every stage and for each stage.
    Caps and per-stage overrides left out mean none for every stage."""

    stages: tuple[str, ...] = ()
    share: tuple[float, ...] = ()
    epochs: tuple[int | None, ...] | None = None
    overrides: tuple[str, ...] = ()
    stage_overrides: tuple[tuple[str, ...], ...] | None = None

    def __post_init__(self) -> None:
        if self.epochs is None:
            self.epochs = (None,) * len(self.stages)
        if self.stage_overrides is None:
            self.stage_overrides = ((),) * len(self.stages)


@dataclass
class Campaign:
    """A campaign YAML: the training budget [s] shared by every run's stages, the probe's epochs,
    the grace [s] past the budget before a run is stopped, and the runs by name."""

    budget_s: float = setting(0.0, gt=0)
    probe_epochs: int = setting(3, ge=2)  # the first is left out of the epoch time
    grace_s: float = 30.0
    runs: dict[str, RunSpec] = field(default_factory=dict)


def load_campaign(path: Path, overrides: Sequence[str] = ()) -> Campaign:
    """The campaign YAML at ``path`` with ``key=value`` overrides.

    Raises:
        ConfigError: naming the dotted key of an unknown key, a value of the wrong type or out of
            its range, or a run whose per-stage lists do not match its stages.
    """
    campaign = load(Campaign, path, "campaign config", overrides=parse_overrides(overrides))
    if not campaign.runs:
        raise ConfigError(f"runs: campaign config {path} needs at least one run")
    for name, run in campaign.runs.items():
        n = len(run.stages)
        if (
            not n
            or len(run.share) != n
            or len(run.epochs) != n
            or len(run.stage_overrides) != n
            or any(s <= 0 for s in run.share)
            or sum(run.share) > 1.0 + SHARE_SUM_SLACK
        ):
            raise ConfigError(
                f"runs.{name}: needs stages, one positive share per stage "
                f"(sum <= 1) and, if given, one epoch cap and one override list "
                f"per stage"
            )
    return campaign


def train_command(config: str, out: Path, device: str, overrides: Sequence[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "dtd_ik.training",
        "--config",
        config,
        "--out",
        str(out),
        "--device",
        device,
        *overrides,
    ]


def run_side_by_side(
    commands: dict[str, list[str]], logs: Path, deadline: float = math.inf
) -> dict[str, dict]:
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
                out[name] = {
                    "rc": p.returncode,
                    "wall_s": time.monotonic() - started,
                    "stopped": name in stopped,
                }
                del procs[name]
            elif time.monotonic() > deadline and name not in stopped:
                p.send_signal(signal.SIGTERM)
                stopped.add(name)
        time.sleep(0.2)
    return out


def probe(campaign: Campaign, out: Path, device: str, extra: Sequence[str]) -> dict[str, dict]:
    """Every run's Stage 1 for ``probe_epochs`` at once: epoch time (the first epoch left out)
    and the rest of the process's wall time (start-up, test, export) [s]."""
    commands = {
        name: train_command(
            r.stages[0],
            out / name / "probe",
            device,
            [
                *r.overrides,
                *r.stage_overrides[0],
                *extra,
                f"epochs={campaign.probe_epochs}",
                "export=false",
                "log.tensorboard=false",
            ],
        )
        for name, r in campaign.runs.items()
    }
    results = run_side_by_side(commands, out / "logs" / "probe")
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


def _stage_commands(
    name: str, run: RunSpec, epochs: list[int], out: Path, device: str, extra: Sequence[str]
) -> list[list[str]]:
    commands = []
    for i, (config, n) in enumerate(zip(run.stages, epochs)):
        overrides = [*run.overrides, *run.stage_overrides[i], *extra, f"epochs={n}"]
        if i:
            overrides.append(f"init_from={out / name / f'stage{i}' / 'checkpoint.pt'}")
        commands.append(train_command(config, out / name / f"stage{i + 1}", device, overrides))
    return commands


def run_campaign(campaign: Campaign, out: Path, device: str, extra: Sequence[str] = ()) -> dict:
    """Probe, plan, then every run's stages in order, the runs side by side. Returns the plan
    (also written to ``<out>/plan.json``)."""
    # every stage's config and overrides are checked before any work (ConfigError naming the key)
    samples = {
        name: [
            samples_per_epoch(c, [*run.overrides, *o, *extra])
            for c, o in zip(run.stages, run.stage_overrides)
        ]
        for name, run in campaign.runs.items()
    }
    out.mkdir(parents=True, exist_ok=True)
    plan: dict = {"device": device, "budget_s": campaign.budget_s, "extra_overrides": list(extra)}
    t0 = time.monotonic()
    plan["probe"] = probe(campaign, out, device, extra)
    plan["probe_wall_s"] = time.monotonic() - t0
    deadline = time.monotonic() + campaign.budget_s + campaign.grace_s
    runs = {}
    for name, run in campaign.runs.items():
        p = plan["probe"][name]
        epochs = plan_epochs(run, campaign.budget_s, p["epoch_s"], p["overhead_s"])
        runs[name] = {
            "epochs": epochs,
            "commands": _stage_commands(name, run, epochs, out, device, extra),
            "samples_per_epoch": samples[name],
            "stages": [],
        }
    plan["runs"] = runs
    (out / "plan.json").write_text(json.dumps(plan, indent=1))

    def one_run(name: str) -> None:
        for i, cmd in enumerate(runs[name]["commands"]):
            res = run_side_by_side({f"{name}_stage{i + 1}": cmd}, out / "logs", deadline)
            runs[name]["stages"].append(res[f"{name}_stage{i + 1}"])
            if res[f"{name}_stage{i + 1}"]["rc"] != 0:
                return  # a failed or stopped stage 1 leaves nothing for stage 2 to start from

    threads = [threading.Thread(target=one_run, args=(name,)) for name in campaign.runs]
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
    lines = [
        f"{'run':10s} {'stage':>5s} {'epochs':>6s} {'wall_s':>7s} {'rc':>3s} "
        f"{'samples':>12s} {'pos_rms':>7s} {'pos_mean':>8s} {'ori_deg':>7s} "
        f"{'coll_free':>9s}"
    ]
    for name, run in plan["runs"].items():
        for i, res in enumerate(run["stages"]):
            folder = out / name / f"stage{i + 1}"
            log = read_log(folder) if (folder / "log.jsonl").exists() else []
            val = log[-1]["val"] if log else {}
            lines.append(
                f"{name:10s} {i + 1:5d} {len(log):6d} {res['wall_s']:7.1f} "
                f"{res['rc']:3d} {len(log) * run['samples_per_epoch'][i]:12,d} "
                f"{val.get('pos_err_mm_rms', math.nan):7.2f} "
                f"{val.get('pos_err_mm', math.nan):8.2f} "
                f"{val.get('ori_err_deg', math.nan):7.2f} "
                f"{val.get('collision_free_fraction', math.nan):9.4f}"
            )
    return "\n".join(lines)


def select_runs(campaign: Campaign, names: Sequence[str]) -> None:
    """Keep only the runs named in ``names`` (in the campaign's order); raises ConfigError
    naming any that the campaign does not have."""
    missing = set(names) - set(campaign.runs)
    if missing:
        raise ConfigError(f"--runs: unknown runs {sorted(missing)}")
    campaign.runs = {name: run for name, run in campaign.runs.items() if name in names}


def unfinished_runs(plan: dict) -> list[str]:
    """The runs of a finished :func:`run_campaign` plan with a stage that failed, was stopped or
    never started."""
    return [
        n
        for n, r in plan["runs"].items()
        if len(r["stages"]) < len(r["commands"]) or any(s["rc"] for s in r["stages"])
    ]


__all__ = [
    "EPOCH_TIME_MARGIN",
    "Campaign",
    "RunSpec",
    "load_campaign",
    "plan_epochs",
    "run_campaign",
    "run_side_by_side",
    "samples_per_epoch",
    "select_runs",
    "summary",
    "unfinished_runs",
]
