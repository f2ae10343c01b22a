"""The pass plan of one :meth:`~dtd_ik.solver.ik_solver.IKSolver.solve` call.

A goal's attempts follow one enumeration: its explicit seeds (the caller's, the network's), the
nearest seed-table entries, perturbations, then random restarts. A plan cuts that work into
kernel passes, so that no goal of a batch waits for another's expensive attempts and the
network runs only where it is worth its cost:

- one pass: every attempt of every goal (single goals; the network's answer alone);
- cheap first: the explicit and table seeds of all goals, then the remaining attempts of the
  goals still unsolved (each goal gets the attempts one pass gives it, same answer, unless the
  deadline cuts in);
- network fallback (``network_seed: fallback``): the caller's and the table's seeds for all
  goals, then the network seed, its perturbations and restarts for the goals still unsolved.

These passes seek answers with the preferred capsule clearance. A last pass, over the goals
they left unsolved, runs the whole enumeration again with any capsule distance allowed
(:meth:`~dtd_ik.solver.config.SolverConfig.fallback_params`): the meshes then decide, so a
reachable collision-free goal is not refused for lack of the preferred clearance.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from dtd_ik.solver.config import SolverConfig
from dtd_ik.solver.kernels.lm_attempt import KernelParams
from dtd_ik.solver.kernels.refinement import MAX_TABLE_SEEDS

#: Batches this large run cheap first; a single goal runs in one pass.
TWO_PASS_MIN_GOALS = 2


class Pass(NamedTuple):
    """One kernel pass of a plan."""

    params: KernelParams  # its settings; params.max_attempts ends each goal's enumeration
    seeds: tuple[str, ...]  # explicit seeds tried first: "caller", then "network", if named
    goals: Literal["all", "unsolved"] = "all"  # unsolved: those an earlier pass tried, unsolved
    first_attempt: int = 0  # where each goal's enumeration starts (goes on from a pass before)


def cheap_attempts(config: SolverConfig, n_explicit: int) -> int:
    """A goal's cheap attempts: its ``n_explicit`` explicit seeds and its seed-table entries."""
    table = min(config.seed_table_seeds, MAX_TABLE_SEEDS) if config.seed_table_size > 0 else 0
    return min(config.max_attempts, n_explicit + table)


def plan_passes(
    config: SolverConfig,
    params: KernelParams,
    *,
    n_goals: int,
    has_caller: bool,
    has_network: bool,
    refine: bool = True,
) -> tuple[Pass, ...]:
    """The passes that solve ``n_goals`` goals; ``params`` is ``config.kernel_params()``.

    ``refine=False`` (with a network): the network's answer, evaluated, no iteration.
    """
    if not refine:
        return (Pass(params._replace(max_attempts=1, max_iterations=0), ("network",)),)
    seeds = (("caller",) if has_caller else ()) + (("network",) if has_network else ())
    fallback = Pass(config.fallback_params(), seeds, "unsolved")
    return _preferred_passes(config, params, n_goals, has_caller, has_network) + (fallback,)


def _preferred_passes(
    config: SolverConfig, params: KernelParams, n_goals: int, has_caller: bool, has_network: bool
) -> tuple[Pass, ...]:
    """The passes that seek answers with the preferred capsule clearance."""
    caller = ("caller",) if has_caller else ()
    if has_network and config.network_seed == "fallback":
        first = cheap_attempts(config, len(caller))
        if first > 0:
            passes = [Pass(params._replace(max_attempts=first), caller)]
            if config.max_attempts > first:  # the table is not searched again
                rest = params._replace(table_seeds=0, max_attempts=config.max_attempts - first)
                passes.append(Pass(rest, ("network",), "unsolved"))
            return tuple(passes)
    seeds = caller + (("network",) if has_network else ())
    cheap = cheap_attempts(config, len(seeds))
    if n_goals >= TWO_PASS_MIN_GOALS and 0 < cheap < config.max_attempts:
        return (
            Pass(params._replace(max_attempts=cheap), seeds),
            Pass(params, seeds, "unsolved", first_attempt=cheap),
        )
    return (Pass(params, seeds),)


__all__ = ["TWO_PASS_MIN_GOALS", "Pass", "cheap_attempts", "plan_passes"]
