"""The evaluate command's metrics against predictors whose errors are known by construction."""

import json
import math
from pathlib import Path

import pytest
import torch

from dtd_ik.robot import COLLISION_MARGIN
from dtd_ik.training.commands.evaluate import main
from dtd_ik.training.config import load_config
from dtd_ik.training.evaluate import run_repeat, success_rate, summarise
from dtd_ik.training.objective import IKObjective, split_errors
from dtd_ik.training.samples import ConfigurationSampler, Samples
from dtd_ik.training.trainer import Trainer

ROOT = Path(__file__).resolve().parent.parent


def test_success_rate_by_hand():
    pos_sq = torch.tensor([0.0005, 0.002, 0.004, 0.0]) ** 2  # 0.5, 2, 4, 0 mm
    ori = torch.deg2rad(torch.tensor([0.5, 0.5, 3.0, 1.0]))
    assert success_rate(pos_sq, ori, 1.0, 0.57) == 0.25  # only the first
    assert success_rate(pos_sq, ori, 5.0, 2.0) == 0.75  # all but the 3 deg one


@pytest.fixture(scope="module")
def goals(capsules):
    g = torch.Generator().manual_seed(5)
    s = ConfigurationSampler(capsules, "panda_hand").sample(400, g)
    keep = s.q[:, 6] < capsules.kinematics.model.upper[6] - 0.1  # room for the offset below
    return Samples(s.x[keep], s.q[keep])


def test_exact_answers_score_zero_error_and_full_success(goals, capsules):
    objective = IKObjective(capsules.kinematics, capsules, "panda_hand")
    r = run_repeat(lambda x: goals.q, goals, objective)
    s = summarise([r, r], COLLISION_MARGIN)
    assert s["pos_err_mm"]["mean"] < 1e-3 and s["ori_err_deg"]["mean"] < 0.05
    assert s["success_1mm_0.57deg"]["mean"] == 1.0 and s["success_1mm_0.57deg"]["std"] == 0.0
    assert s["margin_m"]["colliding_fraction"] == 0.0  # goals are collision-free


def test_rms_and_mean_of_a_known_error_distribution(goals, capsules):
    # a predictor whose position errors are constructed: half the goals answered exactly, half
    # with the hand moved 8 mm along x (a pure translation of the goal: errors 0 and 8 mm), so
    # mean = 4 mm and RMS = sqrt((0 + 64) / 2) = 5.657 mm: they must differ as they do
    objective = IKObjective(capsules.kinematics, capsules, "panda_hand")
    n = len(goals) // 2 * 2
    x = goals.x[:n].clone()
    moved = torch.arange(n) % 2 == 1
    x[moved, 0] += 0.008
    shifted = Samples(x, goals.q[:n])
    r = run_repeat(lambda _: shifted.q, shifted, objective)
    s = summarise([r, r], COLLISION_MARGIN)
    assert s["pos_err_mm"]["mean"] == pytest.approx(4.0, abs=1e-3)
    assert s["pos_rms_mm"]["mean"] == pytest.approx(math.sqrt(32.0), abs=1e-3)
    assert s["pos_rms_mm"]["mean"] == pytest.approx(1000 * math.sqrt(s["pos_mse_m2"]["mean"]))
    e = s["position_error_mm"]
    assert e["rms"] == pytest.approx(math.sqrt(32.0), abs=1e-3) and e["mean"] == pytest.approx(
        4.0, abs=1e-3
    )
    assert e["p95"] == pytest.approx(8.0, abs=1e-3)
    # the training-side summary (validation, the model card) says the same
    errors = split_errors(lambda _: shifted.q, shifted, objective, torch.device("cpu"))
    v = errors.summary()
    assert v["pos_err_mm"] == pytest.approx(4.0, abs=1e-3)
    assert v["pos_err_mm_rms"] == pytest.approx(math.sqrt(32.0), abs=1e-3)


def test_a_last_joint_offset_is_a_pure_rotation_about_the_flange_axis(goals, capsules):
    # joint 7 turns the hand about an axis through the panda_hand origin: position unchanged,
    # orientation off by exactly the offset (0.02 rad = 1.146 deg)
    objective = IKObjective(capsules.kinematics, capsules, "panda_hand")
    offset = torch.tensor([0, 0, 0, 0, 0, 0, 0.02])
    r = run_repeat(lambda x: goals.q + offset, goals, objective)
    s = summarise([r], COLLISION_MARGIN)
    assert s["pos_err_mm"]["mean"] < 1e-3
    assert s["ori_err_rad"]["mean"] == pytest.approx(0.02, abs=2e-4)
    assert s["ori_err_deg"]["mean"] == pytest.approx(math.degrees(0.02), abs=0.01)
    assert s["success_1mm_0.57deg"]["mean"] == 0.0 and s["success_5mm_2deg"]["mean"] == 1.0


def test_evaluate_command_on_an_exported_model(tmp_path, capsys):
    cfg = load_config(ROOT / "config/train_tiny.yaml", [f"out_dir={tmp_path / 'run'}", "epochs=1"])
    model = Trainer(cfg).run().model_path
    out = tmp_path / "report.json"
    assert (
        main(
            [
                "--model",
                str(model),
                "--goals",
                "50",
                "--repeats",
                "3",
                "--single-queries",
                "5",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    report = json.loads(out.read_text())
    s = report["summary"]
    assert report["repeats"] == 3 and report["goals"] == 50
    assert s["pos_err_mm"]["mean"] > 0 and s["pos_err_mm"]["std"] > 0
    rms_mm = math.sqrt(s["pos_mse_m2"]["mean"]) * 1000
    assert rms_mm >= s["pos_err_mm"]["mean"] * 0.999  # RMS >= mean
    assert s["pos_rms_mm"]["mean"] > s["pos_err_mm"]["mean"]
    md = out.with_suffix(".md").read_text()
    assert "| Pos. error RMS (mm) |" in md and "| Pos. error mean (mm) |" in md
    capsys.readouterr()
    assert main(["--model", str(tmp_path / "nope.pt")]) == 2
    assert "model file not found" in capsys.readouterr().err
