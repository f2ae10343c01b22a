"""ship_model on a two-stage tiny run: the shipped files are the run's own, complete and
loadable."""

import json
from pathlib import Path

import torch

from dtd_ik.solver.network import load_ik_network
from dtd_ik.training.commands.ship_model import main as ship_main
from dtd_ik.training.config import load_config
from dtd_ik.training.run_log import read_log
from dtd_ik.training.trainer import Trainer

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "config" / "train_tiny.yaml"


def test_ship_copies_the_final_model_and_joins_every_stages_log(tmp_path):
    s1, s2 = tmp_path / "s1", tmp_path / "s2"
    Trainer(load_config(TINY, [f"out_dir={s1}", "epochs=2", "export=false"])).run()
    Trainer(
        load_config(
            TINY, [f"out_dir={s2}", "epochs=1", "stage=2", f"init_from={s1 / 'checkpoint.pt'}"]
        )
    ).run()
    evaluation = tmp_path / "eval.json"
    evaluation.write_text(json.dumps({"summary": {"pos_err_mm": {"mean": 1.0}}}))
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"device": "cuda", "runs": {}}))
    out = tmp_path / "models"
    assert (
        ship_main(
            [
                "--runs",
                str(s1),
                str(s2),
                "--name",
                "m",
                "--out",
                str(out),
                "--evaluation",
                str(evaluation),
                "--campaign-plan",
                str(plan),
                "--note",
                "first",
                "--note",
                "second",
            ]
        )
        == 0
    )
    assert (out / "m.pt").read_bytes() == (s2 / "model.pt").read_bytes()
    x = torch.randn(64, 7)
    assert torch.equal(load_ik_network(out / "m.pt")(x), load_ik_network(s2 / "model.pt")(x))
    card = json.loads((out / "m.json").read_text())
    assert [s["stage"] for s in card["stages"]] == [1, 2]
    assert card["evaluation"]["summary"]["pos_err_mm"]["mean"] == 1.0
    assert card["notes"] == ["first", "second"] and card["training_campaign"]["device"] == "cuda"
    assert [s["device"] for s in card["stages"]] == ["cpu", "cpu"]  # where each stage trained
    log = [json.loads(line) for line in (out / "m.log.jsonl").read_text().splitlines()]
    assert log == read_log(s1) + read_log(s2) and [r["stage"] for r in log] == [1, 1, 2]
    for png in ("m_losses.png", "m_weights.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ship_refuses_a_run_without_a_model_naming_the_file(tmp_path, capsys):
    s1 = tmp_path / "s1"
    Trainer(load_config(TINY, [f"out_dir={s1}", "epochs=1", "export=false"])).run()
    assert ship_main(["--runs", str(s1), "--name", "m", "--out", str(tmp_path / "models")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(s1 / "model.pt") in err[0]
    assert not (tmp_path / "models").exists()
