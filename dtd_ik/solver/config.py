"""Solver settings: ``config/solver.yaml`` (section ``solver``) plus keyword overrides, checked.

Every setting's default and valid range is declared here, once; the YAML file documents them and
holds a deployment's changes. Read through :mod:`dtd_ik.config_files`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from dtd_ik.config_files import build, check, load, setting
from dtd_ik.paths import config_path, resolve
from dtd_ik.robot import COLLISION_MARGIN
from dtd_ik.solver.kernels.batch import PARALLEL_MIN_ROWS
from dtd_ik.solver.kernels.lm_attempt import KernelParams
from dtd_ik.solver.kernels.path_refinement import PathParams
from dtd_ik.solver.kernels.refinement import MAX_TABLE_SEEDS

DEFAULT_SOLVER_CONFIG = "solver.yaml"
#: Former setting names still accepted as overrides (the ROS layer passes them), by their new one.
RENAMED = {"min_collision_margin": "preferred_clearance"}
#: When the network's seed is tried: before the seed table, or only for goals it left unsolved.
NETWORK_SEED_MODES = ("first", "fallback")


def _renamed(overrides: dict) -> dict:
    """``overrides`` with former setting names (:data:`RENAMED`) replaced by their new ones."""
    return {RENAMED.get(key, key): value for key, value in overrides.items()}


@dataclass(frozen=True)
class SolverConfig:
    """Every tunable of :class:`dtd_ik.solver.ik_solver.IKSolver` (meanings in
    config/solver.yaml). Construction checks every range; :meth:`load` reads a file."""

    # success criteria
    position_tolerance: float = setting(1e-4, gt=0)  # [m]
    orientation_tolerance: float = setting(1e-3, gt=0)  # [rad]
    collision_padding: float = setting(0.0, ge=0)  # [m] free: mesh distance > this
    required_clearance: float = setting(0.0, ge=0)  # [m] answers below it are refused
    preferred_clearance: float = setting(COLLISION_MARGIN, ge=0)  # [m] sought first
    fallback_push_margin: float = setting(-1.0)  # [m] capsule target once none is preferred
    exact_margin: bool = setting(False)  # FCL for every answer's margin, proven or not
    # Levenberg-Marquardt refinement
    push_headroom: float = setting(0.001, ge=0)  # [m] pairs pushed to the margin + this
    converge_position: float = setting(1e-7, gt=0)  # [m]
    converge_orientation: float = setting(1e-6, gt=0)  # [rad]
    orientation_weight: float = setting(0.2, gt=0)  # [m/rad]
    collision_weight: float = setting(1.0, gt=0)  # [1]
    lambda_init: float = setting(1e-4, gt=0)  # [m^2]
    lambda_up: float = setting(4.0, gt=1)
    lambda_down: float = setting(0.2, gt=0, lt=1)
    lambda_min: float = setting(1e-10, gt=0)  # [m^2]
    lambda_max: float = setting(1e3, gt=0)  # [m^2]
    max_iterations: int = setting(40, ge=0)
    abandon_after: int = setting(10, ge=0)
    abandon_error: float = setting(0.005, ge=0)  # [m]
    # seeds
    network_seed: str = setting("fallback", choices=NETWORK_SEED_MODES)
    max_attempts: int = setting(64, gt=0)
    seed_table_size: int = setting(8192, ge=0)
    seed_table_seeds: int = setting(16, ge=0, le=MAX_TABLE_SEEDS)
    seed_table_orientation_weight: float = setting(0.3, ge=0)  # [m/rad]
    seed_table_margin: float = setting(0.01, ge=0)  # [m]
    seed_table_search_rings: int = setting(1, ge=0)
    perturbed_seeds: int = setting(6, ge=0)
    perturb_scale: float = setting(0.3, ge=0)  # [rad]
    random_seed: int = setting(0, ge=0)
    # consistency mode (solve_path)
    path_jump_factor: float = setting(3.0, gt=0)
    path_jump_slack: float = setting(0.02, ge=0)  # [rad]
    path_attempts: int = setting(8, gt=0)
    path_perturb_scale: float = setting(0.05, ge=0)  # [rad]
    path_warrant_damping: float = setting(1e-6, gt=0)
    path_centering: float = setting(0.015, ge=0)  # [rad]
    # time
    timeout_per_goal: float = setting(0.02, gt=0)  # [s]
    parallel_min_goals: int = setting(PARALLEL_MIN_ROWS, gt=0)
    network_threads: int = setting(1, ge=0)  # 0: torch's own setting

    def __post_init__(self) -> None:
        check(self)

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides) -> SolverConfig:
        """Read the ``solver`` section of ``path`` (default config/solver.yaml), then lay the
        keyword ``overrides`` over it. Raises ConfigError naming the key of a bad value."""
        path = config_path(DEFAULT_SOLVER_CONFIG) if path is None else resolve(path)
        return load(cls, path, "solver config", section="solver", overrides=_renamed(overrides))

    def with_options(self, **overrides) -> SolverConfig:
        """This config with ``overrides`` (checked as :meth:`load` checks them)."""
        return build(type(self), {**asdict(self), **_renamed(overrides)})

    @property
    def min_collision_margin(self) -> float:
        """The former name of :attr:`preferred_clearance` [m]."""
        return self.preferred_clearance

    @property
    def strict_clearance(self) -> float:
        """[m] the capsule distance of the first passes' answers: the preferred clearance, or
        the required one if larger (capsules enclose the meshes, so the meshes clear it too)."""
        return max(self.preferred_clearance, self.required_clearance)

    def fallback_params(self) -> KernelParams:
        """The kernels' settings once no preferred answer was found: any capsule distance
        passes the kernel (the meshes decide), pairs pushed to ``fallback_push_margin`` +
        ``required_clearance``."""
        return self.kernel_params()._replace(
            min_margin=-np.inf, push_margin=self.fallback_push_margin + self.required_clearance
        )

    def path_params(self) -> PathParams:
        """The path settings of :func:`dtd_ik.solver.kernels.path_refinement.solve_path`."""
        return PathParams(
            jump_factor=self.path_jump_factor,
            jump_slack=self.path_jump_slack,
            attempts=self.path_attempts,
            perturb_scale=self.path_perturb_scale,
            warrant_damping=self.path_warrant_damping,
            centering=self.path_centering,
        )

    def kernel_params(self) -> KernelParams:
        """The kernels' settings (:class:`dtd_ik.solver.kernels.lm_attempt.KernelParams`)."""
        return KernelParams(
            tol_position=self.position_tolerance,
            tol_orientation=self.orientation_tolerance,
            min_margin=self.strict_clearance,
            push_margin=self.strict_clearance + self.push_headroom,
            # an attempt never stops above a success tolerance, whatever the two settings say
            converge_position=min(self.converge_position, self.position_tolerance),
            converge_orientation=min(self.converge_orientation, self.orientation_tolerance),
            orientation_weight=self.orientation_weight,
            collision_weight=self.collision_weight,
            lambda_init=self.lambda_init,
            lambda_up=self.lambda_up,
            lambda_down=self.lambda_down,
            lambda_min=self.lambda_min,
            lambda_max=self.lambda_max,
            max_iterations=self.max_iterations,
            max_attempts=self.max_attempts,
            perturbed_seeds=self.perturbed_seeds,
            perturb_scale=self.perturb_scale,
            abandon_after=self.abandon_after,
            abandon_cost=self.abandon_error**2,
            table_seeds=self.seed_table_seeds,
            table_orientation_weight=self.seed_table_orientation_weight,
            table_search_rings=self.seed_table_search_rings,
        )


__all__ = ["DEFAULT_SOLVER_CONFIG", "NETWORK_SEED_MODES", "RENAMED", "SolverConfig"]
