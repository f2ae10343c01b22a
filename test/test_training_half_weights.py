"""A run's network packed as float16 and unpacked to a model file answers like the original to
float16's precision, in half the bytes."""

from pathlib import Path

import torch

from dtd_ik.solver.network import load_ik_network
from dtd_ik.training.config import load_config
from dtd_ik.training.half_weights import HALF_NOTE, pack, unpack
from dtd_ik.training.trainer import Trainer

TINY = Path(__file__).resolve().parent.parent / "config" / "train_tiny.yaml"


def test_pack_and_unpack_keep_the_network_to_float16_precision(tmp_path):
    run = tmp_path / "run"
    result = Trainer(
        load_config(TINY, [f"out_dir={run}", "epochs=1", "model.hidden=256", "model.blocks=2"])
    ).run()
    packed = pack(run, tmp_path / "net.half.pt")
    model, card = unpack(packed, tmp_path / "back" / "model.pt")
    original, back = load_ik_network(result.model_path), load_ik_network(model)
    x = Trainer(load_config(TINY, [f"out_dir={tmp_path / 'x'}"])).val.x[:256]
    q0, q1 = original(x), back(x)
    # float16 keeps 11 significant bits: each weight within 2^-11 relative; through 2 blocks the
    # joints move far less than a degree, while any lost or misplaced tensor moves them by ~rad
    assert (q0 - q1).abs().max() < 5e-3
    assert not torch.equal(q0, q1)  # it really is rounded
    assert HALF_NOTE in card.read_text()
    payload = torch.load(packed, weights_only=False)
    net = Trainer(
        load_config(TINY, [f"out_dir={tmp_path / 'y'}", "model.hidden=256", "model.blocks=2"])
    ).net
    params = {name for name, _ in net.named_parameters()}
    w = payload["weights"]
    assert {k for k, v in w.items() if v.dtype == torch.float16} == params
    assert w["input_mean"].dtype == w["q_min"].dtype == torch.float32
    assert packed.stat().st_size < 0.6 * result.model_path.stat().st_size
