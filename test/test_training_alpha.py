"""Stage 2's scale factors both ways (weighting.alpha): refit from Stage 2's first batch, or keep
Stage 1's from the init_from checkpoint."""

from pathlib import Path

import pytest
import torch

from dtd_ik.exceptions import ConfigError
from dtd_ik.training.checkpoint import load_checkpoint
from dtd_ik.training.config import load_config
from dtd_ik.training.trainer import Trainer

TINY = Path(__file__).resolve().parent.parent / "config" / "train_tiny.yaml"
# Stage 2's tighter targets (config/train_stage2.yaml): they change d_t(0), so a refit alpha must
# differ from Stage 1's
STAGE2 = (
    "stage=2",
    "epochs=1",
    "weighting.targets.pos=0.000025",
    "weighting.targets.ori=0.0175",
    "optim.lr=1.2e-5",
    "export=false",
)


def tiny(tmp_path, name, *overrides):
    return load_config(TINY, [f"out_dir={tmp_path / name}", *overrides])


@pytest.fixture(scope="module")
def stage1(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("alpha")
    Trainer(tiny(tmp, "s1", "epochs=1", "export=false")).run()
    return tmp / "s1" / "checkpoint.pt"


def _stage1_alpha(ckpt: Path) -> torch.Tensor:
    # read from the file, not from a trainer: the value the checkpoint really carries
    return load_checkpoint(ckpt)["strategy"]["alpha"]


def test_keep_carries_stage_one_alpha_over_exactly(tmp_path, stage1):
    alpha1 = _stage1_alpha(stage1)
    assert alpha1.sum() == pytest.approx(100.0)  # fixed in Stage 1: 100 d(0) / sum d(0)
    s2 = Trainer(tiny(tmp_path, "keep", f"init_from={stage1}", "weighting.alpha=keep", *STAGE2))
    s2.run()
    assert torch.equal(s2.strategy.alpha, alpha1)
    assert all(
        r["alpha"] == pytest.approx(dict(zip(("pos", "ori", "coll"), alpha1.tolist())), rel=1e-6)
        for r in s2.history
    )
    assert load_checkpoint(tmp_path / "keep" / "checkpoint.pt")["stage"]["alpha"] == "keep"


def test_refit_measures_a_new_alpha_on_stage_two_first_batch(tmp_path, stage1):
    alpha1 = _stage1_alpha(stage1)
    s2 = Trainer(tiny(tmp_path, "refit", f"init_from={stage1}", *STAGE2))
    first = []
    s2.on_step = lambda epoch, step: first.append(s2.strategy.alpha.clone()) if not first else 0
    s2.run()
    assert s2.cfg.weighting.alpha == "refit"  # the default: as before this switch
    assert not torch.allclose(first[0], alpha1, rtol=1e-2)
    assert first[0].sum() == pytest.approx(100.0)
    assert torch.equal(s2.strategy.alpha, first[0])  # then fixed for the stage
    # refit is 100 d(0) / sum d(0) of Stage 2's first batch, under Stage 2's targets
    s2b = Trainer(tiny(tmp_path, "refit_b", f"init_from={stage1}", *STAGE2))
    g = torch.Generator(s2b.source.draw_device(s2b.device)).manual_seed(s2b.cfg.seed)
    x = s2b.source.draw(s2b.cfg.data.train_per_epoch, g).x[: s2b.cfg.optim.batch_size]
    with torch.no_grad():
        losses = s2b.robot.objective(s2b.net(x), x).losses
    targets = torch.tensor([0.000025, 0.0175, 0.009])
    d = losses / (targets + 1e-8)
    assert torch.allclose(first[0], 100 * d / d.sum(), rtol=1e-5)


def test_keep_needs_an_init_from_of_the_same_strategy(tmp_path, stage1):
    with pytest.raises(ConfigError, match="weighting.alpha"):
        tiny(tmp_path, "x", "weighting.alpha=keep")
    with pytest.raises(ConfigError, match="weighting.alpha: keep needs"):
        Trainer(
            tiny(
                tmp_path,
                "y",
                f"init_from={stage1}",
                "weighting.alpha=keep",
                "weighting.strategy=dtd",
                *STAGE2,
            )
        )
