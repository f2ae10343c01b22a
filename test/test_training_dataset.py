"""Grid dataset generator on a reduced grid (3^7) against brute force; resume; training from it."""

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dtd_ik.training.config import load_config
from dtd_ik.training.dataset import GridDatasetWriter, GridSpec
from dtd_ik.training.trainer import Trainer

ROOT = Path(__file__).resolve().parent.parent
SPEC = GridSpec(points=3, target=600, chunk=3**5, pilot=2000)


@pytest.fixture(scope="module")
def brute_force(capsules):
    """All 3^7 interval-centre configurations and which of them are collision-free."""
    lo, hi = capsules.kinematics.model.lower, capsules.kinematics.model.upper
    centres = [lo[j] + (np.arange(3) + 0.5) * (hi[j] - lo[j]) / 3 for j in range(7)]
    q = np.array(list(itertools.product(*centres)))  # joint 1 slowest, as the generator walks
    free = capsules.distance(torch.as_tensor(q, dtype=torch.float32)).distance.numpy() >= 0
    return q, free


@pytest.fixture(scope="module")
def generated(tmp_path_factory, capsules):
    out = tmp_path_factory.mktemp("grid") / "grid.npy"
    meta = GridDatasetWriter(capsules, SPEC, out).run(progress=False)
    return out, meta


def test_counts_match_brute_force_and_rows_are_valid_grid_samples(generated, brute_force, kin):
    out, meta = generated
    q_all, free = brute_force
    assert meta["grid_size"] == 3**7 and meta["collision_free"] == int(free.sum())
    rows = np.load(out, mmap_mode="r")
    assert rows.dtype == np.float32 and rows.shape == (meta["rows"], 14)
    # stratified sampling to the target: keep x (all valid) rounded cumulatively
    assert abs(meta["rows"] - round(meta["keep"] * free.sum())) <= 1
    assert abs(meta["rows"] - SPEC.target) <= 0.15 * SPEC.target
    q = rows[:, 7:].astype(np.float64)
    # every row is a distinct collision-free grid configuration
    d = np.abs(q[:, None, :] - q_all[None, :, :].astype(np.float32)).max(-1)  # (rows, 2187)
    match = d.argmin(1)
    assert d.min(1).max() < 1e-6 and len(set(match.tolist())) == len(match)
    assert free[match].all()
    # the pose is FK of the joints (float64 reference)
    pose = kin.forward(torch.as_tensor(q), "panda_hand")
    assert np.abs(rows[:, :3] - pose.position.numpy()).max() < 1e-5
    quat = pose.quaternion.numpy()
    dots = np.abs((rows[:, 3:7] * quat).sum(1))
    assert dots.min() > 1 - 1e-5
    # strata: each chunk (fixed joints 1-2) keeps about keep x its valid share
    chunk_of = match // SPEC.chunk
    valid_per_chunk = free.reshape(-1, SPEC.chunk).sum(1)
    kept_per_chunk = np.bincount(chunk_of, minlength=len(valid_per_chunk))
    assert np.abs(kept_per_chunk - meta["keep"] * valid_per_chunk).max() <= 1.0


def test_interrupted_run_leaves_no_final_file_and_resumes_to_the_same_bytes(
    tmp_path, generated, capsules
):
    out = tmp_path / "grid.npy"

    def crash(chunk):
        if chunk == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        GridDatasetWriter(capsules, SPEC, out).run(progress=False, after_chunk=crash)
    assert not out.exists() and not out.with_suffix(".json").exists()
    state = json.loads(out.with_name("grid.npy.state.json").read_text())
    assert state["next_chunk"] == 4
    with open(out.with_name("grid.npy.part"), "ab") as f:  # a torn write after the state
        f.write(b"\x00" * 20)
    meta = GridDatasetWriter(capsules, SPEC, out).run(progress=False)
    assert out.read_bytes() == generated[0].read_bytes()
    assert meta["rows"] == generated[1]["rows"]
    assert not out.with_name("grid.npy.part").exists()
    # a rerun that asks for something else refuses to mix it into the unfinished files
    other = GridDatasetWriter(
        capsules, GridSpec(points=3, target=601, chunk=3**5, pilot=2000), tmp_path / "g2.npy"
    )
    other.state_path.write_text(json.dumps(state))
    with pytest.raises(ValueError, match="other settings"):
        other.run(progress=False)


def test_training_reads_the_dataset(tmp_path, generated):
    cfg = load_config(
        ROOT / "config/train_tiny.yaml",
        [
            f"out_dir={tmp_path}",
            "epochs=1",
            "data.source=dataset",
            f"data.path={generated[0]}",
            "data.val_size=64",
            "data.test_size=64",
            "data.train_per_epoch=512",
            "export=false",
        ],
    )
    trainer = Trainer(cfg)
    held = torch.cat([trainer.val.q, trainer.test.q])
    assert held.shape == (128, 7) and torch.unique(held, dim=0).shape[0] == 128
    drawn = trainer.source.draw(512, torch.Generator().manual_seed(0))
    rows = torch.from_numpy(np.load(generated[0]))
    # each drawn row is a row of the file, never a held-out one
    eq = (drawn.q[:, None, :] == rows[None, :, 7:]).all(-1)
    assert bool(eq.any(1).all())
    assert not bool((drawn.q[:, None, :] == held[None]).all(-1).any())
    result = trainer.run()
    assert result.epochs_done == 1 and not result.interrupted
