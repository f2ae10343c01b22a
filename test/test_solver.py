"""IKSolver end to end, checked by independent references: pybullet's FK of the returned joints
(position/orientation), the torch capsule model (margin), pybullet's meshes (self-collision), the
joint limits of the URDF; plus networks scripted here to the model-file contract."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation
from torch import Tensor, nn

from dtd_ik import IKSolver
from dtd_ik.exceptions import ConfigError, InvalidInputError, ModelLoadError, UnknownFrameError
from pybullet_panda import FK_TOLERANCE

MARGIN = 0.005
# pybullet's hull distance <= the mesh distance, equal within this where the closest points lie
# on the hulls (test/test_collision_meshes.py)
AGREEMENT = 1e-4  # [m]
# [s] a budget no solve here reaches: answers compared bit for bit must not depend on how busy
# the machine is (each call stops its restarts at its deadline)
NO_DEADLINE = 60.0
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")


@pytest.fixture(scope="module")
def solver():
    return IKSolver.load(None)


def collision_free_joints(kin, capsules, n, seed, margin=MARGIN):
    """(n, 7) uniform joints whose torch capsule margin is >= ``margin``."""
    rng = np.random.default_rng(seed)
    Q = rng.uniform(kin.model.lower, kin.model.upper, (4 * n, kin.dof))
    d = capsules.distance(torch.tensor(Q)).distance.numpy()
    return Q[d >= margin][:n]


def pybullet_poses(panda, Q, link="panda_hand"):
    """(positions (N, 3), quaternions x-y-z-w (N, 4)) of ``link`` from pybullet's own FK."""
    out = []
    for q in Q:
        panda.set_joints(q)
        out.append(np.concatenate(panda.link_pose(link)))
    out = np.array(out)
    return out[:, :3], out[:, 3:]


def check_answers(result, positions, quaternions, kin, capsules, panda, link="panda_hand"):
    """Every claimed success holds by the references; returns pybullet's errors (pos, ori).

    Success: pose within tolerance by pybullet's FK, and pybullet's hulls clear, or where they
    touch, pybullet's meshes not intersecting (brute force). The reported margin is the capsule
    distance (a lower bound of the mesh distance) where no pair is named, else the mesh
    distance FCL found, which pybullet's hull distance bounds from below."""
    q = np.asarray(result.q)
    assert np.all(q >= kin.model.lower) and np.all(q <= kin.model.upper), "joint limits violated"
    p, quat = pybullet_poses(panda, q, link)
    pos_err = np.linalg.norm(p - positions, axis=1)
    ori_err = (Rotation.from_quat(quat) * Rotation.from_quat(quaternions).inv()).magnitude()
    margin = capsules.distance(torch.tensor(q)).distance.numpy()
    ok = np.asarray(result.success)
    assert np.all(pos_err[ok] <= 1e-4) and np.all(ori_err[ok] <= 1e-3)
    # the reported figures are the true ones, to the precision of pybullet's float32 FK
    np.testing.assert_allclose(result.position_error, pos_err, atol=FK_TOLERANCE)
    np.testing.assert_allclose(result.orientation_error, ori_err, atol=FK_TOLERANCE)
    pairs = result.closest_pair if q.ndim == 2 else [result.closest_pair]
    reported = np.atleast_1d(result.collision_margin)
    for i, qi in enumerate(np.atleast_2d(q)):
        hull = panda.hull_distance(qi)
        if ok.reshape(-1)[i] and hull <= AGREEMENT:  # hulls touch: do the meshes? (brute force)
            assert not panda.meshes_in_contact(qi), "success claimed in collision"
        if pairs[i] == ("", ""):  # the capsules decided: their distance, a lower bound
            np.testing.assert_allclose(reported[i], np.atleast_1d(margin)[i], atol=1e-9)
        else:  # FCL's mesh distance: never below the hulls' (a hull holds its mesh; they
            # differ where the closest points lie in a concave part of a mesh)
            assert reported[i] >= min(hull, 0.3) - AGREEMENT
    return pos_err, ori_err


class MidRange(nn.Module):
    """A network meeting docs/model_format.md that answers the middle of the ranges."""

    format_version: int
    joint_names: list[str]
    base_frame: str
    tip_frame: str

    def __init__(self, robot, tip="panda_hand"):
        super().__init__()
        self.format_version = 1
        self.joint_names = list(robot.joint_names)
        self.base_frame = robot.base_frame
        self.tip_frame = tip
        self.register_buffer("q_min", torch.as_tensor(robot.lower, dtype=torch.float32))
        self.register_buffer("q_max", torch.as_tensor(robot.upper, dtype=torch.float32))

    def forward(self, x: Tensor) -> Tensor:
        return (0.5 * (self.q_min + self.q_max)).expand(x.shape[0], -1).clone()


class Oracle(MidRange):
    """A network that knows a table of (pose of its tip, joints) pairs and answers the joints of
    the nearest stored pose: a perfect seed for stored goals, if the goal reaches it in its tip."""

    def __init__(self, robot, tip, poses, joints):
        super().__init__(robot, tip)
        self.register_buffer("keys", torch.as_tensor(poses, dtype=torch.float32))
        self.register_buffer("values", torch.as_tensor(joints, dtype=torch.float32))

    def forward(self, x: Tensor) -> Tensor:
        quat = x[:, 3:] / (x[:, 3:] ** 2).sum(dim=1, keepdim=True).sqrt()
        quat = torch.where(quat[:, 3:] < 0, -quat, quat)
        key = torch.cat([x[:, :3], quat], dim=1)
        nearest = torch.cdist(key, self.keys).argmin(dim=1)
        return self.values[nearest]


def save(tmp_path, module, name="net.pt"):
    path = tmp_path / name
    torch.jit.script(module).save(str(path))
    return path


def test_converges_on_reachable_collision_free_goals_without_a_model(
    solver, kin, capsules, pybullet_panda
):
    Q = collision_free_joints(kin, capsules, 300, seed=31)
    p, quat = pybullet_poses(pybullet_panda, Q)
    result = solver.solve(p, quat)
    assert result.q.shape == (len(Q), 7) and result.success.dtype == bool
    pos_err, ori_err = check_answers(result, p, quat, kin, capsules, pybullet_panda)
    assert result.success.mean() >= 0.99
    assert np.median(pos_err) <= 1e-6 and np.median(ori_err) <= 1e-5


@pytest.mark.parametrize("tip", ["panda_link8", "panda_hand_tcp"])
def test_other_tips(solver, kin, capsules, pybullet_panda, tip):
    Q = collision_free_joints(kin, capsules, 40, seed=32)
    p, quat = pybullet_poses(pybullet_panda, Q, "panda_hand")
    if tip == "panda_hand_tcp":  # the TCP sits 0.1034 m along the hand's z
        p = p + Rotation.from_quat(quat).as_matrix()[:, :, 2] * 0.1034
        result = solver.solve(p, quat, tip=tip)
        p_back = p - Rotation.from_quat(quat).as_matrix()[:, :, 2] * 0.1034
        check_answers(result, p_back, quat, kin, capsules, pybullet_panda, "panda_hand")
    else:
        p, quat = pybullet_poses(pybullet_panda, Q, tip)
        result = solver.solve(p, quat, tip=tip)
        check_answers(result, p, quat, kin, capsules, pybullet_panda, tip)
    assert result.success.mean() >= 0.95


@pytest.mark.parametrize("frame", ["panda_link3", "panda_link8", "panda_hand", "panda_hand_tcp"])
def test_forward_matches_pybullet(solver, kin, pybullet_panda, frame):
    Q = kin.model.lower + (kin.model.upper - kin.model.lower) * np.random.default_rng(33).random(
        (100, kin.dof)
    )
    p, R = solver.forward(Q, frame)
    assert p.shape == (100, 3) and R.shape == (100, 3, 3)
    ref_p, ref_quat = pybullet_poses(
        pybullet_panda, Q, "panda_hand" if frame == "panda_hand_tcp" else frame
    )
    ref_R = Rotation.from_quat(ref_quat).as_matrix()
    if frame == "panda_hand_tcp":  # Franka's hand TCP: 0.1034 m along the hand's z
        ref_p = ref_p + ref_R[:, :, 2] * 0.1034
    np.testing.assert_allclose(p, ref_p, atol=1e-6)
    assert (Rotation.from_matrix(R) * Rotation.from_matrix(ref_R).inv()).magnitude().max() < 1e-6


def test_forward_of_every_known_frame_equals_torch_kinematics(solver, kin):
    Q = kin.model.lower + (kin.model.upper - kin.model.lower) * np.random.default_rng(34).random(
        (50, kin.dof)
    )
    for frame in kin.model.frame_names:
        p, R = solver.forward(Q, frame)
        pose = kin.forward(torch.tensor(Q), frame)
        np.testing.assert_allclose(p, pose.position.numpy(), atol=1e-12)
        np.testing.assert_allclose(R, pose.rotation.numpy(), atol=1e-12)
    p1, R1 = solver.forward(Q[0], "panda_hand")  # one configuration: no batch axis
    assert p1.shape == (3,) and R1.shape == (3, 3)
    np.testing.assert_array_equal(p1, solver.forward(Q[:1], "panda_hand")[0][0])
    p_t, _ = solver.forward(torch.tensor(Q), "panda_hand")
    np.testing.assert_array_equal(p_t, solver.forward(Q, "panda_hand")[0])


def test_forward_refuses_unknown_frames_and_bad_joints(solver):
    with pytest.raises(UnknownFrameError, match="panda_link9"):
        solver.forward(np.zeros(7), "panda_link9")
    with pytest.raises(UnknownFrameError):
        solver.forward(np.zeros(7), None)
    for q, message in (
        (np.zeros(6), "shape"),
        (np.zeros((2, 7, 1)), "shape"),
        (np.full(7, np.nan), "NaN"),
        ([[0.0] * 6 + [np.inf]], "NaN"),
        ("abc", "numeric"),
    ):
        with pytest.raises(InvalidInputError, match=message):
            solver.forward(q, "panda_hand")


def test_a_network_seeds_the_solver_and_refine_false_returns_its_answer(
    tmp_path, kin, capsules, pybullet_panda
):
    """The oracle network learned panda_link8; goals name panda_hand. Its answers are exact only
    if the solver converts the goals into the network's tip frame."""
    Q = collision_free_joints(kin, capsules, 60, seed=33)
    keys = np.concatenate(pybullet_poses(pybullet_panda, Q, "panda_link8"), axis=1)
    keys[:, 3:] *= np.where(keys[:, 6:] < 0, -1, 1)
    solver = IKSolver.load(
        save(tmp_path, Oracle(kin.model, "panda_link8", keys, Q)), network_seed="first"
    )
    p, quat = pybullet_poses(pybullet_panda, Q, "panda_hand")
    alone = solver.solve(p, quat, refine=False)
    np.testing.assert_allclose(alone.q, Q.astype(np.float32), atol=1e-6)  # the network's answer
    assert np.all(alone.iterations == 0) and np.all(alone.attempts == 1)
    assert np.all(alone.position_error < 1e-5)  # float32 joints, nothing refined
    refined = solver.solve(p, quat)
    check_answers(refined, p, quat, kin, capsules, pybullet_panda)
    assert refined.success.all() and refined.attempts.max() == 1  # the seed was good enough


def test_midrange_network_plumbing(tmp_path, kin, capsules, pybullet_panda):
    solver = IKSolver.load(save(tmp_path, MidRange(kin.model)))
    Q = collision_free_joints(kin, capsules, 50, seed=34)
    p, quat = pybullet_poses(pybullet_panda, Q)
    alone = solver.solve(p, quat, refine=False)
    np.testing.assert_allclose(
        alone.q, np.broadcast_to((kin.model.lower + kin.model.upper) / 2, (50, 7)), atol=1e-6
    )
    assert not alone.success.any()  # mid-range is nowhere near these goals
    result = solver.solve(p, quat)
    check_answers(result, p, quat, kin, capsules, pybullet_panda)
    assert result.success.mean() >= 0.95


def test_numpy_and_torch_in_same_type_out_and_single_goals(solver, kin, capsules, pybullet_panda):
    Q = collision_free_joints(kin, capsules, 5, seed=35)
    p, quat = pybullet_poses(pybullet_panda, Q)
    a = solver.solve(p, quat, timeout=NO_DEADLINE)
    t = solver.solve(torch.tensor(p), torch.tensor(quat, dtype=torch.float64), timeout=NO_DEADLINE)
    assert isinstance(t.q, torch.Tensor) and t.success.dtype == torch.bool
    np.testing.assert_array_equal(t.q.numpy(), a.q)
    one = solver.solve(p[0], quat[0], timeout=NO_DEADLINE)
    assert one.q.shape == (7,) and np.ndim(one.success) == 0
    np.testing.assert_array_equal(one.q, a.q[0])


def test_deterministic_and_independent_of_batching(solver, kin, capsules, pybullet_panda):
    Q = collision_free_joints(kin, capsules, 30, seed=36)
    p, quat = pybullet_poses(pybullet_panda, Q)
    a, b = solver.solve(p, quat, timeout=NO_DEADLINE), solver.solve(p, quat, timeout=NO_DEADLINE)
    np.testing.assert_array_equal(a.q, b.q)
    np.testing.assert_array_equal(a.iterations, b.iterations)
    singles = np.array(
        [
            solver.solve(p[i : i + 1], quat[i : i + 1], timeout=NO_DEADLINE).q[0]
            for i in range(len(Q))
        ]
    )
    np.testing.assert_array_equal(singles, a.q)  # serial and parallel kernels, same answer


def test_caller_seed_is_tried_first_and_clamped(solver, kin, capsules, pybullet_panda):
    Q = collision_free_joints(kin, capsules, 10, seed=37)
    p, quat = pybullet_poses(pybullet_panda, Q)
    result = solver.solve(p, quat, seeds=Q)
    assert np.all(result.attempts == 1) and result.success.all()
    assert np.abs(result.q - Q).max() < 1e-5  # stays at the seed's solution
    outside = Q + 10.0  # far outside the limits: clamped, still answers within them
    check_answers(solver.solve(p, quat, seeds=outside), p, quat, kin, capsules, pybullet_panda)


def test_goals_out_of_reach_fail_at_once(solver):
    p = np.array([[2.0, 0.0, 0.5], [0.0, -1.5, 1.2], [0.0, 0.0, 3.0]])
    quat = np.tile([0.0, 0.0, 0.0, 1.0], (3, 1))
    result = solver.solve(p, quat)
    assert not result.success.any() and np.all(result.attempts == 0)
    assert np.all(result.position_error > 0.5)


def test_timeout_is_honoured(solver):
    # goals inside the reach sphere but unreachable without collision (the hand inside the base)
    rng = np.random.default_rng(38)
    p = np.column_stack(
        [rng.uniform(-0.05, 0.05, 200), rng.uniform(-0.05, 0.05, 200), rng.uniform(0.0, 0.1, 200)]
    )
    quat = Rotation.random(200, random_state=38).as_quat()
    none = solver.solve(p, quat, timeout=0.0)
    assert np.all(none.attempts == 0) and not none.success.any()
    assert np.all(np.isfinite(none.position_error))  # the first seed, evaluated
    short = solver.solve(p, quat, timeout=0.002)
    full_budget = solver.config.max_attempts * len(p)
    assert not short.success.any() and short.attempts.sum() < full_budget / 4


def hand_inside_the_base(n, seed):
    """(positions, quaternions) of ``n`` goals inside the reach sphere that no collision-free
    configuration meets (the hand inside the robot's base): every attempt of them runs."""
    rng = np.random.default_rng(seed)
    p = np.column_stack(
        [rng.uniform(-0.05, 0.05, n), rng.uniform(-0.05, 0.05, n), rng.uniform(0.0, 0.1, n)]
    )
    return p, Rotation.random(n, random_state=seed).as_quat()


def test_a_batch_tries_every_goal_cheaply_before_any_goal_expensively(
    solver, kin, capsules, pybullet_panda
):
    """A reachable goal behind goals that cannot be met is solved by its cheap attempts (seed
    table) before any goal's perturbations and restarts run: without a network too, a batch's
    plan runs every goal's explicit and table seeds in a first kernel pass, then the remaining
    attempts for the goals still unsolved. The plan and what its first pass does alone are
    checked, not timed (a deadline made this test fail on a loaded CI machine)."""
    cheap = solver.config.seed_table_seeds
    first, rest, fallback = solver.plan(17)
    assert (first.goals, first.seeds, first.first_attempt) == ("all", (), 0)
    assert first.params == solver.config.kernel_params()._replace(max_attempts=cheap)
    assert (rest.goals, rest.seeds, rest.first_attempt) == ("unsolved", (), cheap)
    assert rest.params == solver.config.kernel_params()
    assert (fallback.goals, fallback.params) == ("unsolved", solver.config.fallback_params())
    assert len(solver.plan(1)) == 2  # a single goal: one pass, then the fallback
    Q = collision_free_joints(kin, capsules, 1, seed=52)
    p_ok, quat_ok = pybullet_poses(pybullet_panda, Q)
    alone = solver.solve(p_ok, quat_ok, timeout=NO_DEADLINE)
    assert alone.success[0] and alone.attempts[0] <= cheap
    p_bad, quat_bad = hand_inside_the_base(16, seed=38)
    p, quat = np.vstack([p_bad, p_ok]), np.vstack([quat_bad, quat_ok])
    first_pass = IKSolver.load(None, max_attempts=cheap).solve(p, quat, timeout=60.0)
    assert np.all(first_pass.attempts <= 2 * cheap)  # the cheap pass and its fallback
    assert first_pass.success[-1] and not first_pass.success[:-1].any()  # before any restart
    result = solver.solve(p, quat, timeout=60.0)
    # then all the rest, then the fallback's attempts
    assert np.all(result.attempts[:-1] == 2 * solver.config.max_attempts)
    assert not result.success[:-1].any() and result.success[-1]
    check_answers(result, p, quat, kin, capsules, pybullet_panda)
    np.testing.assert_array_equal(result.q[-1], alone.q[0])  # the attempts it gets alone
    np.testing.assert_array_equal(result.q[-1], first_pass.q[-1])


@pytest.mark.parametrize("network", [None, "first"])
def test_two_passes_give_a_batch_the_answers_of_one_pass(
    tmp_path, kin, capsules, pybullet_panda, network
):
    """Batches run in two passes (cheap seeds, then the rest), single goals in one: the same
    seeds and restarts in the same order, so the same answers, perturbations of the caller's
    seed (else the network's) included. A near-useless table and random caller seeds make many
    goals need the second pass."""
    path = None if network is None else save(tmp_path, MidRange(kin.model))
    solver = IKSolver.load(path, seed_table_size=8, seed_table_seeds=1, network_seed="first")
    Q = collision_free_joints(kin, capsules, 24, seed=53)
    p, quat = pybullet_poses(pybullet_panda, Q)
    seeds = np.random.default_rng(54).uniform(kin.model.lower, kin.model.upper, Q.shape)
    batch = solver.solve(p, quat, seeds=seeds, timeout=NO_DEADLINE)
    check_answers(batch, p, quat, kin, capsules, pybullet_panda)
    cheap = 1 + (network is not None) + 1
    assert (batch.attempts > cheap).sum() >= 4 and batch.success.mean() > 0.9
    singles = [
        solver.solve(p[i], quat[i], seeds=seeds[i], timeout=NO_DEADLINE) for i in range(len(p))
    ]
    for name in ("q", "success", "iterations", "attempts"):
        np.testing.assert_array_equal(
            getattr(batch, name), np.array([getattr(r, name) for r in singles])
        )


def test_success_criteria_come_from_the_config(kin, capsules, pybullet_panda):
    strict = IKSolver.load(None, required_clearance=0.01, max_attempts=4)
    Q = collision_free_joints(kin, capsules, 40, seed=39)
    p, quat = pybullet_poses(pybullet_panda, Q)
    result = strict.solve(p, quat)
    assert result.success.sum() >= 10
    assert np.all(result.collision_margin[result.success] >= 0.01)
    for qi in result.q[result.success]:  # by pybullet's hulls too
        assert pybullet_panda.hull_distance(qi) >= 0.01 - AGREEMENT
    assert np.all(result.attempts <= 2 * 4)  # the preferred passes, then the fallback


@pytest.mark.parametrize(
    "positions, quaternions, kwargs, message",
    [
        (np.full((2, 3), np.nan), np.tile([0, 0, 0, 1.0], (2, 1)), {}, "NaN or inf"),
        (np.zeros((2, 3)), np.array([[0, 0, 0, np.inf]] * 2), {}, "NaN or inf"),
        (np.zeros((2, 3)), np.zeros((2, 4)), {}, "norm"),
        (np.zeros((2, 2)), np.tile([0, 0, 0, 1.0], (2, 1)), {}, r"shape \(N, 3\)"),
        (np.zeros((2, 3, 1)), np.tile([0, 0, 0, 1.0], (2, 1)), {}, r"shape \(N, 3\)"),
        (np.zeros((3, 3)), np.tile([0, 0, 0, 1.0], (2, 1)), {}, "disagree"),
        (
            np.zeros((2, 3)),
            np.tile([0, 0, 0, 1.0], (2, 1)),
            {"tip": "panda_link42"},
            "unknown tip",
        ),
        (np.zeros((2, 3)), np.tile([0, 0, 0, 1.0], (2, 1)), {"seeds": np.zeros((2, 6))}, "seeds"),
        (np.zeros((2, 3)), np.tile([0, 0, 0, 1.0], (2, 1)), {"seeds": np.zeros((3, 7))}, "seeds"),
        (np.zeros((2, 3)), np.tile([0, 0, 0, 1.0], (2, 1)), {"timeout": -1.0}, "timeout"),
        (np.zeros((2, 3)), np.tile([0, 0, 0, 1.0], (2, 1)), {"timeout": float("nan")}, "timeout"),
        (np.zeros((2, 3)), np.tile([0, 0, 0, 1.0], (2, 1)), {"refine": False}, "no network"),
        ([["a", "b", "c"]], [[0, 0, 0, 1.0]], {}, "numeric"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(solver, positions, quaternions, kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        solver.solve(positions, quaternions, **kwargs)


def test_quaternions_are_normalised(solver, kin, capsules, pybullet_panda):
    Q = collision_free_joints(kin, capsules, 5, seed=40)
    p, quat = pybullet_poses(pybullet_panda, Q)
    for scale in (3.0, 1e-4, 1e200):  # 1e200: the squared norm would overflow
        b = solver.solve(p, scale * quat)
        check_answers(b, p, quat, kin, capsules, pybullet_panda)
        assert b.success.all()


def test_empty_batch(solver):
    result = solver.solve(np.zeros((0, 3)), np.zeros((0, 4)))
    assert result.q.shape == (0, 7) and result.success.shape == (0,)


def test_load_refuses_bad_options_and_models(tmp_path):
    with pytest.raises(ConfigError, match="max_attempt: unknown key"):
        IKSolver.load(None, max_attempt=3)
    with pytest.raises(ConfigError, match="max_attempts"):
        IKSolver.load(None, max_attempts=0)
    with pytest.raises(ModelLoadError, match="not found"):
        IKSolver.load(tmp_path / "missing.pt")


def test_seed_table_holds_collision_free_configurations_and_their_poses(solver, kin, capsules):
    table = solver.seed_table(7)  # chain frame 7 = panda_link7, which link8 / hand / TCP hang from
    q, pose = table.q, table.pose
    assert q.shape == (solver.config.seed_table_size, 7)
    # every row sits in its grid cell
    cell = np.floor((pose[:, :3] - table.origin) / table.cell).astype(int)
    ids = (cell[:, 0] * table.dims[1] + cell[:, 1]) * table.dims[2] + cell[:, 2]
    rows = np.arange(len(q))
    assert np.all((table.cell_start[ids] <= rows) & (rows < table.cell_start[ids + 1]))
    assert np.all(
        capsules.distance(torch.tensor(q)).distance.numpy() >= solver.config.seed_table_margin
    )
    ref = kin.forward(torch.tensor(q), "panda_link7")
    np.testing.assert_allclose(pose[:, :3], ref.position.numpy(), atol=1e-12)
    dots = np.abs((pose[:, 3:] * ref.quaternion.numpy()).sum(1))
    np.testing.assert_allclose(dots, 1.0, atol=1e-12)
    again = IKSolver.load(None).seed_table(7)  # deterministic from random_seed
    np.testing.assert_array_equal(again.q, q)


def test_converges_without_the_seed_table_too(kin, capsules, pybullet_panda):
    plain = IKSolver.load(None, seed_table_size=0)
    Q = collision_free_joints(kin, capsules, 60, seed=41)
    p, quat = pybullet_poses(pybullet_panda, Q)
    result = plain.solve(p, quat)
    check_answers(result, p, quat, kin, capsules, pybullet_panda)
    assert result.success.mean() >= 0.98


def test_path_mode_stays_on_one_branch(solver, kin, capsules, pybullet_panda):
    """A straight joint-space motion gives a Cartesian path; every answer must succeed and move
    no joint by more than 3x the largest joint motion of the first-order step the pose change
    needs (+ 0.02 rad), computed here with the torch Jacobian's pseudo-inverse."""
    rng = np.random.default_rng(42)
    while True:
        q0 = collision_free_joints(kin, capsules, 1, seed=int(rng.integers(1 << 30)))[0]
        q1 = np.clip(q0 + rng.uniform(-0.4, 0.4, 7), kin.model.lower, kin.model.upper)
        Q = q0 + np.linspace(0, 1, 40)[:, None] * (q1 - q0)
        if capsules.distance(torch.tensor(Q)).distance.min() >= 0.006:
            break
    p, quat = pybullet_poses(pybullet_panda, Q)
    result = solver.solve_path(p, quat, seed=q0)
    check_answers(result, p, quat, kin, capsules, pybullet_panda)
    assert result.success.all()
    pose, J = kin.forward_and_jacobian(torch.tensor(result.q[:-1]), "panda_hand")
    goal_R = Rotation.from_quat(quat)
    rot = (goal_R[1:] * Rotation.from_matrix(pose.rotation.numpy()).inv()).as_rotvec()
    dx = np.concatenate([p[1:] - pose.position.numpy(), rot], axis=1)
    warranted = np.abs(np.einsum("bij,bj->bi", np.linalg.pinv(J.numpy()), dx)).max(axis=1)
    jumps = np.abs(np.diff(result.q, axis=0)).max(axis=1)
    assert np.all(jumps <= 3 * warranted + 0.02 + 1e-6)


def test_path_mode_input_checks(solver):
    with pytest.raises(InvalidInputError, match="seed"):
        solver.solve_path(np.zeros((2, 3)), np.tile([0, 0, 0, 1.0], (2, 1)), seed=np.zeros(6))
    empty = solver.solve_path(np.zeros((0, 3)), np.zeros((0, 4)))
    assert empty.q.shape == (0, 7)
    p = np.column_stack([np.linspace(0.3, 0.5, 20), np.zeros(20), np.full(20, 0.5)])
    none = solver.solve_path(p, np.tile([1.0, 0, 0, 0], (20, 1)), timeout=0.0)
    assert np.all(none.attempts == 0) and not none.success.any()
    assert np.all(np.isfinite(none.q))


class Broken(MidRange):
    """A network that answers NaN (a corrupt export): the solver must not pass it on."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.full((x.shape[0], 7), float("nan"))


def test_a_network_answering_nan_does_not_poison_the_answers(
    tmp_path, kin, capsules, pybullet_panda
):
    solver = IKSolver.load(save(tmp_path, Broken(kin.model)))
    Q = collision_free_joints(kin, capsules, 20, seed=43)
    p, quat = pybullet_poses(pybullet_panda, Q)
    result = solver.solve(p, quat)
    assert np.all(np.isfinite(result.q))
    check_answers(result, p, quat, kin, capsules, pybullet_panda)
    assert result.success.mean() >= 0.95
    alone = solver.solve(p, quat, refine=False)  # the network's own answer, made safe
    assert np.all(np.isfinite(alone.q)) and not alone.success.any()


def test_concurrent_calls_from_threads_give_the_sequential_answers(
    solver, kin, capsules, pybullet_panda
):
    from concurrent.futures import ThreadPoolExecutor

    Q = collision_free_joints(kin, capsules, 64, seed=44)
    p, quat = pybullet_poses(pybullet_panda, Q)
    chunks = [slice(0, 32), slice(32, 64), slice(0, 3), slice(3, 6)]  # parallel and serial kernels
    expected = [solver.solve(p[c], quat[c], timeout=NO_DEADLINE).q for c in chunks]
    with ThreadPoolExecutor(4) as pool:
        got = list(
            pool.map(lambda c: solver.solve(p[c], quat[c], timeout=NO_DEADLINE).q, chunks * 3)
        )
    for i, q in enumerate(got):
        np.testing.assert_array_equal(q, expected[i % len(chunks)])


def test_network_fallback_runs_the_network_only_for_goals_the_table_left(
    tmp_path, kin, capsules, pybullet_panda
):
    """With a useless 8-entry table and one table seed, most goals fail their first attempt; in
    fallback mode exactly those get the (oracle) network's seed next and succeed with it."""
    Q = collision_free_joints(kin, capsules, 40, seed=45)
    keys = np.concatenate(pybullet_poses(pybullet_panda, Q, "panda_hand"), axis=1)
    keys[:, 3:] *= np.where(keys[:, 6:] < 0, -1, 1)
    path = save(tmp_path, Oracle(kin.model, "panda_hand", keys, Q))
    solver = IKSolver.load(
        path,
        seed_table_size=8,
        seed_table_seeds=1,
        abandon_after=3,
        abandon_error=1e-9,
        network_seed="fallback",
    )
    p, quat = pybullet_poses(pybullet_panda, Q)
    table_first, network_next, _ = solver.plan(len(p))
    assert table_first.seeds == () and table_first.params.max_attempts == 1
    assert network_next.seeds == ("network",) and network_next.goals == "unsolved"
    assert network_next.params.table_seeds == 0  # the table is not searched again
    result = solver.solve(p, quat)
    check_answers(result, p, quat, kin, capsules, pybullet_panda)
    assert result.success.all()
    assert set(np.unique(result.attempts)) <= {1, 2} and (result.attempts == 2).any()
    assert result.network_time > 0
    first = IKSolver.load(path, seed_table_size=8, seed_table_seeds=1, network_seed="first")
    assert np.all(first.solve(p, quat).attempts == 1)  # the oracle first: one attempt each
    with pytest.raises(ConfigError, match="network_seed"):
        IKSolver.load(None, network_seed="sometimes")


def test_solver_yaml_documents_every_setting_with_the_code_default():
    """config/solver.yaml sets nothing by default; its commented keys state the defaults that
    SolverConfig holds, so the two cannot drift apart."""
    import dataclasses
    import re

    import yaml

    from dtd_ik.paths import config_path
    from dtd_ik.solver.config import SolverConfig

    text = config_path("solver.yaml").read_text()
    assert yaml.safe_load(text) == {"solver": None}
    fields = {f.name: f.default for f in dataclasses.fields(SolverConfig)}
    documented = {}
    for key, value in re.findall(r"^  # (\w+): (\S+)", text, flags=re.MULTILINE):
        if key in fields:
            assert key not in documented, f"{key} documented twice"
            documented[key] = yaml.safe_load(value)
    assert documented == fields


@pytest.mark.parametrize(
    "text, message",
    [
        ("solver: [1, 2\n", "not valid YAML"),
        ("other: {}\n", "'solver' section"),
        ("solver: {max_iterations: 2.5}\n", "max_iterations: expected int"),
        ("solver: {lambda_down: 1.5}\n", "lambda_down: must be < 1"),
        ("solver: {seed_table_seeds: 17}\n", "seed_table_seeds: must be <= 16"),
        ("solver: {network_seed: sometimes}\n", "network_seed: unknown value"),
        ("solver: {position_tolerance: .nan}\n", "finite"),
    ],
)
def test_bad_solver_config_files_are_refused_naming_the_key(tmp_path, text, message):
    from dtd_ik.solver.config import SolverConfig

    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match=message):
        SolverConfig.load(bad)


def test_solver_config_files_are_checked(tmp_path):
    from dtd_ik.solver.config import SolverConfig

    with pytest.raises(ConfigError, match="cannot read"):
        SolverConfig.load(tmp_path / "missing.yaml")
    # convergence thresholds never exceed the success tolerances (a server may tighten those)
    tight = SolverConfig.load(None, position_tolerance=1e-8)
    assert tight.kernel_params().converge_position == 1e-8
    good = tmp_path / "good.yaml"
    good.write_text("solver: {max_attempts: 3}\n")
    assert SolverConfig.load(good).max_attempts == 3


def test_goals_whose_answers_overlap_the_capsules_are_answered_on_the_meshes(
    kin, capsules, pybullet_panda
):
    """Configurations clear on the meshes (pybullet's hulls > 3 mm) whose capsules overlap by
    more than 5 mm, each goal held to a +-0.02 rad window around its configuration: no answer
    with the preferred 5 mm capsule clearance exists there, yet each goal is answered, clear by
    pybullet, its margin FCL's mesh distance (the pair named). Requiring more clearance than the
    meshes have in the window refuses them."""
    solver = IKSolver.load(None)
    rng = np.random.default_rng(60)
    Q = rng.uniform(kin.model.lower, kin.model.upper, (3000, kin.dof))
    overlap = Q[capsules.distance(torch.tensor(Q)).distance.numpy() < -0.005]
    chosen = [q for q in overlap[:200] if pybullet_panda.hull_distance(q) > 0.003][:5]
    assert len(chosen) == 5
    Q = np.array(chosen)
    p, quat = pybullet_poses(pybullet_panda, Q)
    window = dict(lower=Q - 0.02, upper=Q + 0.02)
    result = solver.solve(p, quat, timeout=NO_DEADLINE, **window)
    assert result.success.all()
    check_answers(result, p, quat, kin, capsules, pybullet_panda)
    margin = capsules.distance(torch.tensor(result.q)).distance.numpy()
    assert (margin < MARGIN).all()  # none has the preferred capsule clearance
    assert all(pair != ("", "") for pair in result.closest_pair)
    assert not any(pybullet_panda.meshes_in_contact(q) for q in result.q)  # brute force
    strict = IKSolver.load(None, required_clearance=0.05)
    assert not strict.solve(p, quat, timeout=NO_DEADLINE, **window).success.any()
