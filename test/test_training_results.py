"""results_report on tiny runs: every number it prints is the one in the files it read."""

import json
import re
import statistics
from pathlib import Path

from dtd_ik.training.commands.results_report import main as results_main
from dtd_ik.training.compare import compare
from dtd_ik.training.config import load_config
from dtd_ik.training.evaluate import evaluate
from dtd_ik.training.results import PAPER_TABLE2
from dtd_ik.training.run_log import read_log
from dtd_ik.training.ship import ship
from dtd_ik.training.trainer import Trainer

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "config" / "train_tiny.yaml"


def test_report_carries_the_runs_numbers_and_the_papers(tmp_path):
    table1 = tmp_path / "table1"
    compare(str(TINY), table1, ["baseline", "hybrid"], ["epochs=1", "export=false"], seeds=[0, 1])
    run = tmp_path / "run"
    Trainer(load_config(TINY, [f"out_dir={run}", "epochs=1"])).run()
    report = evaluate(run / "model.pt", goals=64, repeats=2, single_queries=5)
    (tmp_path / "eval.json").write_text(json.dumps(report))
    model = ship([run], "m", tmp_path / "models", tmp_path / "eval.json")["model"]
    solver_md = tmp_path / "solver.md"
    solver_md.write_text("| metric | dtd_ik |\n|---|---|\n| success | 12.34 |\n")
    out = tmp_path / "docs" / "RESULTS.md"
    assert (
        results_main(
            [
                "--table1",
                str(table1),
                "--model",
                str(model),
                "--solver",
                str(solver_md),
                "--solver-log",
                str(tmp_path / "none.txt"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    text = out.read_text()
    # Table I: the hybrid row's mean is the mean of each seed's minimum, read back from the logs
    minima = [
        min(r["val"]["pos_mse_m2"] for r in read_log(table1 / f"seed{s}" / "hybrid"))
        for s in (0, 1)
    ]
    row = next(line for line in text.splitlines() if line.startswith("| DTD + Uncertainty"))
    assert f"{statistics.mean(minima):.6f} +/- {statistics.stdev(minima):.6f}" in row
    assert "| 0.000447 | 0.06 |" in row  # the paper's hybrid row
    # Table II: ours from the evaluation report, the paper's beside it
    # the paper's position error (an RMS) beside our RMS; our mean on its own row, no paper value
    row = next(line for line in text.splitlines() if line.startswith("| Pos. error RMS (mm)"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert float(cells[1]) == PAPER_TABLE2["pos_rms_mm"][0] == 5.73
    assert float(cells[3]) == round(report["summary"]["pos_rms_mm"]["mean"], 2)
    row = next(line for line in text.splitlines() if line.startswith("| Pos. error mean (mm)"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[1] == "-" and float(cells[3]) == round(report["summary"]["pos_err_mm"]["mean"], 2)
    assert "| success | 12.34 |" in text
    for png in ("fig1_losses.png", "fig1_weights.png", "m_losses.png", "m_weights.png"):
        assert (out.parent / "figures" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"figures/{png}" in text
    assert re.search(r"position, ours: .* \((agrees|disagrees)\)", text)
