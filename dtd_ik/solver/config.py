"""Solver settings: ``config/solver.yaml`` (section ``solver``) plus keyword overrides, checked."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

from dtd_ik.solver.kernels import refinement as rf
from dtd_ik.solver.kernels.lm_attempt import KernelParams
from dtd_ik.solver.kernels.path_refinement import PathParams
from dtd_ik.exceptions import ConfigError
from dtd_ik.paths import config_path, resolve
from dtd_ik.config_files import read_yaml

DEFAULT_SOLVER_CONFIG = "solver.yaml"
#: When the network's seed is tried: before the seed table, or only for goals it left unsolved.
NETWORK_SEED_MODES = ("first", "fallback")


@dataclass(frozen=True)
class SolverConfig:
    """Every tunable of :class:`dtd_ik.solver.ik_solver.IKSolver`; units as in config/solver.yaml."""

    position_tolerance: float = 1e-4  # [m]
    orientation_tolerance: float = 1e-3  # [rad]
    min_collision_margin: float = 0.005  # [m]
    push_headroom: float = 0.001  # [m] pairs are pushed to min_collision_margin + this
    converge_position: float = 1e-7  # [m]
    converge_orientation: float = 1e-6  # [rad]
    orientation_weight: float = 0.2  # [m/rad]
    collision_weight: float = 1.0
    lambda_init: float = 1e-4
    lambda_up: float = 4.0
    lambda_down: float = 0.2
    lambda_min: float = 1e-10
    lambda_max: float = 1e3
    max_iterations: int = 40
    max_attempts: int = 64
    perturbed_seeds: int = 6
    perturb_scale: float = 0.3  # [rad]
    random_seed: int = 0
    abandon_after: int = 10
    abandon_error: float = 0.005  # [m]
    seed_table_size: int = 8192
    seed_table_seeds: int = 16
    seed_table_orientation_weight: float = 0.3  # [m/rad]
    seed_table_margin: float = 0.01  # [m]
    seed_table_search_rings: int = 1
    path_jump_factor: float = 3.0
    path_jump_slack: float = 0.02  # [rad]
    path_attempts: int = 8
    path_perturb_scale: float = 0.05  # [rad]
    path_warrant_damping: float = 1e-6
    path_centering: float = 0.015  # [rad]
    network_seed: str = "fallback"  # first | fallback
    network_threads: int = 1  # torch threads for the network (0: torch's setting)
    timeout_per_goal: float = 0.02  # [s]
    parallel_min_goals: int = 8

    def __post_init__(self):
        if self.network_seed not in NETWORK_SEED_MODES:
            raise ConfigError(f"solver option network_seed: one of {', '.join(NETWORK_SEED_MODES)}"
                              f", got {self.network_seed!r}")
        for f in fields(self):
            if f.type in ("str", str):
                continue
            value = getattr(self, f.name)
            kind = int if f.type in ("int", int) else float
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer,
                                                                  np.floating)):
                raise ConfigError(f"solver option {f.name}: expected a number, got {value!r}")
            if kind is int and float(value) != int(value):
                raise ConfigError(f"solver option {f.name}: expected an integer, got {value!r}")
            if not np.isfinite(value):
                raise ConfigError(f"solver option {f.name}: must be finite, got {value!r}")
            object.__setattr__(self, f.name, kind(value))
        positive = ("position_tolerance", "orientation_tolerance", "converge_position",
                    "converge_orientation", "orientation_weight", "collision_weight",
                    "lambda_init", "lambda_min", "lambda_max", "timeout_per_goal",
                    "max_attempts", "parallel_min_goals", "path_jump_factor", "path_attempts",
                    "path_warrant_damping")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"solver option {name}: must be > 0, got {getattr(self, name)}")
        for name in ("max_iterations", "perturbed_seeds", "perturb_scale", "random_seed",
                     "abandon_after", "abandon_error", "seed_table_size", "seed_table_seeds",
                     "seed_table_orientation_weight", "path_jump_slack", "path_perturb_scale",
                     "seed_table_search_rings", "push_headroom", "path_centering",
                     "network_threads"):
            if getattr(self, name) < 0:
                raise ConfigError(f"solver option {name}: must be >= 0, got {getattr(self, name)}")
        if not self.lambda_up > 1 or not 0 < self.lambda_down < 1:
            raise ConfigError("solver options: need lambda_up > 1 and 0 < lambda_down < 1")
        if self.seed_table_seeds > rf.MAX_TABLE_SEEDS:
            raise ConfigError(f"solver option seed_table_seeds: at most {rf.MAX_TABLE_SEEDS}")

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides) -> "SolverConfig":
        """Read the ``solver`` section of ``path`` (default config/solver.yaml), then overrides."""
        path = config_path(DEFAULT_SOLVER_CONFIG) if path is None else resolve(path)
        data = read_yaml(path, "solver config")
        section = (data or {}).get("solver") if isinstance(data, dict) else None
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: missing the 'solver' section")
        known = {f.name for f in fields(cls)}
        for source, values in ((str(path), section), ("keyword options", overrides)):
            unknown = sorted(set(values) - known)
            if unknown:
                raise ConfigError(f"{source}: unknown solver option(s) {', '.join(unknown)}; "
                                  f"known: {', '.join(sorted(known))}")
        return cls(**{**section, **overrides})

    def with_options(self, **overrides) -> "SolverConfig":
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(f"unknown solver option(s) {', '.join(unknown)}")
        return replace(self, **overrides)

    def as_dict(self) -> dict:
        return asdict(self)

    def path_params(self) -> PathParams:
        """The path settings of :func:`dtd_ik.solver.kernels.path_refinement.solve_path`."""
        return PathParams(jump_factor=self.path_jump_factor, jump_slack=self.path_jump_slack,
                          attempts=self.path_attempts, perturb_scale=self.path_perturb_scale,
                          warrant_damping=self.path_warrant_damping,
                          centering=self.path_centering)

    def kernel_params(self) -> KernelParams:
        """The kernels' settings (:class:`dtd_ik.solver.kernels.lm_attempt.KernelParams`)."""
        return KernelParams(
            tol_position=self.position_tolerance, tol_orientation=self.orientation_tolerance,
            min_margin=self.min_collision_margin,
            push_margin=self.min_collision_margin + self.push_headroom,
            # an attempt never stops above a success tolerance, whatever the two settings say
            converge_position=min(self.converge_position, self.position_tolerance),
            converge_orientation=min(self.converge_orientation, self.orientation_tolerance),
            orientation_weight=self.orientation_weight, collision_weight=self.collision_weight,
            lambda_init=self.lambda_init, lambda_up=self.lambda_up,
            lambda_down=self.lambda_down, lambda_min=self.lambda_min,
            lambda_max=self.lambda_max, max_iterations=self.max_iterations,
            max_attempts=self.max_attempts, perturbed_seeds=self.perturbed_seeds,
            perturb_scale=self.perturb_scale, abandon_after=self.abandon_after,
            abandon_cost=self.abandon_error ** 2, table_seeds=self.seed_table_seeds,
            table_orientation_weight=self.seed_table_orientation_weight,
            table_search_rings=self.seed_table_search_rings)


__all__ = ["DEFAULT_SOLVER_CONFIG", "NETWORK_SEED_MODES", "SolverConfig"]
