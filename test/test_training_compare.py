"""Table I runner and Fig. 1 files on the tiny config."""

from pathlib import Path

from dtd_ik.training.compare import compare
from dtd_ik.training.run_log import read_log

ROOT = Path(__file__).resolve().parent.parent


def test_compare_writes_the_minimum_losses_of_each_run_and_the_figures(tmp_path):
    text = compare(
        str(ROOT / "config/train_tiny.yaml"),
        tmp_path,
        ["baseline", "hybrid"],
        ["epochs=2", "export=false"],
    )
    rows = [line for line in text.splitlines() if line.startswith("| ") and "Method" not in line]
    assert [r.split("|")[1].strip() for r in rows] == ["Baseline", "DTD + Uncertainty"]
    for name, row in zip(["baseline", "hybrid"], rows):
        log = read_log(tmp_path / name)
        assert len(log) == 2 and log[0]["strategy"] == name
        cells = [c.strip() for c in row.split("|")[1:-1]]
        assert float(cells[1]) == round(min(r["val"]["pos_mse_m2"] for r in log), 6)
        assert float(cells[3]) == round(min(r["val"]["ori_err_rad"] for r in log), 4)
    for png in ("fig1_losses.png", "fig1_weights.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "table1.md").read_text() == text
    # a second call finds both runs finished and trains nothing again
    mtime = (tmp_path / "hybrid" / "checkpoint.pt").stat().st_mtime_ns
    assert (
        compare(
            str(ROOT / "config/train_tiny.yaml"),
            tmp_path,
            ["baseline", "hybrid"],
            ["epochs=2", "export=false"],
        )
        == text
    )
    assert (tmp_path / "hybrid" / "checkpoint.pt").stat().st_mtime_ns == mtime


def test_several_seeds_give_mean_and_spread_of_each_seeds_minimum(tmp_path):
    text = compare(
        str(ROOT / "config/train_tiny.yaml"),
        tmp_path,
        ["baseline", "hybrid"],
        ["epochs=1", "export=false"],
        seeds=[0, 1],
    )
    logs = {
        (s, n): read_log(tmp_path / f"seed{s}" / n) for s in (0, 1) for n in ("baseline", "hybrid")
    }
    assert logs[(0, "hybrid")][0]["val"] != logs[(1, "hybrid")][0]["val"]  # seeds differ
    row = next(line for line in text.splitlines() if line.startswith("| DTD + Uncertainty"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    pos = [logs[(s, "hybrid")][0]["val"]["pos_mse_m2"] for s in (0, 1)]
    mean, sd = (float(v) for v in cells[1].split("+/-"))
    # brute force: the sample standard deviation of two numbers is |a - b| / sqrt(2)
    assert mean == round((pos[0] + pos[1]) / 2, 6)
    assert sd == round(abs(pos[0] - pos[1]) / 2**0.5, 6)
    assert text.count("Seed 0:") == 1 and text.count("Seed 1:") == 1
    assert (tmp_path / "fig1_losses.png").is_file()
