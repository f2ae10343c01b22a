"""The model shipped in models/: loadable by the runtime, carrying its card, log and plots, and
scoring what its card says on fresh goals judged by pybullet's FK (an independent reference)."""

import json
from pathlib import Path

import numpy as np
import torch

from dtd_ik import IKSolver
from dtd_ik.solver.network import load_ik_network

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "dtd_w_panda.pt"


def test_the_shipped_files_are_complete():
    card = json.loads(MODEL.with_suffix(".json").read_text())
    assert card["strategy"] == "hybrid" and [s["stage"] for s in card["stages"]] == [1, 2]
    assert card["git_commit"] and card["evaluation"]["repeats"] == 100
    assert card["evaluation"]["goals"] == 1000
    log = (MODEL.parent / card["training_log"]).read_text().splitlines()
    assert len(log) == sum(s["epochs"] for s in card["stages"])
    for png in ("dtd_w_panda_losses.png", "dtd_w_panda_weights.png"):
        assert (MODEL.parent / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert MODEL.stat().st_size < 8e6  # the repository stays light


def test_the_network_scores_what_its_card_says_on_fresh_goals(kin, capsules, pybullet_panda):
    net = load_ik_network(MODEL)
    card = json.loads(MODEL.with_suffix(".json").read_text())["evaluation"]["summary"]
    rng = np.random.default_rng(11)
    q = rng.uniform(kin.model.lower, kin.model.upper, (3000, 7))
    q = q[capsules.distance(torch.tensor(q)).distance.numpy() >= 0.0][:400]
    goals = []
    for qi in q:  # goal poses of panda_hand from pybullet's FK, not ours
        pybullet_panda.set_joints(qi)
        p, quat = pybullet_panda.link_pose("panda_hand")
        goals.append([*p, *quat])
    x = torch.tensor(np.array(goals), dtype=torch.float32)
    answer = net(x).double().numpy()
    err = []
    for qi, g in zip(answer, goals):
        pybullet_panda.set_joints(qi)
        p, _ = pybullet_panda.link_pose("panda_hand")
        err.append(np.linalg.norm(np.asarray(p) - np.asarray(g[:3])))
    mean_mm = 1000 * float(np.mean(err))
    # 400 goals estimate the card's 100 x 1,000 mean to within a few standard errors
    assert abs(mean_mm - card["pos_err_mm"]["mean"]) < 0.25 * card["pos_err_mm"]["mean"], (
        mean_mm,
        card["pos_err_mm"]["mean"],
    )


def test_the_solver_refines_the_shipped_networks_seeds_to_exact_answers(kin, capsules):
    solver = IKSolver.load(MODEL, network_seed="first")
    rng = np.random.default_rng(12)
    q = rng.uniform(kin.model.lower, kin.model.upper, (400, 7))
    q = q[capsules.distance(torch.tensor(q)).distance.numpy() >= 0.01][:100]
    pose = kin.forward(torch.tensor(q), "panda_hand")
    r = solver.solve(pose.position.numpy(), pose.quaternion.numpy())
    assert r.success.mean() >= 0.99
    assert np.median(r.position_error[r.success]) < 1e-6
