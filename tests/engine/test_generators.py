"""seeded_torch: the block's own generators, per thread, and torch's global ones untouched."""

import threading

import pytest
import torch
from torch import nn

from skdeepcluster._engine import explicit_draws_only, rand_like, randn_like, seeded_torch, torch_generator


def test_draws_in_a_seeded_block_are_those_of_a_seeded_global_generator_without_changing_it():
    state = torch.random.get_rng_state()
    with seeded_torch(11, "cpu"):
        layer = nn.Linear(4, 3)  # reset_parameters draws without a generator argument
        values = [torch.randn(2), torch.rand_like(torch.zeros(3)), randn_like(torch.zeros(2, dtype=torch.float64)),
                  rand_like(torch.zeros(2)), torch.empty(3).exponential_(), nn.init.xavier_uniform_(torch.empty(2, 2))]
    assert torch.equal(torch.random.get_rng_state(), state)
    torch.manual_seed(11)
    expected_layer = nn.Linear(4, 3)
    expected = [torch.randn(2), torch.rand(3), torch.randn(2, dtype=torch.float64), torch.rand(2),
                torch.empty(3).exponential_(), nn.init.xavier_uniform_(torch.empty(2, 2))]
    torch.random.set_rng_state(state)
    assert torch.equal(layer.weight, expected_layer.weight) and torch.equal(layer.bias, expected_layer.bias)
    for value, reference in zip(values, expected, strict=True):
        assert torch.equal(value, reference)


def test_each_thread_has_its_own_generators():
    results = {}

    def draw(name, seed):
        with seeded_torch(seed, "cpu"):
            results[name] = [float(torch.rand(1)) for _ in range(200)]

    threads = [threading.Thread(target=draw, args=(name, seed)) for name, seed in (("a", 1), ("b", 1), ("c", 2))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results["a"] == results["b"] != results["c"]
    assert torch_generator("cpu") is None  # outside a block: torch's global generator


def test_functions_that_can_only_draw_globally_are_refused_in_a_seeded_block():
    x = torch.ones(8)
    with seeded_torch(0, "cpu"):
        with pytest.raises(RuntimeError, match="dropout draws from torch's global random generator"):
            nn.functional.dropout(x, 0.5, training=True)
        assert torch.equal(nn.functional.dropout(x, 0.5, training=False), x)  # draws nothing
        assert torch.equal(nn.functional.dropout(x, 0.0), x)
        with pytest.raises(RuntimeError, match="gumbel_softmax draws from torch's global"):
            nn.functional.gumbel_softmax(x.log(), hard=True)


def test_training_steps_run_without_interception_and_draw_explicitly():
    with seeded_torch(3, "cpu"):
        with explicit_draws_only():
            assert not torch.overrides._get_current_function_mode_stack()
            explicit = randn_like(torch.zeros(5))
        intercepted = torch.randn(5)
    torch.manual_seed(3)
    reference = torch.randn(10)
    assert torch.equal(torch.cat([explicit, intercepted]), reference)
