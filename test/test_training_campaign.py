"""train_campaign: budget planning, config checks, the deadline, and a real two-stage dry run on
the CPU (the GPU campaign's code path, with a tiny network and budget)."""

import json
import sys
import time
from pathlib import Path

import pytest

from dtd_ik.exceptions import ConfigError
from dtd_ik.solver.network import load_ik_network
from dtd_ik.training import campaign
from dtd_ik.training.campaign import RunSpec, load_campaign, plan_epochs, samples_per_epoch
from dtd_ik.training.commands import train_campaign
from dtd_ik.training.results import campaign_section

ROOT = Path(__file__).resolve().parent.parent
TINY = [
    "model.hidden=16",
    "model.blocks=1",
    "data.train_per_epoch=2048",
    "data.val_size=512",
    "data.test_size=512",
    "optim.batch_size=512",
    "threads=1",
]


@pytest.mark.parametrize(
    "share, cap, budget, epoch_s, overhead, expected",
    [
        ([0.6, 0.4], [None, None], 100.0, 1.0, 4.0, [51, 33]),  # (60 - 4) / 1.08, (40 - 4) / 1.08
        ([0.5, 0.5], [10, None], 100.0, 1.0, 0.0, [10, 46]),  # capped
        ([0.5, 0.5], [None, None], 10.0, 20.0, 0.0, [1, 1]),  # nothing fits: one epoch each
    ],
)
def test_epochs_fill_each_stage_share(share, cap, budget, epoch_s, overhead, expected):
    run = RunSpec(["a", "b"], share, cap)
    assert plan_epochs(run, budget, epoch_s, overhead) == expected
    for n, s, c in zip(expected, share, cap):
        if n > 1 and c is None:  # the largest count whose time (with the margin) fits the share
            assert n * epoch_s * campaign.EPOCH_TIME_MARGIN + overhead <= s * budget
            assert (n + 1) * epoch_s * campaign.EPOCH_TIME_MARGIN + overhead > s * budget


def test_the_gpu_campaign_config_loads_and_every_stage_validates():
    c = load_campaign(ROOT / "config" / "train_gpu.yaml")
    assert c.budget_s > 0 and set(c.runs) >= {"paper", "ship384", "ship256"}
    for run in c.runs.values():
        for config, extra in zip(run.stages, run.stage_overrides):
            assert samples_per_epoch(str(ROOT / config), [*run.overrides, *extra]) > 0


@pytest.mark.parametrize(
    "text, message",
    [
        ("budget_s: 10\nruns: {a: {stages: [x.yaml], share: [1.2]}}", "share"),
        ("budget_s: 10\nruns: {a: {stages: [x.yaml, y.yaml], share: [0.5]}}", "share"),
        (
            "budget_s: 10\nruns: {a: {stages: [x.yaml], share: [1], stage_overrides: [[], []]}}",
            "override list",
        ),
        ("budget_s: 0\nruns: {a: {stages: [x.yaml], share: [1]}}", "budget_s"),
        ("budget_s: 10\nrunz: {}", "^runz: unknown key"),
        (
            "budget_s: 10\nruns: {a: {stages: [x.yaml], shares: [1]}}",
            "^runs.a.shares: unknown key",
        ),
        ("budget_s: ten\nruns: {a: {stages: [x.yaml], share: [1]}}", "^budget_s: expected float"),
        (
            "budget_s: 10\nruns: {a: {stages: [x.yaml], share: [one]}}",
            r"^runs.a.share\[0\]: expected float",
        ),
        ("- a list", "top level"),
        ("budget_s: [10", "not valid YAML"),
    ],
)
def test_bad_campaigns_are_refused(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_campaign(path)


def test_a_command_past_the_deadline_is_stopped(tmp_path):
    cmd = [sys.executable, "-c", "import time; time.sleep(60)"]
    t0 = time.monotonic()
    out = campaign.run_side_by_side({"sleeper": cmd}, tmp_path, deadline=time.monotonic() + 1.0)
    assert out["sleeper"]["stopped"] and out["sleeper"]["rc"] != 0
    assert time.monotonic() - t0 < 30


@pytest.mark.slow
def test_a_tiny_campaign_trains_both_stages_within_its_budget(tmp_path):
    config = tmp_path / "campaign.yaml"
    config.write_text(
        "budget_s: 14\nprobe_epochs: 2\ngrace_s: 20\nruns:\n  tiny:\n"
        f"    stages: [{ROOT}/config/train_ship_stage1.yaml, "
        f"{ROOT}/config/train_ship_stage2.yaml]\n"
        "    share: [0.6, 0.4]\n    overrides: [log.tensorboard=false]\n"
        "    stage_overrides: [[], [optim.lr=5.0e-5]]\n"
    )
    out = tmp_path / "runs"
    argv = ["--config", str(config), "--out", str(out), "--device", "cpu"]
    for o in TINY:
        argv += ["--train-override", o]
    t0 = time.monotonic()
    assert train_campaign.main(argv) == 0
    plan = json.loads((out / "plan.json").read_text())
    run = plan["runs"]["tiny"]
    assert [s["rc"] for s in run["stages"]] == [0, 0]
    assert not any(s["stopped"] for s in run["stages"])
    training_s = plan["total_wall_s"] - plan["probe_wall_s"]
    assert training_s <= 14 + 20  # budget + grace
    assert time.monotonic() - t0 < 120
    card = json.loads((out / "tiny" / "stage2" / "model.json").read_text())
    stage1, stage2 = card["stages"]
    assert [stage1["epochs"], stage2["epochs"]] == run["epochs"]  # the plan, as trained
    assert stage2["init_from"].endswith("tiny/stage1/checkpoint.pt")
    assert stage1["lr"] == 1e-3 and stage2["lr"] == 5e-5  # the per-stage override, stage 2 only
    load_ik_network(out / "tiny" / "stage2" / "model.pt")
    # the results report's table reads the same files
    row = next(
        line
        for line in campaign_section([out / "plan.json"], tmp_path).splitlines()
        if line.startswith("| tiny |")
    )
    last = json.loads((out / "tiny" / "stage2" / "log.jsonl").read_text().splitlines()[-1])
    e1, e2 = run["epochs"]
    assert f"| 16 x 1, rotation_matrix | {e1} x 2,048 | {e2} x 2,048 |" in row
    assert (
        f"{last['val']['pos_err_mm_rms']:.2f} mm RMS ({last['val']['pos_err_mm']:.2f} mean)" in row
        and row.endswith("| - |")
    )


def test_a_bad_stage_override_is_refused_before_any_training(tmp_path, capsys):
    config = tmp_path / "campaign.yaml"
    config.write_text(
        f"budget_s: 10\nruns:\n  a:\n    stages: [{ROOT}/config/train_tiny.yaml]\n"
        "    share: [1.0]\n    overrides: [optim.lr=-1]\n"
    )
    out = tmp_path / "runs"
    argv = ["--config", str(config), "--out", str(out), "--device", "cpu"]
    assert train_campaign.main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "optim.lr" in err[0], err
    assert not out.exists()  # nothing started
