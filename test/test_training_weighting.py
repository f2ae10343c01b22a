"""Weighting strategies against hand-computed values on a toy case (training/weighting)."""

import math

import pytest
import torch

from dtd_ik.training.weighting import (
    STRATEGIES,
    DtdWeighting,
    DwaWeighting,
    GradNormWeighting,
    HybridWeighting,
    UncertaintyWeighting,
    make_strategy,
)

# Toy case: losses twice their targets for pos/ori, at target for coll, eps = 0 so that
# d = (2, 2, 1), sum d = 5, w = (0.4, 0.4, 0.2), alpha = 100 w = (40, 40, 20).
TARGETS = (0.01, 0.25, 0.001)
LOSSES = (0.02, 0.5, 0.001)


def _losses(values=LOSSES):
    return torch.tensor(values, dtype=torch.float32, requires_grad=True)


def test_registry_names_the_six_strategies():
    assert set(STRATEGIES) == {"baseline", "dtd", "uncertainty", "hybrid", "gradnorm", "dwa"}
    with pytest.raises(ValueError, match="unknown strategy 'nope'"):
        make_strategy("nope", TARGETS)
    with pytest.raises(ValueError, match="positive"):
        make_strategy("dtd", (0.01, -1.0, 0.001))


def test_baseline_is_the_plain_sum():
    L = _losses()
    out = make_strategy("baseline", TARGETS)(L)
    out.total.backward()
    assert out.total.item() == pytest.approx(0.521, rel=1e-6)
    assert L.grad.tolist() == [1.0, 1.0, 1.0]


def test_dtd_weights_and_alpha_by_hand():
    L = _losses()
    out = DtdWeighting(TARGETS, eps=0.0)(L)
    assert out.extras["w"].tolist() == pytest.approx([0.4, 0.4, 0.2], rel=1e-6)
    assert out.extras["alpha"].tolist() == pytest.approx([40.0, 40.0, 20.0], rel=1e-6)
    # sum alpha w L = 16 * 0.02 + 16 * 0.5 + 4 * 0.001
    assert out.total.item() == pytest.approx(8.324, rel=1e-6)
    out.total.backward()
    # weights come from detached losses: dL/dL_t = alpha_t w_t, nothing more
    assert L.grad.tolist() == pytest.approx([16.0, 16.0, 4.0], rel=1e-6)


def test_alpha_is_fixed_after_the_first_step_while_w_follows_the_losses():
    s = DtdWeighting(TARGETS, eps=0.0)
    s(_losses())
    out = s(_losses((0.01, 0.5, 0.004)))  # d = (1, 2, 4), sum 7
    assert out.extras["alpha"].tolist() == pytest.approx([40.0, 40.0, 20.0], rel=1e-6)
    assert out.extras["w"].tolist() == pytest.approx([1 / 7, 2 / 7, 4 / 7], rel=1e-6)
    # a new stage re-arms alpha from its own first losses and targets
    s.start_stage((0.01, 0.5, 0.004))
    out = s(_losses((0.01, 0.5, 0.004)))
    assert out.extras["alpha"].tolist() == pytest.approx([100 / 3] * 3, rel=1e-6)


def test_uncertainty_eq5_and_its_gradients_by_hand():
    s = UncertaintyWeighting(TARGETS, eps=0.0)
    with torch.no_grad():
        s.log_sigma.copy_(torch.tensor([0.5, -0.25, 0.0]))
    L = _losses()
    out = s(L)
    alpha = [40.0, 40.0, 20.0]
    sig = [0.5, -0.25, 0.0]
    expected = sum(
        a * loss / (2 * math.exp(2 * si)) + si for a, loss, si in zip(alpha, LOSSES, sig)
    )
    assert out.total.item() == pytest.approx(expected, rel=1e-6)
    out.total.backward()
    assert L.grad.tolist() == pytest.approx(
        [a / (2 * math.exp(2 * si)) for a, si in zip(alpha, sig)], rel=1e-6
    )
    # d/ds_t [alpha L exp(-2 s) / 2 + s] = -alpha L exp(-2 s) + 1
    assert s.log_sigma.grad.tolist() == pytest.approx(
        [-a * loss * math.exp(-2 * si) + 1 for a, loss, si in zip(alpha, LOSSES, sig)], rel=1e-5
    )


def test_hybrid_eq6_sigma_gets_gradients_and_w_alpha_do_not():
    s = HybridWeighting(TARGETS, eps=0.0)
    L = _losses()
    out = s(L)
    # s = 0: total = sum alpha w L / 2 = (0.32 + 8 + 0.004) / 2
    assert out.total.item() == pytest.approx(4.162, rel=1e-6)
    out.total.backward()
    assert L.grad.tolist() == pytest.approx([8.0, 8.0, 2.0], rel=1e-6)  # alpha w / 2 only
    assert s.log_sigma.grad.tolist() == pytest.approx(
        [-16 * 0.02 + 1, -16 * 0.5 + 1, -4 * 0.001 + 1], rel=1e-5
    )
    assert not s.alpha.requires_grad and not out.extras["w"].requires_grad
    # the s_t learn at lr x 0.1 without weight decay; log sigma carries no alpha or w
    (group,) = s.param_groups(1e-4)
    assert group["lr"] == pytest.approx(1e-5) and group["weight_decay"] == 0.0
    assert group["params"][0] is s.log_sigma


def test_eps_enters_the_distance_to_target():
    s = DtdWeighting((1.0, 1.0, 1.0), eps=1.0)  # d = L / 2
    out = s(_losses((2.0, 4.0, 2.0)))  # d = (1, 2, 1)
    assert out.extras["w"].tolist() == pytest.approx([0.25, 0.5, 0.25])


def test_dwa_by_hand():
    s = DwaWeighting(TARGETS, temperature=2.0)
    assert s(_losses()).weights.tolist() == [1.0, 1.0, 1.0]
    s.end_epoch(torch.tensor([1.0, 1.0, 1.0]))
    assert s(_losses()).weights.tolist() == [1.0, 1.0, 1.0]  # needs two epochs
    s.end_epoch(torch.tensor([0.5, 1.0, 2.0]))  # r = (0.5, 1, 2)
    e = [math.exp(r / 2) for r in (0.5, 1.0, 2.0)]
    assert s(_losses()).weights.tolist() == pytest.approx([3 * v / sum(e) for v in e], rel=1e-6)


def test_gradnorm_by_hand_on_a_linear_toy():
    # shared layer W (2,), task losses L_t = c_t . W: dL_t/dW = c_t, so G_t = w_t ||c_t||
    W = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    c = torch.tensor([[3.0, 4.0], [0.0, 1.0], [1.0, 0.0]])  # ||c|| = 5, 1, 1

    class Toy(torch.nn.Module):
        last_shared_layer = W

    s = GradNormWeighting(TARGETS, asymmetry=1.0, lr=0.1)
    s.bind(Toy())
    L = c @ W  # (11, 2, 1)
    out = s(L)  # first step: L(0) = L, ratios 1: target = mean(G) = 7/3
    out.total.backward()
    # network part: sum w L with w = 1; gradnorm part: sum |G_t - 7/3|, G = (5, 1, 1)
    assert out.total.item() == pytest.approx(14 + (5 - 7 / 3) + 2 * (7 / 3 - 1), rel=1e-6)
    assert W.grad.tolist() == pytest.approx((c.sum(0)).tolist())  # w detached in the data term
    assert s.task_weights.grad.tolist() == pytest.approx([5.0, -1.0, -1.0])
    with torch.no_grad():
        s.task_weights.copy_(torch.tensor([0.5, 2.0, 1.0]))
    s.after_step()  # renormalised to sum T = 3
    assert s.task_weights.tolist() == pytest.approx([3 * 0.5 / 3.5, 3 * 2 / 3.5, 3 * 1 / 3.5])


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_passes_gradient_to_each_task(name):
    s = make_strategy(name, TARGETS)
    W = torch.nn.Parameter(torch.tensor([1.0, 2.0]))

    class Toy(torch.nn.Module):
        last_shared_layer = W

    s.bind(Toy())
    L = torch.stack([W[0] ** 2, W[1] ** 2, W.sum()]) * 0.01
    out = s(L)
    out.total.backward()
    assert torch.isfinite(out.total) and bool((W.grad != 0).all())
    assert out.weights.shape == (3,) and not out.weights.requires_grad
