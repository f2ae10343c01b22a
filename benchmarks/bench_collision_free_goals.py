"""How many reachable goals from mesh-collision-free configurations IKSolver answers, and
whether any answer is wrong or in collision, all judged by pybullet's own Panda.

Draws uniform configurations within the joint limits, keeps those whose links' hulls are clear
by pybullet (hull distance = pybullet's distance + 2 mm, its shape margin; the hulls hold the
meshes, so the meshes are clear too), takes pybullet's hand pose of each as a goal and solves
the goals one at a time (as a service does). An answer is wrong when pybullet's FK misses the
goal by more than the tolerances; in hull contact when pybullet's hulls touch (<= 0), and then
in mesh collision if pybullet's own collision meshes, placed by pybullet, intersect (brute-force
edge-triangle test, test/pybullet_panda.py): a concave mesh can be clear where its hull is not.
Prints the counts, latency, and (where the solver has one) the mesh acceptance's cost per check
and how often the capsule bound made it unneeded.
Runs on any commit whose IKSolver.solve takes (positions, quaternions).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_collision_free_goals.py [--goals 300]
        [--seed 0] [--model models/dtd_w_panda.pt] [--solver exact_margin=true ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from scipy.spatial.transform import Rotation

from dtd_ik import IKSolver

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "test"))
from pybullet_panda import FK_TOLERANCE, PybulletPanda  # noqa: E402  (independent reference)

POS_TOL, ORI_TOL = 1e-4, 1e-3  # [m], [rad] the solver's default tolerances
REACH = 0.3  # [m] pybullet reports distances up to this


def free_goals(
    panda: PybulletPanda, lower: np.ndarray, upper: np.ndarray, n: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(configurations (n, 7) [rad], hand positions (n, 3) [m], quaternions (n, 4) x-y-z-w)
    of uniform configurations whose hulls are clear."""
    rng = np.random.default_rng(seed)
    Q, P, X = [], [], []
    while len(Q) < n:
        q = rng.uniform(lower, upper)
        if panda.hull_distance(q, REACH) > 0:
            p, quat = panda.link_pose("panda_hand")
            Q.append(q), P.append(p), X.append(quat)
    return np.array(Q), np.array(P), np.array(X)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--goals", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=None, help="network file (default: none)")
    parser.add_argument(
        "--solver",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="solver settings (YAML values), e.g. exact_margin=true",
    )
    args = parser.parse_args()
    panda = PybulletPanda()
    options = {k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in args.solver)}
    solver = IKSolver.load(args.model, **options)
    Q, P, X = free_goals(panda, solver.robot.lower, solver.robot.upper, args.goals, args.seed)
    answered = wrong = hull_contact = colliding = 0
    times = []
    for p, quat in zip(P, X):
        t0 = time.perf_counter()
        r = solver.solve(p, quat)
        times.append(time.perf_counter() - t0)
        if not r.success:
            continue
        answered += 1
        panda.set_joints(r.q)
        hp, hq = panda.link_pose("panda_hand")
        ori = (Rotation.from_quat(hq) * Rotation.from_quat(quat).inv()).magnitude()
        if np.linalg.norm(hp - p) > POS_TOL + FK_TOLERANCE or ori > ORI_TOL + FK_TOLERANCE:
            wrong += 1
        if panda.hull_distance(r.q, REACH) <= 0:
            hull_contact += 1
            colliding += panda.meshes_in_contact(r.q)
    times = np.array(times) * 1e3
    print(
        f"goals {args.goals} (seed {args.seed}, model {args.model}, solver {options}): "
        f"answered {answered}, "
        f"refused {args.goals - answered}, wrong {wrong}, in hull contact {hull_contact}, "
        f"in mesh collision {colliding}"
    )
    print(
        f"latency per goal: p50 {np.median(times):.3f} ms, p99 "
        f"{np.percentile(times, 99):.3f} ms, max {times.max():.3f} ms"
    )
    acceptance = getattr(solver, "_acceptance", None)
    if acceptance is not None:
        judged = acceptance.checks + acceptance.skipped
        print(
            f"mesh acceptance: {judged} answers judged, {acceptance.skipped} settled by the "
            f"capsule bound ({acceptance.skipped / max(judged, 1) * 100:.1f} %), "
            f"{acceptance.checks} on the meshes at "
            f"{acceptance.check_time / max(acceptance.checks, 1) * 1e3:.3f} ms each "
            f"(link FK + FCL)"
        )


if __name__ == "__main__":
    main()
