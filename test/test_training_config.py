"""Training configs: shipped YAML files load, overrides apply, bad values fail naming the key."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from dtd_ik.exceptions import ConfigError
from dtd_ik.training.config import load_config

ROOT = Path(__file__).resolve().parent.parent
# train_gpu.yaml is a campaign of these configs (test_training_campaign.py loads it)
CONFIGS = sorted(p for p in (ROOT / "config").glob("train_*.yaml") if p.name != "train_gpu.yaml")


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_load(path):
    cfg = load_config(path, ["init_from="])  # stage 2's checkpoint does not exist here
    assert cfg.weighting.strategy == "hybrid"


def test_stage_configs_carry_the_papers_targets_and_rates():
    s1 = load_config(ROOT / "config/train_stage1.yaml")
    s2 = load_config(ROOT / "config/train_stage2.yaml", ["init_from="])
    assert 0.00009 <= s1.weighting.targets.pos <= 0.0003
    assert (s1.weighting.targets.ori, s1.weighting.targets.coll) == (0.0525, 0.009)
    assert (s2.weighting.targets.pos, s2.weighting.targets.ori, s2.weighting.targets.coll) == (
        0.000025,
        0.0175,
        0.009,
    )
    assert (s1.optim.lr, s2.optim.lr) == (1e-4, 1.2e-5)
    assert s1.weighting.param_lr_scale == s2.weighting.param_lr_scale == 0.1
    assert (s1.model.hidden, s1.model.blocks) == (1024, 5)
    assert (s1.data.train_per_epoch, s1.data.val_size, s1.data.test_size) == (160000, 20000, 20000)


def test_overrides_reach_every_level():
    cfg = load_config(
        ROOT / "config/train_tiny.yaml",
        [
            "optim.lr=1e-5",
            "weighting.targets.ori=0.1",
            "epochs=7",
            "model.activation=tanh",
            "log.progress=false",
        ],
    )
    assert (cfg.optim.lr, cfg.weighting.targets.ori, cfg.epochs) == (1e-5, 0.1, 7)
    assert cfg.model.activation == "tanh" and cfg.log.progress is False


@pytest.mark.parametrize(
    "override, key",
    [
        ("weighting.strategy=magic", "weighting.strategy"),
        ("weighting.targets.pos=-0.001", "weighting.targets.pos"),
        ("weighting.targets.coll=0", "weighting.targets.coll"),
        ("optim.lr=fast", "optim.lr"),
        ("optim.batch_size=100000", "optim.batch_size"),
        ("model.activation=relu", "model.activation"),
        ("data.source=dataset", "data.path"),
        ("data.path=/nonexistent.npy", None),
        ("init_from=/nonexistent/checkpoint.pt", "init_from"),
        ("optim.learning_rate=1", "optim.learning_rate"),
        ("modle.hidden=3", "modle"),
        ("model.input_features=euler", "model.input_features"),
        ("optim.schedule=step", "optim.schedule"),
        ("optim.final_lr_factor=1.5", "optim.final_lr_factor"),
    ],
)
def test_bad_values_fail_naming_the_key(override, key):
    overrides = [override] if key is not None else ["data.source=dataset", override]
    key = key or "data.path"
    with pytest.raises(ConfigError, match="^" + re.escape(key) + ":"):
        load_config(ROOT / "config/train_tiny.yaml", overrides)


def test_missing_config_file_fails():
    with pytest.raises(ConfigError, match="cannot read"):
        load_config("/nonexistent/train.yaml")


def test_cli_fails_at_start_with_one_line_naming_the_key(tmp_path):
    script = Path(sys.executable).parent / "train"  # the console script setup.py installs
    for command in ([sys.executable, "-m", "dtd_ik.training"], [str(script)]):
        proc = subprocess.run(
            [
                *command,
                "--config",
                str(ROOT / "config/train_tiny.yaml"),
                f"out_dir={tmp_path}",
                "weighting.strategy=magic",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2
        assert proc.stderr.strip().splitlines() == [
            "train: weighting.strategy: unknown value 'magic' (known: baseline, dtd, "
            "uncertainty, hybrid, gradnorm, dwa)"
        ]
        assert not (tmp_path / "checkpoint.pt").exists()
