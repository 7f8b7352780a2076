"""The algorithm-agnostic engine: devices, seeding, batching, loop, inference."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal

from skdeepcluster._engine import (
    BatchStream,
    TrainingLoop,
    derive_seed,
    map_batches,
    resolve_device,
    seeded_torch,
)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="expected 'auto'"):
        resolve_device("gpu0")
    with pytest.raises(ValueError, match="not supported"):
        resolve_device("meta")
    with pytest.raises(TypeError, match="must be a string"):
        resolve_device(0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_resolve_cuda_without_cuda():
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda:0")


def test_derive_seed_is_reproducible():
    assert derive_seed(3) == derive_seed(3)
    assert derive_seed(np.random.RandomState(3)) == derive_seed(3)
    assert 0 <= derive_seed(None) < np.iinfo(np.int32).max


def test_seeded_torch_reproducible_and_leaves_global_state():
    before = torch.random.get_rng_state()
    with seeded_torch(5, torch.device("cpu")):
        first = torch.randn(3)
    with seeded_torch(5, torch.device("cpu")):
        second = torch.randn(3)
    assert torch.equal(first, second)
    assert torch.equal(before, torch.random.get_rng_state())


@pytest.mark.parametrize("n_samples, batch_size, drop_last, steps", [(10, 3, False, 4), (10, 3, True, 3),
                                                                     (9, 3, False, 3), (2, 8, False, 1)])
def test_batch_stream_visits_every_sample_once_per_epoch(n_samples, batch_size, drop_last, steps):
    X = np.arange(n_samples, dtype=np.float64).reshape(-1, 1)
    stream = BatchStream(X, batch_size, np.random.RandomState(0), torch.device("cpu"), drop_last=drop_last)
    assert stream.steps_per_epoch == steps
    for _ in range(2):  # two epochs, two different permutations
        seen = np.concatenate([stream.next_indices() for _ in range(steps)])
        expected = steps * min(batch_size, n_samples) if drop_last else n_samples
        assert len(seen) == expected and len(set(seen)) == expected
    batch = stream.next_batch()
    assert batch.dtype == torch.float32 and batch.shape[1] == 1


def test_batch_stream_reads_readonly_memmap(tmp_path):
    path = tmp_path / "x.dat"
    data = np.memmap(path, dtype=np.float64, mode="w+", shape=(7, 2))
    data[:] = np.arange(14).reshape(7, 2)
    data.flush()
    readonly = np.memmap(path, dtype=np.float64, mode="r", shape=(7, 2))
    stream = BatchStream(readonly, 7, np.random.RandomState(0), torch.device("cpu"))
    assert_array_equal(stream.next_batch().numpy(), np.arange(14).reshape(7, 2))


def test_map_batches_matches_one_pass_and_returns_tuples():
    X = np.random.RandomState(0).normal(size=(23, 4))
    weights = torch.randn(4, 2, dtype=torch.float64)
    single = map_batches(lambda b: b @ weights, X, 5, torch.device("cpu"))
    assert_allclose(single, X @ weights.numpy())
    first, second = map_batches(lambda b: (b.sum(1), b * 2), X, 7, torch.device("cpu"))
    assert_allclose(first, X.sum(1))
    assert_allclose(second, 2 * X)


def test_map_batches_prepares_each_batch_and_fills_preallocated_outputs():
    X = np.arange(23 * 3, dtype=np.float32).reshape(23, 3)
    seen = []

    def prepare(data, rows):
        seen.append((rows.start, rows.stop))
        return data[rows] * 2

    doubled = map_batches(lambda b: b, X, 10, torch.device("cpu"), prepare=prepare)
    assert seen == [(0, 10), (10, 20), (20, 23)]
    assert doubled.dtype == np.float64 and doubled.flags.c_contiguous
    assert_array_equal(doubled, 2 * X)
    assert map_batches(lambda b: b.sum(1).long(), X, 4, torch.device("cpu")).dtype == np.int64


def _linear_problem():
    X = np.random.RandomState(0).normal(size=(64, 3))
    module = torch.nn.Linear(3, 1)
    target = torch.tensor([1.0, -2.0, 0.5])
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    stream = BatchStream(X, 16, np.random.RandomState(0), torch.device("cpu"))
    return module, target, optimizer, stream


def test_training_loop_learns_and_records_history():
    module, target, optimizer, stream = _linear_problem()

    def loss_fn(batch, step):
        loss = ((module(batch).squeeze(1) - batch @ target) ** 2).mean()
        return loss, {"loss": loss}

    history = []
    loop = TrainingLoop(module, optimizer, stream, lambda step: 0.1, total_steps=40, history=history)
    loop.run(30, loss_fn, phase="a")
    loop.run(10, loss_fn, phase="b")
    loop.close()
    assert [entry["phase"] for entry in history] == ["a"] * 8 + ["b"] * 3
    assert history[7]["steps"] == 2 and history[8]["steps"] == 2  # phase ends split an epoch
    assert history[-1]["loss"] < 1e-3 * history[0]["loss"]
    assert_allclose(module.weight.detach().numpy().ravel(), target.numpy(), atol=1e-2)


def test_set_steps_per_epoch_counts_longer_epochs_from_the_current_step():
    # 4 batches per pass: 6 steps of 4-step epochs, then 10-step epochs from step 6 on (epoch 1.5).
    module, target, optimizer, stream = _linear_problem()

    def loss_fn(batch, step):
        loss = ((module(batch).squeeze(1) - batch @ target) ** 2).mean()
        return loss, {"loss": loss}

    history = []
    loop = TrainingLoop(module, optimizer, stream, lambda step: 0.1, total_steps=26, history=history)
    loop.run(6, loss_fn, phase="a")
    loop.set_steps_per_epoch(10)
    loop.run(10, loss_fn, phase="b")
    loop.run(10, loss_fn, phase="b")
    assert [(entry["phase"], entry["steps"], entry["epoch"]) for entry in history] == [
        ("a", 4, 1.0), ("a", 2, 1.5), ("b", 10, 2.5), ("b", 10, 3.5)]
    loop.set_steps_per_epoch(5, epoch=7)
    loop.run(5, loss_fn, phase="c")
    assert history[-1]["epoch"] == 8.0 and history[-1]["steps"] == 5 and len(history) == 5


def test_progress_follows_a_change_of_epoch_length(capsys):
    module, target, optimizer, stream = _linear_problem()

    def loss_fn(batch, step):
        loss = ((module(batch).squeeze(1) - batch @ target) ** 2).mean()
        return loss, {"loss": loss}

    loop = TrainingLoop(module, optimizer, stream, lambda step: 0.1, total_steps=26, verbose=1, description="fit")
    loop.run(6, loss_fn, phase="a")
    loop.set_steps_per_epoch(10)
    loop.run(20, loss_fn, phase="b")
    loop.close()
    lines = capsys.readouterr().err.splitlines()  # not a terminal: plain lines
    assert lines[0].startswith("fit: 6.5 epochs planned")  # 26 steps of 4-step epochs
    assert lines[-1].startswith("fit: done at epoch 3.5 of 3.5")  # 6 steps of 4, then 20 of 10


def test_training_loop_skips_nonfinite_steps_without_touching_weights():
    module, _target, optimizer, stream = _linear_problem()
    before = [p.detach().clone() for p in module.parameters()]

    def bad_loss(batch, step):
        loss = module(batch).sum() * float("nan")
        return loss, {"loss": loss}

    history = []
    loop = TrainingLoop(module, optimizer, stream, lambda step: 0.1, total_steps=4, history=history)
    with pytest.warns(RuntimeWarning, match="4 training step"):
        loop.run(4, bad_loss, phase="a")
    assert all(torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))
    assert history[0]["nonfinite_steps"] == 4 and loop.nonfinite_steps == 4
