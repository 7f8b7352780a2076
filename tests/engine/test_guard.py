"""The engine's numerical guard, unit-tested on a TrainingLoop over a linear model: non-finite steps
skipped, the last good weights restored, TrainingDivergedError after max_restores, and a Ctrl-C at
the loop level. tests/test_training_safety.py checks the same through the estimators."""

import numpy as np
import pytest
import torch

from skdeepcluster._engine import BatchStream, TrainingDivergedError, TrainingLoop


def _linear_loop(history, patience=3, max_restores=2, steps_per_epoch=4):
    torch.manual_seed(0)
    X = np.random.RandomState(0).normal(size=(16 * steps_per_epoch, 3)).astype(np.float32)
    module = torch.nn.Linear(3, 1)
    optimizer = torch.optim.Adam(module.parameters(), lr=0.05)
    stream = BatchStream(X, 16, np.random.RandomState(0), torch.device("cpu"))
    loop = TrainingLoop(module, optimizer, stream, lambda step: 0.05, total_steps=100, history=history,
                        patience=patience, max_restores=max_restores)
    return module, loop


def _loss_failing_at(module, bad_steps, kind="loss"):
    def loss_fn(batch, step):
        output = module(batch)
        if step in bad_steps:
            # kind "loss": a NaN loss; otherwise a finite loss whose gradient is infinite: d sqrt(x)/dx at x = 0
            output = output * float("nan") if kind == "loss" else torch.sqrt(output * 0.0)
        loss = (output**2).mean()
        return loss, {"loss": loss}

    return loss_fn


@pytest.mark.parametrize("kind", ["loss", "gradient"])
def test_isolated_nonfinite_steps_are_skipped_without_restore(kind):
    history = []
    module, loop = _linear_loop(history)
    with pytest.warns(RuntimeWarning, match="2 training step"):
        loop.run(8, _loss_failing_at(module, {1, 2}, kind), phase="a")
    assert loop.nonfinite_steps == 2 and loop.restores == 0
    assert sum(entry["nonfinite_steps"] for entry in history) == 2
    assert all(torch.isfinite(p).all() for p in module.parameters())


def test_consecutive_nonfinite_steps_restore_the_last_good_weights_and_halve_the_rate():
    history = []
    module, loop = _linear_loop(history, patience=3)
    loop.run(4, _loss_failing_at(module, set()), phase="a")  # one good epoch: the weights to go back to
    good = [p.detach().clone() for p in module.parameters()]
    loop.optimizer.step = _counting(loop.optimizer.step)
    with pytest.warns(RuntimeWarning, match="restored the last good weights"):
        loop.run(3, _loss_failing_at(module, {4, 5, 6}), phase="b")
    assert loop.restores == 1 and loop.learning_rate_scale == 0.5
    assert all(torch.equal(a, b) for a, b in zip(good, module.parameters(), strict=True))
    events = [entry for entry in history if entry.get("event") == "restored"]
    assert len(events) == 1 and events[0]["phase"] == "b" and events[0]["learning_rate_scale"] == 0.5
    loop.run(4, _loss_failing_at(module, set()), phase="c")
    assert history[-1]["learning_rate"] == pytest.approx(0.025)  # training goes on at half the rate


def _counting(function):
    def wrapped(*args, **kwargs):
        wrapped.calls += 1
        return function(*args, **kwargs)

    wrapped.calls = 0
    return wrapped


def test_weights_that_overflow_are_restored_at_the_epoch_end():
    history = []
    module, loop = _linear_loop(history)
    loop.run(4, _loss_failing_at(module, set()), phase="a")
    good = [p.detach().clone() for p in module.parameters()]

    def overflowing(batch, step):
        loss = (module(batch) ** 2).mean()
        if step == 5:
            with torch.no_grad():
                module.weight.fill_(float("inf"))  # what a far too large step does
        return loss, {"loss": loss}

    with pytest.warns(RuntimeWarning, match="non-finite weights"):
        loop.run(4, overflowing, phase="b")
    # Back to the weights saved when the phase began, the last ones known to be finite.
    assert loop.restores == 1
    assert all(torch.equal(a, b) for a, b in zip(good, module.parameters(), strict=True))


def test_persistent_divergence_raises_a_value_error():
    module, loop = _linear_loop([], patience=2, max_restores=2)
    with pytest.warns(RuntimeWarning), pytest.raises(TrainingDivergedError, match="Scale the data"):
        loop.run(40, _loss_failing_at(module, set(range(100))), phase="a")
    assert issubclass(TrainingDivergedError, ValueError) and issubclass(TrainingDivergedError, FloatingPointError)


def test_keyboard_interrupt_stops_the_loop_cleanly():
    history = []
    module, loop = _linear_loop(history)

    def interrupted(batch, step):
        if step == 6:
            raise KeyboardInterrupt
        loss = (module(batch) ** 2).mean()
        return loss, {"loss": loss}

    assert loop.run(10, interrupted, phase="a") == 6
    assert loop.interrupted and loop.step == 6
    assert history[-1] == {"epoch": 1.5, "phase": "a", "event": "interrupted", "step": 6}
    assert loop.run(5, interrupted, phase="b") == 0  # later phases do nothing
    assert all(torch.isfinite(p).all() for p in module.parameters())
