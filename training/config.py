"""Training configuration: YAML files under config/, every value overridable as ``key=value``.

A config is a tree of dataclasses. Loading rejects unknown keys, wrong types and bad values with a
:class:`~dtd_ik.exceptions.ConfigError` naming the key (``weighting.targets.pos: must be > 0``),
before any training starts.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from dtd_ik.exceptions import ConfigError
from dtd_ik.paths import resolve
from dtd_ik.yaml_files import read_yaml

from .network import HIDDEN_ACTIVATIONS, INPUT_FEATURES, OUTPUT_ACTIVATIONS
from .schedule import LR_SCHEDULES
from .weighting import STRATEGIES


@dataclass
class DataConfig:
    source: str = "sampler"  # sampler (on the fly) | dataset (a generate_dataset .npy file)
    path: str = ""  # the dataset file when source = dataset
    train_per_epoch: int = 160_000  # samples drawn afresh every epoch
    val_size: int = 20_000  # fixed validation split
    test_size: int = 20_000  # fixed test split
    min_distance: float = 0.0  # sampler: keep configurations with capsule distance >= this [m]
    split_seed: int = 12345  # seed of the fixed val/test splits


@dataclass
class ModelConfig:
    hidden: int = 1024
    blocks: int = 5
    activation: str = "sigmoid"  # bounded output: sigmoid | tanh
    hidden_activation: str = "silu"
    tip_frame: str = "panda_hand"  # the frame whose pose the network takes
    input_features: str = "quaternion"  # quaternion (the paper's) | rotation_matrix


@dataclass
class TargetsConfig:
    pos: float = 0.0002  # [m^2]
    ori: float = 0.0525  # [rad]
    coll: float = 0.009  # [m]


@dataclass
class WeightingConfig:
    strategy: str = "hybrid"
    targets: TargetsConfig = field(default_factory=TargetsConfig)
    eps: float = 1e-8
    param_lr_scale: float = 0.1  # s_t = log sigma_t learn at lr x this
    gradnorm_asymmetry: float = 1.5
    gradnorm_lr: float = 0.025
    dwa_temperature: float = 2.0


@dataclass
class LossConfig:
    margin: float = 0.005  # m of Eq. 3 [m]
    tau: float = 0.001  # smoothness of Eq. 3 [m]


@dataclass
class OptimConfig:
    lr: float = 1e-4
    weight_decay: float = 0.01  # AdamW, network weights only
    batch_size: int = 1024  # global batch (split over data-parallel processes)
    grad_clip: float = 0.0  # max gradient norm; 0 = off
    schedule: str = "constant"  # constant | cosine (every group's lr decays over the stage)
    final_lr_factor: float = 0.0  # cosine: the lr at the stage's last step, times its start


@dataclass
class LogConfig:
    progress: bool = True  # tqdm bar per epoch
    tensorboard: bool = True
    val_batch: int = 8192


@dataclass
class TrainConfig:
    name: str = "run"
    out_dir: str = "runs/run"  # relative paths are relative to the working directory
    stage: int = 1
    epochs: int = 500
    seed: int = 0
    device: str = "cpu"
    threads: int = 0  # torch.set_num_threads; 0 = leave torch's default
    init_from: str = ""  # checkpoint of the previous stage (network and s_t)
    robot_config: str = ""  # robot YAML; empty = config/panda_robot.yaml
    export: bool = True  # write model.pt (TorchScript) + model.json at the end
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    weighting: WeightingConfig = field(default_factory=WeightingConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    log: LogConfig = field(default_factory=LogConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _build(cls, values: Any, prefix: str):
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        where = f"{prefix}{key}"
        if key not in fields:
            raise ConfigError(f"{where}: unknown key (known: {', '.join(fields)})")
        default = getattr(cls(), key)
        if dataclasses.is_dataclass(default):
            kwargs[key] = _build(type(default), value, where + ".")
        else:
            kwargs[key] = _coerce(value, type(default), where)
    return cls(**kwargs)


def _coerce(value: Any, kind: type, where: str):
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-5 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif kind is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}")


def _set(tree: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for k in keys[:-1]:
        node = node.setdefault(k, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{dotted}: {k} is not a section")
    node[keys[-1]] = value


def parse_overrides(items: Iterable[str]) -> dict:
    """``["optim.lr=1e-5", "epochs=3"]`` -> nested dict; values are read as YAML scalars."""
    tree: dict = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key=value")
        key, text = item.split("=", 1)
        _set(tree, key.strip(), yaml.safe_load(text) if text.strip() else "")
    return tree


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> TrainConfig:
    """Read ``path`` (YAML; none = defaults), apply ``key=value`` overrides, validate."""
    tree: dict = {}
    if path is not None:
        p = Path(path)
        if not p.is_file() and not p.is_absolute() and resolve(p).is_file():
            p = resolve(p)  # config/train_stage1.yaml from the package share folder
        tree = read_yaml(p, "training config") or {}
    cfg = _build(TrainConfig, _merge(tree, parse_overrides(overrides)), "")
    validate(cfg)
    return cfg


def config_from_dict(tree: dict, overrides: Iterable[str] = ()) -> TrainConfig:
    """Rebuild a validated config from :meth:`TrainConfig.to_dict` (checkpoints store that),
    with ``key=value`` overrides on top."""
    cfg = _build(TrainConfig, _merge(tree, parse_overrides(overrides)), "")
    validate(cfg, check_files=False)
    return cfg


def _positive(value: float, where: str, strict: bool = True) -> None:
    if not (value > 0 if strict else value >= 0):
        raise ConfigError(f"{where}: must be {'>' if strict else '>='} 0, got {value!r}")


def validate(cfg: TrainConfig, check_files: bool = True) -> None:
    """Raise :class:`ConfigError` naming the first bad key."""
    w = cfg.weighting
    if w.strategy not in STRATEGIES:
        raise ConfigError(f"weighting.strategy: unknown strategy {w.strategy!r} "
                          f"(known: {', '.join(STRATEGIES)})")
    for task in ("pos", "ori", "coll"):
        _positive(getattr(w.targets, task), f"weighting.targets.{task}")
    for key in ("param_lr_scale", "gradnorm_lr", "dwa_temperature"):
        _positive(getattr(w, key), f"weighting.{key}")
    _positive(w.eps, "weighting.eps", strict=False)
    _positive(w.gradnorm_asymmetry, "weighting.gradnorm_asymmetry", strict=False)
    m = cfg.model
    for key in ("hidden",):
        _positive(getattr(m, key), f"model.{key}")
    _positive(m.blocks, "model.blocks", strict=False)
    if m.activation not in OUTPUT_ACTIVATIONS:
        raise ConfigError(f"model.activation: {m.activation!r} is not one of {OUTPUT_ACTIVATIONS}")
    if m.hidden_activation not in HIDDEN_ACTIVATIONS:
        raise ConfigError(f"model.hidden_activation: {m.hidden_activation!r} is not one of "
                          f"{sorted(HIDDEN_ACTIVATIONS)}")
    if m.input_features not in INPUT_FEATURES:
        raise ConfigError(f"model.input_features: {m.input_features!r} is not one of "
                          f"{sorted(INPUT_FEATURES)}")
    d = cfg.data
    if d.source not in ("sampler", "dataset"):
        raise ConfigError(f"data.source: {d.source!r} is not 'sampler' or 'dataset'")
    for key in ("train_per_epoch", "val_size", "test_size"):
        _positive(getattr(d, key), f"data.{key}")
    if check_files and d.source == "dataset" and not Path(d.path).is_file():
        raise ConfigError(f"data.path: dataset file {d.path!r} not found")
    o = cfg.optim
    _positive(o.lr, "optim.lr")
    _positive(o.batch_size, "optim.batch_size")
    _positive(o.weight_decay, "optim.weight_decay", strict=False)
    _positive(o.grad_clip, "optim.grad_clip", strict=False)
    if o.schedule not in LR_SCHEDULES:
        raise ConfigError(f"optim.schedule: {o.schedule!r} is not one of {LR_SCHEDULES}")
    if not 0.0 <= o.final_lr_factor <= 1.0:
        raise ConfigError(f"optim.final_lr_factor: must be in [0, 1], got {o.final_lr_factor!r}")
    if o.batch_size > d.train_per_epoch:
        raise ConfigError(f"optim.batch_size: {o.batch_size} exceeds data.train_per_epoch "
                          f"{d.train_per_epoch}")
    _positive(cfg.loss.tau, "loss.tau")
    _positive(cfg.epochs, "epochs")
    _positive(cfg.stage, "stage")
    _positive(cfg.threads, "threads", strict=False)
    _positive(cfg.log.val_batch, "log.val_batch")
    if check_files and cfg.init_from and not Path(cfg.init_from).is_file():
        raise ConfigError(f"init_from: checkpoint {cfg.init_from!r} not found")
    if check_files and cfg.robot_config and not resolve(cfg.robot_config).is_file():
        raise ConfigError(f"robot_config: {cfg.robot_config!r} not found")
    if not (cfg.device == "cpu" or cfg.device.startswith("cuda")):
        raise ConfigError(f"device: {cfg.device!r} is not cpu or cuda[:N]")


__all__ = ["TrainConfig", "load_config", "config_from_dict", "parse_overrides", "validate"]
