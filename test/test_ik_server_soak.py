"""The soak benchmark, short: 2 client processes x 100 requests over real DDS.

Runs benchmarks/soak_ik_server.py as a user would (its own ik_server subprocess and client
processes) and checks its report: nothing lost, duplicated or wrong, the node alive and cleanly
stopped, the figures present. No timing is asserted; the full soak (10,000 requests, 8 clients)
is run by hand (docs/ik_server.md, "Reliability").
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
SOAK = ROOT / "benchmarks" / "soak_ik_server.py"


def test_short_soak_loses_and_duplicates_nothing(tmp_path):
    from dtd_ik.solver import IKSolver

    IKSolver.load(None)  # on a fresh clone: compiles and caches the kernels the node then loads
    out = tmp_path / "soak.json"
    # RSS limit loosened: 200 requests are too few to separate growth from allocator noise
    proc = subprocess.run(
        [
            sys.executable,
            str(SOAK),
            "--clients",
            "2",
            "--requests",
            "200",
            "--bad-every",
            "10",
            "--rss-limit",
            "0.5",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert out.exists(), proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert report["failures"] == []
    assert report["sent"] == report["answered"] == 200
    assert report["lost"] == report["duplicated"] == report["wrong"] == 0
    assert report["bad_requests"] == 20  # each answered with its own MoveIt code (else wrong)
    assert report["node_requests"] == report["node_requests_expected"]
    assert report["server_alive"] and report["server_exit_code"] == 0
    assert report["server_tracebacks"] == 0
    for key in ("latency_first_10pct_ms", "latency_last_10pct_ms"):
        assert set(report[key]) == {"p50", "p90", "p99", "max"}
    for key in ("rss_start_kb", "rss_end_kb", "rss_growth", "throughput_per_s"):
        assert key in report
    for words in ("latency first 10 %", "latency last 10 %", "node RSS", "PASS"):
        assert words in proc.stdout
