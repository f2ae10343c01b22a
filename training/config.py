"""Training configuration: YAML files under config/, every value overridable as ``key=value``.

A config is a tree of dataclasses read by :mod:`dtd_ik.config_files`: unknown keys, wrong types
and values outside a field's range are refused with a
:class:`~dtd_ik.exceptions.ConfigError` naming the key (``weighting.targets.pos: must be > 0``),
before any training starts; :func:`validate` adds the checks that span several keys or files.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dtd_ik.config_files import build, check, load, merge_trees, parse_overrides, setting
from dtd_ik.exceptions import ConfigError
from dtd_ik.kinematics.losses import COLLISION_TAU
from dtd_ik.paths import resolve
from dtd_ik.robot import COLLISION_MARGIN

from .checkpoint import CheckpointError, load_checkpoint
from .early_stop import STOP_METRICS
from .network import HIDDEN_ACTIVATIONS, INPUT_FEATURES, OUTPUT_ACTIVATIONS
from .schedule import LR_SCHEDULES
from .step import COMPILE_MODES, STEP_MODES
from .weighting import STRATEGIES


@dataclass
class DataConfig:
    # sampler (on the fly) | dataset (a generate_dataset .npy file)
    source: str = setting("sampler", choices=("sampler", "dataset"))
    path: str = ""  # the dataset file when source = dataset
    train_per_epoch: int = setting(160_000, gt=0)  # samples drawn afresh every epoch
    val_size: int = setting(20_000, gt=0)  # fixed validation split
    test_size: int = setting(20_000, gt=0)  # fixed test split
    min_distance: float = 0.0  # sampler: keep configurations with capsule distance >= this [m]
    split_seed: int = 12345  # seed of the fixed val/test splits


@dataclass
class ModelConfig:
    hidden: int = setting(1024, gt=0)
    blocks: int = setting(5, ge=0)
    activation: str = setting("sigmoid", choices=OUTPUT_ACTIVATIONS)  # bounded output
    hidden_activation: str = setting("silu", choices=sorted(HIDDEN_ACTIVATIONS))
    tip_frame: str = "panda_hand"  # the frame whose pose the network takes
    # quaternion (the paper's) | rotation_matrix
    input_features: str = setting("quaternion", choices=sorted(INPUT_FEATURES))


@dataclass
class TargetsConfig:
    pos: float = setting(0.0002, gt=0)  # [m^2]
    ori: float = setting(0.0525, gt=0)  # [rad]
    coll: float = setting(0.009, gt=0)  # [m]


@dataclass
class WeightingConfig:
    strategy: str = setting("hybrid", choices=STRATEGIES)
    # a stage from init_from: refit (alpha from this stage's first batch) | keep (the previous
    # stage's alpha, from the init_from checkpoint; same strategy only)
    alpha: str = setting("refit", choices=("refit", "keep"))
    targets: TargetsConfig = field(default_factory=TargetsConfig)
    eps: float = setting(1e-8, ge=0)
    param_lr_scale: float = setting(0.1, gt=0)  # s_t = log sigma_t learn at lr x this
    gradnorm_asymmetry: float = setting(1.5, ge=0)
    gradnorm_lr: float = setting(0.025, gt=0)
    dwa_temperature: float = setting(2.0, gt=0)


@dataclass
class LossConfig:
    margin: float = COLLISION_MARGIN  # m of Eq. 3 [m]
    tau: float = setting(COLLISION_TAU, gt=0)  # smoothness of Eq. 3 [m]


@dataclass
class OptimConfig:
    lr: float = setting(1e-4, gt=0)
    weight_decay: float = setting(0.01, ge=0)  # AdamW, network weights only
    batch_size: int = setting(1024, gt=0)  # global batch (split over data-parallel processes)
    grad_clip: float = setting(0.0, ge=0)  # max gradient norm; 0 = off
    # constant | cosine (every group's lr decays over the stage)
    schedule: str = setting("constant", choices=LR_SCHEDULES)
    # cosine: the lr at the stage's last step, times its start
    final_lr_factor: float = setting(0.0, ge=0, le=1)
    # eager (op by op, the default) | compiled (torch.compile) | cuda_graph (one captured graph)
    step: str = setting("eager", choices=STEP_MODES)
    compile_mode: str = setting("reduce-overhead", choices=COMPILE_MODES)  # step: compiled


@dataclass
class StopConfig:
    # epochs without a validation improvement after which the stage ends; 0 = all epochs
    patience: int = setting(0, ge=0)
    metric: str = setting("pos_err_mm_rms", choices=STOP_METRICS)  # validation key, lower=better
    min_delta: float = setting(0.0, ge=0)  # an improvement beats the best by more [metric unit]
    restore_best: bool = True  # patience > 0: export the best epoch's weights, not the last
    # [s] the stage ends normally (validation, export) after the epoch that spends this; 0 = off
    max_seconds: float = setting(0.0, ge=0)


@dataclass
class LogConfig:
    progress: bool = True  # tqdm bar per epoch
    tensorboard: bool = True
    val_batch: int = setting(8192, gt=0)
    # epochs between checkpoints (a signal and the stage's end always write one): a large
    # network's checkpoint every short epoch costs more than the epoch
    checkpoint_every: int = setting(1, gt=0)


@dataclass
class TrainConfig:
    name: str = "run"
    out_dir: str = "runs/run"  # relative paths are relative to the working directory
    stage: int = setting(1, gt=0)
    epochs: int = setting(500, gt=0)
    seed: int = 0
    device: str = "cpu"
    threads: int = setting(0, ge=0)  # torch.set_num_threads; 0 = leave torch's default
    init_from: str = ""  # checkpoint of the previous stage (network and s_t)
    robot_config: str = ""  # robot YAML; empty = config/panda_robot.yaml
    export: bool = True  # write model.pt (TorchScript) + model.json at the end
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    weighting: WeightingConfig = field(default_factory=WeightingConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    stop: StopConfig = field(default_factory=StopConfig)
    log: LogConfig = field(default_factory=LogConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def load_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> TrainConfig:
    """Read ``path`` (YAML; none = defaults), apply ``key=value`` overrides, validate."""
    if path is not None:
        path = Path(path)
        if not path.is_file() and not path.is_absolute() and resolve(path).is_file():
            path = resolve(path)  # config/train_stage1.yaml from the package share folder
    cfg = load(TrainConfig, path, "training config", overrides=parse_overrides(overrides))
    validate(cfg)
    return cfg


def config_from_dict(tree: dict, overrides: Iterable[str] = ()) -> TrainConfig:
    """Rebuild a validated config from :meth:`TrainConfig.to_dict` (checkpoints store that),
    with ``key=value`` overrides on top."""
    cfg = build(TrainConfig, merge_trees(tree, parse_overrides(overrides)), checked=False)
    validate(cfg, check_files=False)
    return cfg


def run_config(
    path: str | Path | None, overrides: Iterable[str] = (), resume: Path | None = None
) -> TrainConfig:
    """The config of a ``train`` run: the YAML at ``path`` with ``key=value`` overrides, or, when
    ``resume`` names a checkpoint, the checkpoint's own config with the overrides on top.

    Raises:
        ConfigError: a bad key or value, a config file given beside ``resume``, or an override
            that changes the resumed run's network or weighting strategy.
        CheckpointError: ``resume`` cannot be read, or its stored config is not valid.
    """
    overrides = list(overrides)
    if resume is None:
        return load_config(path, overrides)
    if path:
        raise ConfigError("--resume: takes the checkpoint's config; pass changes as key=value")
    try:
        state = load_checkpoint(resume)
        saved = config_from_dict(state["config"])
    except (CheckpointError, ConfigError) as exc:
        where = "" if isinstance(exc, CheckpointError) else f"{resume}: its config: "
        raise CheckpointError(f"--resume: {where}{exc}") from exc
    cfg = config_from_dict(state["config"], overrides)
    _same_network(cfg, saved)
    return cfg


def _same_network(cfg: TrainConfig, saved: TrainConfig) -> None:
    """A resumed run keeps the checkpoint's network and weighting (its weights fit no other)."""
    changed = [
        f"model.{f.name}"
        for f in dataclasses.fields(saved.model)
        if getattr(cfg.model, f.name) != getattr(saved.model, f.name)
    ]
    if cfg.weighting.strategy != saved.weighting.strategy:
        changed.append("weighting.strategy")
    if changed:
        raise ConfigError(
            f"--resume: {', '.join(changed)} cannot change in a resumed run (the "
            f"checkpoint's network and strategy state are kept); start a new stage "
            f"with init_from instead"
        )


def validate(cfg: TrainConfig, check_files: bool = True) -> None:
    """Raise :class:`ConfigError` naming the first bad key: each field's own range, then the
    checks that span keys or files."""
    check(cfg)
    d, o = cfg.data, cfg.optim
    if check_files and d.source == "dataset" and not Path(d.path).is_file():
        raise ConfigError(f"data.path: dataset file {d.path!r} not found")
    if o.batch_size > d.train_per_epoch:
        raise ConfigError(
            f"optim.batch_size: {o.batch_size} exceeds data.train_per_epoch {d.train_per_epoch}"
        )
    if cfg.weighting.alpha == "keep" and not cfg.init_from:
        raise ConfigError(
            "weighting.alpha: keep carries alpha over from init_from's checkpoint; "
            "no init_from given"
        )
    if check_files and cfg.init_from and not Path(cfg.init_from).is_file():
        raise ConfigError(f"init_from: checkpoint {cfg.init_from!r} not found")
    if check_files and cfg.robot_config and not resolve(cfg.robot_config).is_file():
        raise ConfigError(f"robot_config: {cfg.robot_config!r} not found")
    if not (cfg.device == "cpu" or cfg.device.startswith("cuda")):
        raise ConfigError(f"device: {cfg.device!r} is not cpu or cuda[:N]")
    if o.step == "cuda_graph" and not cfg.device.startswith("cuda"):
        raise ConfigError(f"optim.step: cuda_graph needs a CUDA device, not {cfg.device!r}")
    if o.step != "eager" and cfg.weighting.strategy == "gradnorm":
        # GradNorm reads a flag on the host and differentiates inside its forward
        raise ConfigError("optim.step: gradnorm trains only with the eager step")


__all__ = ["TrainConfig", "config_from_dict", "load_config", "run_config", "validate"]
