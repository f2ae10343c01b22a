"""IK solver benchmark: dtd_ik beside TRAC-IK (pytracik) on the same goals, in one run.

Goals are poses of ``panda_hand`` (from TRAC-IK's own KDL FK, in double precision) of random
configurations within the joint limits: a main set whose configurations have capsule margin
>= 5 mm, a set merely free of mesh collision (pybullet), and hard sets (two joints within 0.02 rad
of a limit; the most singular of many random configurations). Every answer is judged by the same
independent checks: KDL FK for the errors (pybullet's poses are rounded to float32, too coarse
below 1e-7 m), the URDF limits, and pybullet's convex hulls of the meshes for self-collision
(success is MoveIt's rule: no contact; the 5 mm capsule margin is only the solver's preference).
TRAC-IK is seeded at mid-range, 20 ms timeout, eps 1e-5, on one core;
dtd_ik uses all cores for a batch.

    .venv/bin/python benchmarks/bench_solver.py [--goals 1000] [--hard 200] [--model models/x.pt]
                                                [--solver seed_table_seeds=8 ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import pybullet_data
import pytracik
import torch
import yaml
from scipy.spatial.transform import Rotation

from dtd_ik import IKSolver
from dtd_ik.kinematics.capsules import CapsuleModel
from dtd_ik.kinematics.forward import Kinematics

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "test"))
from pybullet_panda import PybulletPanda  # noqa: E402  (the test suite's independent reference)

MARGIN, POS_TOL, ORI_TOL = 0.005, 1e-4, 1e-3
TRACIK_TIMEOUT, TRACIK_EPS = 0.02, 1e-5


@dataclass
class Answers:
    """What one solver returned for a goal set, and how long it took."""

    q: np.ndarray  # (N, 7)
    claimed: np.ndarray  # (N,) bool: the solver says solved
    single_ms: np.ndarray  # (M,) latency of single-goal calls [ms]
    single_cpu_ms: np.ndarray  # (M,) CPU time of those calls, all threads [ms]
    batch_goals_per_s: float
    cpu_us_per_goal: float  # CPU time (all threads) of the batch per goal [us]


@dataclass
class Judged:
    success: np.ndarray  # pose, joint limits, pybullet's hulls clear
    mesh_free: np.ndarray  # pybullet meshes do not touch
    pos: np.ndarray
    ori: np.ndarray


def kdl_poses(tracik, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions (N, 3) [m], quaternions x-y-z-w (N, 4)) of panda_hand by TRAC-IK's KDL FK."""
    T = np.array([np.asarray(pytracik.fk(tracik, q)) for q in Q]).reshape(-1, 4, 4)
    return T[:, :3, 3].copy(), Rotation.from_matrix(T[:, :3, :3]).as_quat().reshape(-1, 4)


class Goals:
    def __init__(self, name: str, Q: np.ndarray, tracik):
        self.name, self.Q = name, Q
        self.p, self.quat = kdl_poses(tracik, Q)


def sample(kin, capsules, rng, n, margin=MARGIN):
    Q = rng.uniform(kin.model.lower, kin.model.upper, (4 * n, kin.dof))
    d = capsules.distance(torch.tensor(Q)).distance.numpy()
    return Q[d >= margin][:n]


def mesh_free_sample(kin, panda, rng, n):
    out = []
    while len(out) < n:
        q = rng.uniform(kin.model.lower, kin.model.upper)
        panda.set_joints(q)
        if panda.min_distance(reach=0.01) > 0.0:
            out.append(q)
    return np.array(out)


def near_limit_sample(kin, capsules, rng, n):
    Q = rng.uniform(kin.model.lower, kin.model.upper, (8 * n, kin.dof))
    for q in Q:
        for j in rng.choice(kin.dof, 2, replace=False):
            q[j] = (
                (kin.model.lower[j] + rng.uniform(0, 0.02))
                if rng.random() < 0.5
                else (kin.model.upper[j] - rng.uniform(0, 0.02))
            )
    d = capsules.distance(torch.tensor(Q)).distance.numpy()
    return Q[d >= MARGIN][:n]


def near_singular_sample(kin, capsules, rng, n):
    Q = sample(kin, capsules, rng, 20 * n)
    J = kin.jacobian(torch.tensor(Q), "panda_hand").numpy()
    sigma = np.linalg.svd(J, compute_uv=False)[:, -1]
    return Q[np.argsort(sigma)[:n]]


def judge(goals: Goals, q: np.ndarray, kin, capsules, panda, tracik) -> Judged:
    mesh_free = np.zeros(len(q), dtype=bool)
    for i, qi in enumerate(q):
        mesh_free[i] = panda.hull_distance(qi, reach=0.01) > 0.0
    p, quat = kdl_poses(tracik, q)
    pos_err = np.linalg.norm(p - goals.p, axis=1)
    ori_err = (Rotation.from_quat(quat) * Rotation.from_quat(goals.quat).inv()).magnitude()
    within = np.all((q >= kin.model.lower) & (q <= kin.model.upper), axis=1)
    # the solver's rule is MoveIt's: no contact on the meshes (the 5 mm is only preferred)
    success = (pos_err <= POS_TOL) & (ori_err <= ORI_TOL) & within & mesh_free
    return Judged(success, mesh_free, pos_err, ori_err)


def run_dtd(solver: IKSolver, goals: Goals, singles: int, refine: bool = True) -> Answers:
    solver.solve(goals.p[:8], goals.quat[:8], refine=refine)  # warm
    times, cpu = [], []
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        result = solver.solve(goals.p, goals.quat, refine=refine)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    single, single_cpu = [], []
    for i in range(min(singles, len(goals.p))):
        t0, c0 = time.perf_counter(), time.process_time()
        solver.solve(goals.p[i : i + 1], goals.quat[i : i + 1], refine=refine)
        single.append(time.perf_counter() - t0)
        single_cpu.append(time.process_time() - c0)
    return Answers(
        result.q,
        result.success,
        np.array(single) * 1e3,
        np.array(single_cpu) * 1e3,
        len(goals.p) / float(np.median(times)),
        np.median(cpu) / len(goals.p) * 1e6,
    )


def run_tracik(tracik, kin, goals: Goals, singles: int) -> Answers:
    mid = (kin.model.lower + kin.model.upper) / 2
    q, claimed, single = np.empty((len(goals.p), 7)), np.zeros(len(goals.p), dtype=bool), []
    single_cpu = []
    t_all, c_all = time.perf_counter(), time.process_time()
    for i, (p, qu) in enumerate(zip(goals.p, goals.quat)):
        t0, c0 = time.perf_counter(), time.process_time()
        out = pytracik.ik(tracik, mid, *p, *qu)
        single.append(time.perf_counter() - t0)
        single_cpu.append(time.process_time() - c0)
        claimed[i] = out[0] > 0
        q[i] = out[1:] if claimed[i] else mid
    total, cpu = time.perf_counter() - t_all, time.process_time() - c_all
    return Answers(
        q,
        claimed,
        np.array(single[:singles]) * 1e3,
        np.array(single_cpu[:singles]) * 1e3,
        len(goals.p) / total,
        cpu / len(goals.p) * 1e6,
    )


def fmt_err(values: np.ndarray, claimed: np.ndarray, pct: float) -> str:
    v = values[claimed]
    return f"{np.percentile(v, pct):.1e}" if len(v) else "-"


def table(
    goals: Goals, columns: dict[str, tuple[Answers, Judged]], targets: dict[str, str]
) -> str:
    """Print the set's table; return the same table as markdown."""
    rows = [
        (
            "success: pose, limits, pybullet hulls clear [%]",
            lambda a, j: f"{100 * j.success.mean():.2f}",
            "success",
        ),
        (
            "success and pybullet mesh-free [%]",
            lambda a, j: f"{100 * (j.success & j.mesh_free).mean():.2f}",
            None,
        ),
        ("claimed solved [%]", lambda a, j: f"{100 * a.claimed.mean():.2f}", None),
        (
            "claimed solved but mesh-colliding [%]",
            lambda a, j: f"{100 * (a.claimed & ~j.mesh_free).mean():.2f}",
            "mesh",
        ),
        (
            "claimed solved but fails criteria [%]",
            lambda a, j: f"{100 * (a.claimed & ~j.success).mean():.2f}",
            None,
        ),
        ("position error median [m] (claimed)", lambda a, j: fmt_err(j.pos, a.claimed, 50), "pos"),
        ("position error p99 [m] (claimed)", lambda a, j: fmt_err(j.pos, a.claimed, 99), None),
        (
            "orientation error median [rad] (claimed)",
            lambda a, j: fmt_err(j.ori, a.claimed, 50),
            "ori",
        ),
        (
            "orientation error p99 [rad] (claimed)",
            lambda a, j: fmt_err(j.ori, a.claimed, 99),
            None,
        ),
        (
            "single-goal latency p50 [ms]",
            lambda a, j: f"{np.percentile(a.single_ms, 50):.3f}" if len(a.single_ms) else "-",
            "p50",
        ),
        (
            "single-goal latency p99 [ms]",
            lambda a, j: f"{np.percentile(a.single_ms, 99):.3f}" if len(a.single_ms) else "-",
            "p99",
        ),
        (
            "single-goal CPU time p50 [ms]",
            lambda a, j: f"{np.percentile(a.single_cpu_ms, 50):.3f}" if len(a.single_ms) else "-",
            None,
        ),
        (
            "single-goal CPU time p99 [ms]",
            lambda a, j: f"{np.percentile(a.single_cpu_ms, 99):.3f}" if len(a.single_ms) else "-",
            None,
        ),
        ("batch throughput [goals/s]", lambda a, j: f"{a.batch_goals_per_s:,.0f}", "batch"),
        (
            "batch CPU time per goal, all threads [us]",
            lambda a, j: f"{a.cpu_us_per_goal:,.1f}",
            None,
        ),
    ]
    names = list(columns)
    width = max(14, *(len(n) + 2 for n in names))
    print(f"\n== {goals.name}: {len(goals.p)} goals")
    print(f"{'metric':46s}" + "".join(f"{n:>{width}s}" for n in names) + f"{'target':>12s}")
    md = [
        f"**{goals.name}: {len(goals.p)} goals**",
        "",
        "| metric | " + " | ".join(names) + " | target |",
        "|---|" + "---|" * (len(names) + 1),
    ]
    for label, fn, key in rows:
        values = [fn(*columns[n]) for n in names]
        target = targets.get(key, "") if key else ""
        print(f"{label:46s}" + "".join(f"{v:>{width}s}" for v in values) + f"{target:>12s}")
        md.append(f"| {label} | " + " | ".join(values) + f" | {target} |")
    return "\n".join(md) + "\n"


def path_section(solver: IKSolver, kin, capsules, tracik, rng, n_paths: int, steps: int = 50):
    """Cartesian paths (straight joint-space motions, collision-free, mapped to poses): joint
    jumps between consecutive answers with independent solves vs the consistency mode."""
    rows = {"solve, each goal alone": [], "solve_path (consistency mode)": []}
    success = {name: [] for name in rows}
    for _ in range(n_paths):
        while True:
            q0 = sample(kin, capsules, rng, 1, margin=0.01)[0]
            q1 = np.clip(q0 + rng.uniform(-0.6, 0.6, 7), kin.model.lower, kin.model.upper)
            Q = q0 + np.linspace(0, 1, steps)[:, None] * (q1 - q0)
            if capsules.distance(torch.tensor(Q)).distance.min() >= 0.006:
                break
        p, quat = kdl_poses(tracik, Q)
        alone = solver.solve(p, quat)
        path = solver.solve_path(p, quat, seed=q0)
        for name, r in (
            ("solve, each goal alone", alone),
            ("solve_path (consistency mode)", path),
        ):
            rows[name].append(np.abs(np.diff(r.q, axis=0)).max(axis=1))
            success[name].append(r.success)
    step = np.abs(np.diff(Q, axis=0)).max()
    print(
        f"\n== Cartesian paths: {n_paths} paths x {steps} waypoints (largest joint step of the "
        f"generating motion ~{step:.3f} rad)"
    )
    print(
        f"{'mode':34s}{'success [%]':>13s}{'max joint jump p50 [rad]':>26s}"
        f"{'steps with a jump > 0.2 rad [%]':>33s}"
    )
    for name, jumps in rows.items():
        j = np.concatenate(jumps)
        print(
            f"{name:34s}{100 * np.concatenate(success[name]).mean():13.2f}"
            f"{np.median(j):26.4f}{100 * (j > 0.2).mean():33.2f}"
        )


def unreachable_section(solver: IKSolver, tracik, kin, rng, n: int = 100):
    """Goals no configuration reaches: inside the base (collision) and beyond the arm's reach."""
    inside = np.column_stack(
        [rng.uniform(-0.05, 0.05, n), rng.uniform(-0.05, 0.05, n), rng.uniform(0.0, 0.1, n)]
    )
    direction = rng.normal(size=(n, 3))
    beyond = 1.5 * direction / np.linalg.norm(direction, axis=1, keepdims=True) + [0, 0, 0.333]
    quat = Rotation.random(n, random_state=int(rng.integers(1 << 30))).as_quat()
    mid = (kin.model.lower + kin.model.upper) / 2
    print(f"\n== unreachable goals, {n} per kind (default timeout; TRAC-IK 20 ms)")
    print(
        f"{'kind':34s}{'dtd_ik solved':>15s}{'dtd_ik [ms/goal]':>18s}{'TRAC-IK solved':>16s}"
        f"{'TRAC-IK [ms/goal]':>19s}"
    )
    for name, p in (("hand inside the base", inside), ("1.5 m from the shoulder", beyond)):
        t0 = time.perf_counter()
        r = solver.solve(p, quat)
        dtd_ms = (time.perf_counter() - t0) / n * 1e3
        t0 = time.perf_counter()
        solved = sum(pytracik.ik(tracik, mid, *pi, *qi)[0] > 0 for pi, qi in zip(p, quat))
        trac_ms = (time.perf_counter() - t0) / n * 1e3
        print(f"{name:34s}{int(r.success.sum()):15d}{dtd_ms:18.2f}{solved:16d}{trac_ms:19.2f}")


def seed_section(goals: Goals, kin, rng, model: str | None):
    """One LM attempt per goal from each seed source: how often it succeeds, how long it runs."""
    one = dict(max_attempts=1)
    random_seeds = rng.uniform(kin.model.lower, kin.model.upper, (len(goals.p), kin.dof))
    cases = [
        ("uniform random joints", IKSolver.load(None, seed_table_size=0, **one), random_seeds),
        (
            "mid-range joints",
            IKSolver.load(None, seed_table_size=0, **one),
            np.tile((kin.model.lower + kin.model.upper) / 2, (len(goals.p), 1)),
        ),
        ("nearest seed-table entry", IKSolver.load(None, **one), None),
    ]
    if model:
        cases.append(("network", IKSolver.load(model, network_seed="first", **one), None))
    print(f"\n== first LM attempt by seed source ({goals.name}, {len(goals.p)} goals)")
    print(f"{'seed':28s}{'success [%]':>13s}{'iterations mean':>17s}{'p90':>6s}")
    for name, solver, seeds in cases:
        r = solver.solve(goals.p, goals.quat, seeds=seeds)
        print(
            f"{name:28s}{100 * r.success.mean():13.2f}{r.iterations.mean():17.2f}"
            f"{np.percentile(r.iterations, 90):6.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--goals", type=int, default=1000)
    parser.add_argument("--hard", type=int, default=200, help="goals per hard set")
    parser.add_argument("--singles", type=int, default=1000, help="single-goal calls timed")
    parser.add_argument("--model", type=str, default=None, help="TorchScript IK network")
    parser.add_argument("--paths", type=int, default=20, help="Cartesian paths for the path mode")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--markdown", type=Path, help="also write the goal-set tables here")
    parser.add_argument(
        "--solver",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config/solver.yaml key for every dtd_ik column "
        "(repeatable), e.g. --solver seed_table_seeds=8",
    )
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    kin = Kinematics()
    capsules = CapsuleModel(kin)
    panda = PybulletPanda()
    urdf = open(os.path.join(pybullet_data.getDataPath(), "franka_panda", "panda.urdf")).read()
    tracik = pytracik.TRAC_IK(
        "panda_link0", "panda_hand", urdf, TRACIK_TIMEOUT, TRACIK_EPS, pytracik.Speed
    )
    pytracik.set_joint_limits(tracik, kin.model.lower, kin.model.upper)  # the same limits

    overrides = {}
    for item in args.solver:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--solver takes KEY=VALUE, got {item!r}")
        overrides[key] = yaml.safe_load(value)
    t0 = time.perf_counter()
    solvers = {"dtd_ik": IKSolver.load(None, **overrides)}
    if args.model:
        solvers["+net fallback"] = IKSolver.load(
            args.model, **{**overrides, "network_seed": "fallback"}
        )
        solvers["+net first"] = IKSolver.load(args.model, **{**overrides, "network_seed": "first"})
    load_s = time.perf_counter() - t0
    sets = [
        Goals("capsule margin >= 5 mm (main set)", sample(kin, capsules, rng, args.goals), tracik),
        Goals("mesh collision-free only", mesh_free_sample(kin, panda, rng, args.hard), tracik),
        Goals(
            "hard: two joints within 0.02 rad of a limit",
            near_limit_sample(kin, capsules, rng, args.hard),
            tracik,
        ),
        Goals(
            "hard: most singular 5 % (smallest singular value)",
            near_singular_sample(kin, capsules, rng, args.hard),
            tracik,
        ),
    ]
    targets = {
        "success": ">= 99.9",
        "mesh": "0",
        "pos": "<= 1e-6",
        "ori": "<= 1e-5",
        "p50": "<= 0.3",
        "p99": "<= 0.6",
        "batch": ">= 20,000",
    }
    print(
        f"dtd_ik solver benchmark: torch {torch.__version__}, numba {numba.__version__}, "
        f"{os.cpu_count()} cores, numba threads {numba.get_num_threads()}; solver load "
        f"{load_s:.1f} s; TRAC-IK Speed, {TRACIK_TIMEOUT * 1e3:.0f} ms, eps {TRACIK_EPS}, "
        f"seeded mid-range, one core; errors by KDL FK, margin by the torch capsule model, "
        f"mesh check by pybullet" + (f"; solver overrides {overrides}" if overrides else "")
    )
    print(
        f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
        f"(the machine may be shared: wall-clock figures depend on it, CPU times less)"
    )
    tables = []
    for i, goals in enumerate(sets):
        singles = args.singles if i == 0 else 0
        columns = {}
        for name, solver in solvers.items():
            a = run_dtd(solver, goals, singles)
            columns[name] = (a, judge(goals, a.q, kin, capsules, panda, tracik))
        if args.model:  # the paper's protocol: the network's answer for every goal, as it is
            a = run_dtd(solvers["+net first"], goals, singles, refine=False)
            a.claimed = np.ones_like(a.claimed)
            columns["net only"] = (a, judge(goals, a.q, kin, capsules, panda, tracik))
        a = run_tracik(tracik, kin, goals, singles)
        columns["TRAC-IK"] = (a, judge(goals, a.q, kin, capsules, panda, tracik))
        tables.append(
            table(goals, columns, targets if i == 0 else {"mesh": "0"} if i == 1 else {})
        )
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text("\n".join(tables))
    seed_section(sets[0], kin, rng, args.model)
    unreachable_section(solvers["dtd_ik"], tracik, kin, rng)
    path_section(solvers["dtd_ik"], kin, capsules, tracik, rng, args.paths)
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    panda.close()


if __name__ == "__main__":
    main()
