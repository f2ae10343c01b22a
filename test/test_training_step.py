"""The training step's three paths: the compiled step against the eager one on this CPU, and the
CUDA-graph wrapper's bookkeeping (warm-up undone, static input, lr tensors) without a GPU."""

import os
import signal
from pathlib import Path

import pytest
import torch

from dtd_ik.exceptions import ConfigError
from dtd_ik.training.config import load_config
from dtd_ik.training.step import (
    EagerStep,
    StaticInput,
    StepParts,
    TrainingState,
    set_group_lr,
    warm_up,
)
from dtd_ik.training.trainer import Trainer

TINY = Path(__file__).resolve().parent.parent / "config" / "train_tiny.yaml"


def tiny(tmp_path, name, *overrides):
    return load_config(TINY, [f"out_dir={tmp_path / name}", "export=false", *overrides])


def _params(net):
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def _parts(trainer):
    return StepParts(
        trainer.net,
        trainer.model,
        trainer.robot.objective,
        trainer.strategy,
        trainer.optimizer,
        trainer.cfg.optim.grad_clip,
    )


@pytest.mark.slow
def test_compiled_step_trains_like_the_eager_step(tmp_path):
    # 2 epochs of 4 steps, a cosine lr (the schedule writes into the compiled step's lr tensors)
    # and gradient clipping, so every part of the step is exercised
    extra = (
        "epochs=2",
        "data.train_per_epoch=1024",
        "optim.schedule=cosine",
        "optim.final_lr_factor=0.1",
        "optim.grad_clip=1.0",
        "optim.compile_mode=default",
    )
    eager = Trainer(tiny(tmp_path, "eager", *extra))
    eager.run()
    compiled = Trainer(tiny(tmp_path, "compiled", "optim.step=compiled", *extra))
    compiled.run()
    # Tolerance: float32 reordering (inductor fuses and reorders sums, ~1e-7 relative per op).
    # Adam normalises every update to about lr, so after 8 steps at lr <= 3e-3 the weights move
    # <= 0.024 and reordering moves them ~1e-7 (measured 8e-8 after 4 steps); 2e-6 is 20x that
    # while a single step's update (~3e-3) or a different lr would be 1000x over it.
    assert torch.allclose(_params(eager.net), _params(compiled.net), rtol=0, atol=2e-6)
    assert not torch.equal(_params(eager.net), _params(Trainer(tiny(tmp_path, "init")).net))
    assert torch.allclose(eager.strategy.log_sigma, compiled.strategy.log_sigma, atol=2e-6)
    assert torch.allclose(eager.strategy.alpha, compiled.strategy.alpha, rtol=1e-5)
    for a, b in zip(eager.history, compiled.history):
        for key in ("train", "weights"):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-12), key
        assert a["lr"] == pytest.approx(b["lr"], rel=1e-6)
    # the same samples: the epoch draw's generator is untouched by the step
    assert torch.equal(eager.generator.get_state(), compiled.generator.get_state())
    # AdamW's state: step counts and moments
    for pa, pb in zip(eager.net.parameters(), compiled.net.parameters()):
        sa, sb = eager.optimizer.state[pa], compiled.optimizer.state[pb]
        assert float(sa["step"]) == float(sb["step"]) == 8
        assert torch.allclose(sa["exp_avg"], sb["exp_avg"], rtol=1e-3, atol=1e-7)


def _eager_on_cpu(trainer):
    """The trainer's captured-step optimiser (tensor lrs), made runnable eagerly on the CPU:
    torch's eager AdamW is capturable on accelerators only."""
    for group in trainer.optimizer.param_groups:
        group["capturable"] = False
    return trainer


def _batches(trainer, n, seed):
    g = torch.Generator().manual_seed(seed)
    return [trainer.source.draw(256, g).x for _ in range(n)]


def test_warm_up_is_undone_so_training_continues_as_if_it_never_ran(tmp_path):
    # two identical runs set up like a captured step (capturable AdamW, tensor lrs); one first
    # runs 3 warm-up steps on other batches, which also fix alpha and create AdamW's state
    cfg = tiny(tmp_path, "w", "optim.step=compiled")
    plain, warmed = Trainer(cfg), Trainer(cfg)
    assert isinstance(plain.optimizer.param_groups[0]["lr"], torch.Tensor)
    assert plain.optimizer.param_groups[0]["capturable"]
    plain, warmed = _eager_on_cpu(plain), _eager_on_cpu(warmed)
    batches, other = _batches(plain, 4, 1), _batches(plain, 3, 2)
    step_w = EagerStep(_parts(warmed))
    before = _params(warmed.net).clone()
    rng, draw = torch.random.get_rng_state(), warmed.generator.get_state()
    it = iter(other)
    warm_up(
        lambda: step_w(next(it)), TrainingState([warmed.net, warmed.strategy], warmed.optimizer), 3
    )
    # a step draws no random numbers (a graph would replay them frozen): the samples come from
    # the epoch's draw on the trainer's generator, which the step leaves alone
    assert torch.equal(torch.random.get_rng_state(), rng)
    assert torch.equal(warmed.generator.get_state(), draw)
    assert torch.equal(_params(warmed.net), before)
    assert not bool(warmed.strategy.alpha_fixed)
    assert all(float(s["step"]) == 0 for s in warmed.optimizer.state.values())
    step_p = EagerStep(_parts(plain))
    for x in batches:
        va, vb = step_p(x), step_w(x)
        assert torch.equal(va["loss"], vb["loss"])
    assert torch.equal(_params(plain.net), _params(warmed.net))
    assert torch.equal(plain.strategy.alpha, warmed.strategy.alpha)
    for pa, pb in zip(plain.net.parameters(), warmed.net.parameters()):
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(plain.optimizer.state[pa][key], warmed.optimizer.state[pb][key])


def test_warm_up_without_restore_would_differ(tmp_path):
    # the check above can fail: warm-up steps left in place change the run
    cfg = tiny(tmp_path, "w", "optim.step=compiled")
    plain, warmed = _eager_on_cpu(Trainer(cfg)), _eager_on_cpu(Trainer(cfg))
    step_p, step_w = EagerStep(_parts(plain)), EagerStep(_parts(warmed))
    for x in _batches(plain, 1, 2):
        step_w(x)
    for x in _batches(plain, 2, 1):
        step_p(x), step_w(x)
    assert not torch.equal(_params(plain.net), _params(warmed.net))


def test_static_input_copies_each_batch_into_one_buffer():
    static = StaticInput((4, 7), torch.float32, torch.device("cpu"))
    ptr = static.buffer.data_ptr()
    for seed in range(3):
        x = torch.randn(4, 7, generator=torch.Generator().manual_seed(seed))
        out = static.load(x)
        assert out.data_ptr() == ptr and torch.equal(out, x)
        x.zero_()  # the buffer holds a copy, not a view of the caller's batch
        assert not torch.equal(static.buffer, x)
    with pytest.raises(ValueError, match=r"\(4, 7\)"):
        static.load(torch.zeros(5, 7))


def test_set_group_lr_writes_into_a_tensor_lr_in_place():
    t = torch.tensor(1e-3)
    group = {"lr": t}
    set_group_lr(group, 5e-4)
    assert group["lr"] is t and float(t) == pytest.approx(5e-4)
    group = {"lr": 1e-3}
    set_group_lr(group, 5e-4)
    assert group["lr"] == 5e-4


def test_a_compiled_run_resumes_eager_with_float_lrs(tmp_path):
    # a checkpoint written with tensor lrs and a device step count loads into an eager run
    first = Trainer(tiny(tmp_path, "r", "epochs=1", "optim.step=compiled"))
    first.save()
    resumed = Trainer(tiny(tmp_path, "r2", "epochs=1"))
    resumed.resume(tmp_path / "r" / "checkpoint.pt")
    group = resumed.optimizer.param_groups[0]
    assert isinstance(group["lr"], float) and not group["capturable"]
    resumed.run()
    assert resumed.epoch == 1


def test_an_eager_checkpoint_resumes_with_a_captured_steps_optimiser(tmp_path):
    eager = Trainer(tiny(tmp_path, "e", "epochs=1", "export=false"))
    eager.run()
    resumed = Trainer(tiny(tmp_path, "e2", "epochs=2", "optim.step=compiled"))
    resumed.resume(tmp_path / "e" / "checkpoint.pt")
    for group in resumed.optimizer.param_groups:
        assert group["capturable"] and isinstance(group["lr"], torch.Tensor)
        assert float(group["lr"]) == pytest.approx(float(group["initial_lr"]))
        for param in group["params"]:
            step = resumed.optimizer.state[param]["step"]
            assert step.device == param.device and float(step) == 2048 // 256


@pytest.mark.parametrize(
    "overrides, message",
    [
        (("optim.step=cuda_graph",), "needs a CUDA device"),
        (("optim.step=compiled", "weighting.strategy=gradnorm"), "eager step"),
        (("optim.step=graph",), "optim.step"),
    ],
)
def test_step_settings_that_cannot_work_are_refused(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        tiny(tmp_path, "bad", *overrides)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_graph_step_trains_like_the_eager_step(tmp_path):
    extra = ("epochs=2", "data.train_per_epoch=1024", "device=cuda", "optim.schedule=cosine")
    eager = Trainer(tiny(tmp_path, "eager", *extra))
    eager.run()
    graph = Trainer(tiny(tmp_path, "graph", "optim.step=cuda_graph", *extra))
    graph.run()
    assert torch.allclose(_params(eager.net), _params(graph.net), rtol=0, atol=2e-6)
    for a, b in zip(eager.history, graph.history):
        assert a["train"] == pytest.approx(b["train"], rel=1e-5, abs=1e-12)


@pytest.mark.slow
def test_a_compiled_run_resumes_bit_for_bit(tmp_path):
    extra = (
        "epochs=2",
        "data.train_per_epoch=1024",
        "optim.step=compiled",
        "optim.compile_mode=default",
        "optim.schedule=cosine",
    )
    full = Trainer(tiny(tmp_path, "full", *extra))
    full.run()

    def interrupt(epoch, step):
        if (epoch, step) == (1, 1):
            os.kill(os.getpid(), signal.SIGINT)

    cut = Trainer(tiny(tmp_path, "cut", *extra), on_step=interrupt)
    assert cut.run().interrupted
    resumed = Trainer(tiny(tmp_path, "cut", *extra))
    resumed.run(tmp_path / "cut" / "checkpoint.pt")
    assert torch.equal(_params(full.net), _params(resumed.net))
    assert [r["train"] for r in full.history] == [r["train"] for r in resumed.history]
