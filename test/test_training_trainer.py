"""The trainer end to end on the tiny config: learning, resume, export, two stages, DDP."""

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dtd_ik.solver.network import load_ik_network
from dtd_ik.training.checkpoint import load_checkpoint
from dtd_ik.training.config import load_config
from dtd_ik.training.run_log import read_log
from dtd_ik.training.trainer import Trainer

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "config" / "train_tiny.yaml"


def tiny(tmp_path, name="run", *overrides):
    return load_config(TINY, [f"out_dir={tmp_path / name}", *overrides])


def _val_losses(trainer):
    v = trainer.validate(trainer.val)
    return v["pos_mse_m2"], v["ori_err_rad"], v["coll_loss"]


def test_tiny_run_lowers_all_three_losses_from_a_colliding_start(tmp_path, capsules):
    cfg = tiny(
        tmp_path,
        "learn",
        "epochs=3",
        "optim.lr=0.01",
        "weighting.targets.pos=0.05",
        "weighting.targets.ori=1.0",
        "weighting.targets.coll=0.01",
        "export=false",
    )
    trainer = Trainer(cfg)
    # brute force: a configuration whose capsules overlap by more than 2 cm
    q = torch.rand(4096, 7, generator=torch.Generator().manual_seed(3))
    lo, hi = trainer.net.q_min, trainer.net.q_max
    q = lo + (hi - lo) * q
    colliding = q[capsules.distance(q).distance < -0.02][0]
    with torch.no_grad():  # the network starts by answering that configuration for every pose
        trainer.net.head.weight.zero_()
        trainer.net.head.bias.copy_(torch.logit((colliding - lo) / (hi - lo)))
    before = _val_losses(trainer)
    assert before[2] > 0.02  # the start really collides
    trainer.run()
    after = _val_losses(trainer)
    for name, b, a in zip(("pos", "ori", "coll"), before, after):
        assert a < 0.9 * b, (name, b, a)


def _params(net):
    return torch.cat(
        [p.detach().flatten() for p in net.state_dict().values() if p.is_floating_point()]
    )


@pytest.mark.parametrize(
    "extra",
    [
        (),
        (
            "optim.schedule=cosine",
            "optim.final_lr_factor=0.1",
            "model.input_features=rotation_matrix",
        ),
    ],
    ids=["constant", "cosine"],
)
def test_resume_reproduces_an_uninterrupted_run_bit_for_bit(tmp_path, extra):
    full = Trainer(tiny(tmp_path, "full", "epochs=3", *extra))
    full.run()

    # interrupted by SIGINT in the middle of epoch 2 (step 3 of 8)
    def interrupt(epoch, step):
        if (epoch, step) == (1, 3):
            os.kill(os.getpid(), signal.SIGINT)

    cut = Trainer(tiny(tmp_path, "cut", "epochs=3", *extra), on_step=interrupt)
    result = cut.run()
    assert result.interrupted and result.epochs_done == 1
    ckpt = load_checkpoint(tmp_path / "cut" / "checkpoint.pt")
    assert (ckpt["epoch"], ckpt["step"]) == (1, 4)
    assert not list((tmp_path / "cut").glob("*.tmp"))  # atomic writes leave no temporary file

    resumed = Trainer(tiny(tmp_path, "cut", "epochs=3", *extra))
    resumed.run(tmp_path / "cut" / "checkpoint.pt")
    assert torch.equal(_params(full.net), _params(resumed.net))
    assert torch.equal(full.strategy.log_sigma, resumed.strategy.log_sigma)
    a, b = read_log(tmp_path / "full"), read_log(tmp_path / "cut")
    assert [r["epoch"] for r in b] == [1, 2, 3]
    assert [r["train"] for r in a] == [r["train"] for r in b]
    assert [r["val"] for r in a] == [r["val"] for r in b]
    assert [r["lr"] for r in a] == [r["lr"] for r in b]


def test_cosine_schedule_decays_every_group_from_its_start_to_the_final_factor(tmp_path):
    seen = []
    trainer = Trainer(
        tiny(
            tmp_path,
            "cos",
            "epochs=2",
            "optim.schedule=cosine",
            "optim.final_lr_factor=0.1",
            "export=false",
        ),
        on_step=lambda e, s: seen.append(
            {g["name"]: g["lr"] for g in trainer.optimizer.param_groups}
        ),
    )
    trainer.run()
    steps = 2 * (2048 // 256)
    assert len(seen) == steps
    assert seen[0]["net"] == pytest.approx(0.003) and seen[0]["log_sigma"] == pytest.approx(3e-4)
    assert seen[-1]["net"] == pytest.approx(3e-4) and seen[-1]["log_sigma"] == pytest.approx(3e-5)
    # half a cosine: halfway through, the lr is the mean of start and end
    mid = 0.5 * (0.003 + 3e-4)
    assert min(abs(s["net"] - mid) for s in seen) < 0.25 * (0.003 - 3e-4) / (steps - 1) * 4
    assert all(a["net"] > b["net"] for a, b in zip(seen, seen[1:]))


def test_rotation_matrix_input_is_the_same_for_q_and_minus_q_and_continuous_at_w_zero(tmp_path):
    trainer = Trainer(tiny(tmp_path, "rot", "epochs=1", "model.input_features=rotation_matrix"))
    result = trainer.run()
    net = load_ik_network(result.model_path)
    card = json.loads(result.model_path.with_suffix(".json").read_text())
    assert card["architecture"]["input_features"] == "rotation_matrix"
    g = torch.Generator().manual_seed(5)
    p = 0.3 * torch.randn(200, 3, generator=g) + torch.tensor([0.4, 0.0, 0.4])
    axis = torch.nn.functional.normalize(torch.randn(200, 3, generator=g), dim=1)
    # rotations by pi -/+ 2e-4 rad about the same axis: w = cos(angle / 2) changes sign
    for sign in (1.0, -1.0):
        half = 0.5 * (math.pi - sign * 2e-4)
        q = torch.cat([axis * math.sin(half), torch.full((200, 1), math.cos(half))], dim=1)
        if sign > 0:
            q_plus, out_plus = q, net(torch.cat([p, q], dim=1))
        else:
            out_minus = net(torch.cat([p, q], dim=1))
    assert torch.allclose(net(torch.cat([p, -q_plus], dim=1)), out_plus, atol=1e-6)
    # 4e-4 rad apart: the joint answers differ by no more than a smooth function allows
    assert float((out_plus - out_minus).abs().max()) < 1e-2


def test_export_loads_through_the_runtime_loader_and_matches_eager(tmp_path, kin):
    cfg = tiny(tmp_path, "exp", "epochs=1", "model.activation=tanh", "log.tensorboard=true")
    trainer = Trainer(cfg)
    result = trainer.run()
    net = load_ik_network(result.model_path)
    x = torch.cat([torch.randn(500, 3), torch.randn(500, 4) * 3], dim=1)  # any poses
    x[:50, :3] *= 100  # far outside the workspace: outputs must still respect the limits
    eager = trainer.net.eval()(x)
    scripted = net(x)
    # The frozen, optimised graph may fuse or reorder float32 operations, and oneDNN picks its
    # kernels by CPU: allow a few dozen ulps of the largest joint value (|q| <= 3.82 rad, ulp
    # 2.4e-7 there) on top of a relative float32 bound, not one machine's exact rounding.
    q_max = float(max(abs(v) for v in (*kin.model.lower, *kin.model.upper)))
    torch.testing.assert_close(
        scripted,
        eager,
        rtol=64 * torch.finfo(torch.float32).eps,
        atol=64 * torch.finfo(torch.float32).eps * q_max,
    )
    lower = torch.as_tensor(kin.model.lower, dtype=torch.float32)
    upper = torch.as_tensor(kin.model.upper, dtype=torch.float32)
    assert bool(((scripted >= lower) & (scripted <= upper)).all())
    assert net.tip_frame == "panda_hand"
    card = json.loads(result.model_path.with_suffix(".json").read_text())
    for key in (
        "format_version",
        "name",
        "robot",
        "architecture",
        "strategy",
        "stages",
        "data",
        "metrics",
        "torch_version",
        "git_commit",
        "created",
    ):
        assert key in card, key
    assert card["architecture"]["hidden"] == 32 and card["architecture"]["activation"] == "tanh"
    assert card["stages"][0]["targets"] == {"pos": 0.0002, "ori": 0.0525, "coll": 0.009}
    assert 0 <= card["metrics"]["collision_free_fraction"] <= 1
    assert card["robot"]["joint_names"] == list(kin.model.joint_names)
    assert list((tmp_path / "exp" / "tensorboard").glob("events.out.tfevents.*"))


def test_stage_two_starts_from_stage_one(tmp_path):
    s1 = Trainer(tiny(tmp_path, "s1", "epochs=1"))
    s1.run()
    ckpt = tmp_path / "s1" / "checkpoint.pt"
    s2 = Trainer(
        tiny(
            tmp_path,
            "s2",
            "epochs=1",
            "stage=2",
            f"init_from={ckpt}",
            "weighting.targets.pos=0.000025",
            "weighting.targets.ori=0.0175",
            "optim.lr=1.2e-5",
        )
    )
    assert torch.equal(_params(s2.net), _params(s1.net))
    assert torch.equal(s2.strategy.log_sigma, s1.strategy.log_sigma)
    assert not bool(s2.strategy.alpha_fixed)  # alpha is fixed again from stage 2's losses
    groups = {g["name"]: g["lr"] for g in s2.optimizer.param_groups}
    assert groups["net"] == pytest.approx(1.2e-5) and groups["log_sigma"] == pytest.approx(1.2e-6)
    result = s2.run()
    card = json.loads(result.model_path.with_suffix(".json").read_text())
    assert [s["stage"] for s in card["stages"]] == [1, 2]
    assert card["stages"][1]["targets"]["pos"] == 0.000025


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path):
    single = Trainer(tiny(tmp_path, "one", "epochs=1", "export=false"))
    single.run()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--standalone",
        "-m",
        "dtd_ik.training",
        "--config",
        str(TINY),
        f"out_dir={tmp_path / 'ddp'}",
        "epochs=1",
        "export=false",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp = load_checkpoint(tmp_path / "ddp" / "checkpoint.pt")
    assert ddp["world_size"] == 2
    ddp_params = torch.cat([p.flatten() for p in ddp["model"].values() if p.is_floating_point()])
    assert torch.allclose(ddp_params, _params(single.net), atol=2e-5, rtol=1e-4)
    log = read_log(tmp_path / "ddp")
    assert log[0]["world_size"] == 2 and math.isfinite(log[0]["val"]["pos_err_mm"])


@pytest.mark.slow
def test_sigterm_to_the_train_command_checkpoints_and_resume_finishes(tmp_path):
    """The real path: a `train` process killed with SIGTERM, then `train --resume`."""
    import time

    run = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "dtd_ik.training",
        "--config",
        str(TINY),
        f"out_dir={run}",
        "epochs=50",
        "export=false",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ckpt = run / "checkpoint.pt"
    deadline = time.monotonic() + 120
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "--resume" in out
    state = load_checkpoint(ckpt)
    assert 1 <= state["epoch"] < 50
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dtd_ik.training",
            "--resume",
            str(ckpt),
            f"epochs={state['epoch'] + 1}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert load_checkpoint(ckpt)["epoch"] == state["epoch"] + 1
    assert [r["epoch"] for r in read_log(run)] == list(range(1, state["epoch"] + 2))
