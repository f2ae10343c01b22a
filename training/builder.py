"""Builds a run's parts from its config: robot, objective, sample source, network, strategy."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dtd_ik.exceptions import ConfigError
from dtd_ik.kinematics.capsules import CapsuleModel
from dtd_ik.kinematics.forward import Kinematics
from dtd_ik.robot.model import load_robot_model

from .config import TrainConfig
from .network import IKNet, NetworkSpec
from .objective import IKObjective
from .samples import ConfigurationSampler, DatasetSource, SamplerSource, Samples
from .weighting import WeightingStrategy, make_strategy


@dataclass
class RobotParts:
    kinematics: Kinematics
    capsules: CapsuleModel
    objective: IKObjective


def build_robot(cfg: TrainConfig) -> RobotParts:
    robot = load_robot_model(cfg.robot_config or None)
    if cfg.model.tip_frame not in robot.frame_names:
        raise ConfigError(
            f"model.tip_frame: {cfg.model.tip_frame!r} is not a frame of "
            f"{robot.name} (known: {', '.join(robot.frame_names)})"
        )
    kin = Kinematics(robot)
    capsules = CapsuleModel(kin)
    return RobotParts(
        kin,
        capsules,
        IKObjective(kin, capsules, cfg.model.tip_frame, cfg.loss.margin, cfg.loss.tau),
    )


def build_source(cfg: TrainConfig, robot: RobotParts):
    if cfg.data.source == "dataset":
        return DatasetSource(
            cfg.data.path, cfg.data.split_seed, cfg.data.val_size, cfg.data.test_size
        )
    sampler = ConfigurationSampler(robot.capsules, cfg.model.tip_frame, cfg.data.min_distance)
    return SamplerSource(sampler, cfg.data.split_seed)


def network_spec(cfg: TrainConfig) -> NetworkSpec:
    m = cfg.model
    return NetworkSpec(m.hidden, m.blocks, m.activation, m.hidden_activation, m.input_features)


def build_network(cfg: TrainConfig, robot: RobotParts, reference: Samples) -> IKNet:
    """A fresh network (seeded by ``cfg.seed``) whose input standardisation comes from
    ``reference`` poses (the validation split)."""
    torch.manual_seed(cfg.seed)
    model = robot.kinematics.model
    mean = reference.x.double().mean(0)
    std = reference.x.double().std(0).clamp_min(1e-3)
    return IKNet(
        network_spec(cfg),
        torch.as_tensor(model.lower),
        torch.as_tensor(model.upper),
        mean,
        std,
        list(model.joint_names),
        model.base_frame,
        cfg.model.tip_frame,
    )


def build_strategy(cfg: TrainConfig) -> WeightingStrategy:
    w = cfg.weighting
    t = w.targets
    return make_strategy(
        w.strategy,
        (t.pos, t.ori, t.coll),
        w.eps,
        w.param_lr_scale,
        w.gradnorm_asymmetry,
        w.gradnorm_lr,
        w.dwa_temperature,
    )


def build_optimizer(
    cfg: TrainConfig, model: IKNet, strategy: WeightingStrategy
) -> torch.optim.AdamW:
    """AdamW: the network at ``optim.lr`` with weight decay (biases excluded), plus the
    strategy's own groups (s_t at lr x ``param_lr_scale``, no decay); ``capturable`` unless the
    step is eager."""
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    groups = [
        {
            "params": decay,
            "lr": cfg.optim.lr,
            "weight_decay": cfg.optim.weight_decay,
            "name": "net",
        },
        {"params": no_decay, "lr": cfg.optim.lr, "weight_decay": 0.0, "name": "net_bias"},
    ]
    groups += strategy.param_groups(cfg.optim.lr)
    # a captured step keeps AdamW's step count on the device (capturable)
    return torch.optim.AdamW(groups, capturable=cfg.optim.step != "eager")


__all__ = [
    "RobotParts",
    "build_network",
    "build_optimizer",
    "build_robot",
    "build_source",
    "build_strategy",
    "network_spec",
]
