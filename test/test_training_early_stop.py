"""A stage that ends when validation stops improving (stop.patience) and exports its best
epoch's weights."""

import json
from pathlib import Path

import pytest
import torch

from dtd_ik.training.checkpoint import load_checkpoint
from dtd_ik.training.config import load_config
from dtd_ik.training.early_stop import EarlyStop
from dtd_ik.training.run_log import read_log
from dtd_ik.training.trainer import Trainer

TINY = Path(__file__).resolve().parent.parent / "config" / "train_tiny.yaml"


def test_stops_patience_epochs_after_the_best_one():
    net = torch.nn.Linear(1, 1)
    stop = EarlyStop("pos_err_mm_rms", patience=2, min_delta=0.05)
    seen = []
    # 4.0 at epoch 2 is the best; 3.98 at epoch 4 is within min_delta, so no improvement
    for epoch, value in enumerate([5.0, 4.0, 4.5, 3.98, 4.2, 1.0], start=1):
        with torch.no_grad():
            net.weight.fill_(epoch)
        stop.update(epoch, {"pos_err_mm_rms": value}, net)
        seen.append(stop.should_stop(epoch))
    assert seen[:4] == [False, False, False, True]
    assert stop.best_epoch == 6 and stop.best == 1.0  # updates go on if the caller goes on
    stop.restore_best(net)
    assert float(net.weight) == 6
    assert not EarlyStop("pos_err_mm_rms", patience=0).should_stop(100)


def _weights(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def test_a_stage_stops_early_and_exports_its_best_epoch(tmp_path):
    # min_delta so large that only the first epoch improves (on inf): best epoch 1, patience 2
    cfg = load_config(
        TINY, [f"out_dir={tmp_path / 'es'}", "epochs=10", "stop.patience=2", "stop.min_delta=1e9"]
    )
    ends = {}
    trainer = Trainer(
        cfg,
        on_step=lambda e, s: (
            ends.__setitem__(e, _weights(trainer.net)) if s == 2048 // 256 - 1 else None
        ),
    )
    result = trainer.run()
    assert result.epochs_done == 3 and not result.interrupted
    assert len(read_log(tmp_path / "es")) == 3
    last = trainer.history[-1]
    assert last["epoch"] == 3
    final = _weights(trainer.net)
    assert all(torch.equal(final[k], ends[0][k]) for k in final)  # epoch 1's weights
    assert not all(torch.equal(final[k], ends[2][k]) for k in final)
    record = trainer.state()["stage"]["early_stop"]
    assert record["best_epoch"] == 1 and record["patience"] == 2
    # the test split was measured on the exported (best) weights, and the card shows their
    # epoch's validation
    assert result.test_metrics == pytest.approx(trainer.validate(trainer.test))
    card = json.loads(result.model_path.with_suffix(".json").read_text())
    assert card["metrics"]["validation"] == pytest.approx(trainer.history[0]["val"])
    assert card["metrics"]["validation"] != pytest.approx(trainer.history[-1]["val"])


def test_a_stage_ends_normally_when_its_wall_time_is_spent(tmp_path):
    cfg = load_config(
        TINY,
        [
            f"out_dir={tmp_path / 't'}",
            "epochs=50",
            "stop.max_seconds=1e-9",
            "log.checkpoint_every=10",
        ],
    )
    result = Trainer(cfg).run()
    # one epoch spends more than the budget; the stage still validates, tests and exports
    assert result.epochs_done == 1 and not result.interrupted
    assert result.model_path.is_file() and result.test_metrics
    assert load_checkpoint(tmp_path / "t" / "checkpoint.pt")["epoch"] == 1


def test_checkpoints_every_n_epochs_and_at_the_end(tmp_path):
    saved = []
    cfg = load_config(
        TINY, [f"out_dir={tmp_path / 'c'}", "epochs=5", "log.checkpoint_every=2", "export=false"]
    )
    trainer = Trainer(cfg)
    save = trainer.save
    trainer.save = lambda: saved.append(trainer.epoch) or save()
    trainer.run()
    assert saved == [2, 4, 5]
