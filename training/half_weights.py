"""A finished run's network in half the bytes, to bring back from a machine whose return is
limited, and back to a model file here.

:func:`pack` keeps the network's parameters as float16 and its buffers (input standardisation,
joint limits) as they are, with the run's config and model card; :func:`unpack` rebuilds the
network in float32 from them and exports it as ``train`` does (TorchScript + card), noting the
rounding in the card. A 1024 x 5 network: 42 MB -> 21 MB.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from dtd_ik.robot.model import load_robot_model

from .builder import network_spec
from .checkpoint import atomic_write, load_checkpoint
from .config import config_from_dict
from .export import export_model
from .network import IKNet
from .trainer import CHECKPOINT, MODEL

HALF_NOTE = "parameters rounded to float16 for transport (half_weights), evaluated as float32"


def _network(config: dict, weights: dict[str, torch.Tensor]) -> IKNet:
    """An IKNet of the run's architecture and robot holding ``weights`` (as float32)."""
    cfg = config_from_dict(config)
    robot = load_robot_model(cfg.robot_config or None)
    net = IKNet(
        network_spec(cfg),
        weights["q_min"],
        weights["q_max"],
        weights["input_mean"],
        weights["input_std"],
        list(robot.joint_names),
        robot.base_frame,
        cfg.model.tip_frame,
    )
    net.load_state_dict({k: v.float() for k, v in weights.items()})
    return net


def pack(run_dir: str | Path, out: str | Path) -> Path:
    """The run's final weights (its checkpoint's: the exported ones) into ``out``."""
    run_dir = Path(run_dir)
    state = load_checkpoint(run_dir / CHECKPOINT)
    card_path = (run_dir / MODEL).with_suffix(".json")
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    model = state["model"]
    probe = _network(state["config"], model)
    params = {name for name, _ in probe.named_parameters()}
    weights = {k: (v.half() if k in params else v) for k, v in model.items()}
    payload = {"config": state["config"], "card": card, "weights": weights}
    return atomic_write(Path(out), lambda tmp: torch.save(payload, tmp))


def unpack(packed: str | Path, out: str | Path) -> tuple[Path, Path]:
    """Export the packed network as ``out`` (TorchScript) and its card (``.json``)."""
    payload = torch.load(packed, map_location="cpu", weights_only=False)
    net = _network(payload["config"], payload["weights"])
    card = dict(payload["card"])
    card["notes"] = list(card.get("notes", [])) + [HALF_NOTE]
    return export_model(net.eval(), out, card)


__all__ = ["HALF_NOTE", "pack", "unpack"]
