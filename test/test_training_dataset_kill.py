"""`generate_dataset` killed with SIGKILL at random moments (5 times), then stopped by a
full disk (a real EFBIG under RLIMIT_FSIZE), never leaves a file that loads as a dataset; the
rerun resumes and writes exactly the bytes of an uninterrupted run. A run stopped between the
.npy and its .json is finished by a rerun."""

import json
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dtd_ik.exceptions import ConfigError
from dtd_ik.training.checkpoint import FileWriteError
from dtd_ik.training.commands import train
from dtd_ik.training.dataset import GridDatasetWriter, GridSpec
from dtd_ik.training.samples import open_rows

ROOT = Path(__file__).resolve().parent.parent
POINTS, CHUNK = 5, 625  # 5^7 = 78,125 configurations in 125 chunks: about a second
CHUNKS = POINTS**7 // CHUNK
KILLS = 5
TIMED = ("seconds", "configurations_per_s")  # the only metadata that differs between runs


def generate(out: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dtd_ik.training.commands.generate_dataset",
            "--out",
            str(out),
            "--points",
            str(POINTS),
            "--chunk",
            str(CHUNK),
            "--target",
            "3000",
            "--pilot",
            "2000",
            "--threads",
            "1",
            "--no-progress",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def state_of(out: Path):
    try:
        return json.loads(out.with_name(out.name + ".state.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def leftovers(folder: Path) -> list:
    return sorted(p.name for p in folder.iterdir())


def refuses(path: Path, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason) as err:
        open_rows(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


@pytest.mark.slow
def test_sigkill_and_a_full_disk_mid_way_never_leave_a_loadable_file_and_rerun_matches(
    tmp_path, capsys
):
    ref = tmp_path / "ref" / "grid.npy"
    clean = generate(ref)
    assert clean.wait(timeout=300) == 0, clean.stderr.read()[-2000:]
    assert leftovers(ref.parent) == ["grid.json", "grid.npy"]

    out = tmp_path / "run" / "grid.npy"
    part = out.with_name("grid.npy.part")
    rng = random.Random(5)
    targets = sorted(rng.sample(range(1, CHUNKS - 25), KILLS))  # chunks to pass before a kill
    landed, torn, temporaries = [], 0, 0
    for target in targets:
        proc = generate(out)
        deadline = time.monotonic() + 120
        while (
            proc.poll() is None
            and time.monotonic() < deadline
            and (state_of(out) is None or state_of(out)["next_chunk"] < target)
        ):
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.02))  # a random phase of a later chunk
        assert proc.poll() is None, "the run ended before its kill"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        # nothing loads as the dataset; the part file is refused by name
        assert not out.exists() and not out.with_suffix(".json").exists()
        refuses(out, "an unfinished generate_dataset run")
        refuses(part, "an unfinished generate_dataset run")
        state = state_of(out)
        landed.append(state["next_chunk"])
        torn += part.stat().st_size > state["rows"] * 14 * 4  # rows written after the state
        temporaries += any(n.endswith(".tmp") for n in leftovers(out.parent))
    assert landed == sorted(landed) and landed[0] >= targets[0] and landed[-1] < CHUNKS

    # a full disk: the part file may not grow past the middle of what is left to write
    size = part.stat().st_size
    limit = (size + ref.stat().st_size) // 2

    def full_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = generate(out, preexec_fn=full_disk)
    assert proc.wait(timeout=300) == 2
    err = proc.stderr.read().strip()
    assert (
        err.startswith(f"generate_dataset: {part}: could not append chunk ")
        and "(File too large)" in err
        and len(err.splitlines()) == 1
    ), err
    assert not out.exists()
    refuses(out, "an unfinished generate_dataset run")
    assert state_of(out)["rows"] * 14 * 4 <= limit < ref.stat().st_size

    # training refuses the unfinished file with one line
    assert (
        train.main(
            [
                "--config",
                str(ROOT / "config/train_tiny.yaml"),
                f"out_dir={tmp_path}/t",
                "data.source=dataset",
                f"data.path={part}",
            ]
        )
        == 2
    )
    assert capsys.readouterr().err.strip() == (
        f"train: data.path: {part}: an unfinished generate_dataset run (grid.npy.part is there); "
        f"rerun generate_dataset with the same --out to finish it"
    )

    proc = generate(out)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()[-2000:]
    assert out.read_bytes() == ref.read_bytes()
    a, b = (json.loads(p.with_suffix(".json").read_text()) for p in (ref, out))
    assert {k: v for k, v in a.items() if k not in TIMED} == {
        k: v for k, v in b.items() if k not in TIMED
    }
    assert leftovers(out.parent) == ["grid.json", "grid.npy"]  # no part, state or temporary
    assert open_rows(out).shape == (a["rows"], 14)
    print(
        f"\nSIGKILL after chunks {landed} of {CHUNKS} ({torn} with rows past the state, "
        f"{temporaries} inside an atomic write), then EFBIG at {limit} bytes; rerun equal"
    )


def test_a_run_stopped_between_the_npy_and_its_json_is_finished_by_a_rerun(tmp_path, capsules):
    spec = GridSpec(points=3, target=600, chunk=3**5, pilot=2000)
    ref = tmp_path / "ref" / "grid.npy"
    GridDatasetWriter(capsules, spec, ref).run(progress=False)
    out = tmp_path / "run" / "grid.npy"
    out.with_suffix(".json").mkdir(parents=True)  # the .json cannot be renamed into place
    with pytest.raises(FileWriteError, match="grid.json: could not write"):
        GridDatasetWriter(capsules, spec, out).run(progress=False)
    assert out.read_bytes() == ref.read_bytes()  # complete, but its run is not finished
    refuses(out, "an unfinished generate_dataset run")
    out.with_suffix(".json").rmdir()
    meta = GridDatasetWriter(capsules, spec, out).run(progress=False)
    assert out.read_bytes() == ref.read_bytes() and meta["rows"] == open_rows(out).shape[0]
    assert leftovers(out.parent) == ["grid.json", "grid.npy"]
    # a finished dataset is not generated over
    with pytest.raises(FileExistsError):
        GridDatasetWriter(capsules, spec, out).run(progress=False)


def test_truncated_and_foreign_files_are_refused_by_name(tmp_path, capsules):
    good = tmp_path / "good.npy"
    GridDatasetWriter(capsules, GridSpec(points=3, target=600, chunk=3**5, pilot=2000), good).run(
        progress=False
    )
    data = good.read_bytes()
    cases = {
        "missing.npy": (None, "dataset file not found"),
        "cut.npy": (data[: len(data) // 2], "its header promises .* truncated"),
        "text.npy": (b"x" * 100, "not a .npy dataset file"),
        "empty.npy": (b"", "not a .npy dataset file"),
    }
    for name, (content, reason) in cases.items():
        if content is not None:
            (tmp_path / name).write_bytes(content)
        refuses(tmp_path / name, reason)
    np.save(tmp_path / "wide.npy", np.zeros((4, 15), np.float32))
    refuses(tmp_path / "wide.npy", r"expected \(N, 14\) float32")
