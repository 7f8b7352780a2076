"""Data-parallel training over torch.distributed: the helpers, and real 2-process fits under torchrun.

The launch (tests/_ddp_child.py under ``torch.distributed.run --nproc_per_node=2``, gloo on the
CPU) runs every fit once and takes about 15 s on an idle 2-core machine, most of it starting
torch in three processes.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from skdeepcluster._engine import SINGLE_PROCESS, BatchStream, DataParallel, resolve_distributed
from tests import _ddp_child
from tests._configs import S3VDC, parametrize_estimators

CHILD = Path(__file__).with_name("_ddp_child.py")
LAUNCH_VARIABLES = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


# ---- helpers, in one process ---------------------------------------------------------------------


def test_single_process_helpers_are_the_identity():
    group = SINGLE_PROCESS
    assert not group.enabled and (group.rank, group.world_size) == (0, 1)
    assert group.shard(7) == slice(0, 7)
    indices = np.array([3, 5, 9])
    local, weight = group.shard_batch(indices)
    assert local.tolist() == indices.tolist() and weight == 1.0
    array = np.arange(6.0).reshape(3, 2)
    assert group.broadcast_array(array) is array
    assert group.sum(4) == 4
    assert group.broadcast_int(17) == 17
    group.check_same_data(array)  # nothing to compare with
    assert group.map_shard(lambda rows: array[rows] * 2, 3).tolist() == (array * 2).tolist()
    module = torch.nn.Linear(2, 2)
    before = [p.detach().clone() for p in module.parameters()]
    group.broadcast_module(module)
    group.reseed_torch(0, "cpu")  # no change of the caller's noise stream
    assert all(torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))


@pytest.mark.parametrize("n_items", [0, 1, 2, 5, 7, 128])
@pytest.mark.parametrize("world_size", [2, 3, 4])
def test_shares_cover_the_rows_in_order(n_items, world_size):
    groups = [DataParallel(rank, world_size) for rank in range(world_size)]
    shares = [np.arange(n_items)[group.shard(n_items)] for group in groups]
    assert np.concatenate(shares).tolist() == list(range(n_items))
    assert max(map(len, shares)) - min(map(len, shares)) <= 1


def test_finiteness_check_of_the_reduced_gradients():
    from skdeepcluster._engine._distributed import _finite

    assert _finite(torch.tensor([1.0, -2.0, 3e38, 3e38]))  # the sum overflows, the entries are finite
    assert not _finite(torch.tensor([1.0, float("nan")]))
    assert not _finite(torch.tensor([float("inf"), 1.0]))


def test_shard_batch_weights_sum_to_one_and_never_leave_a_rank_empty():
    batch = np.array([2, 4, 8])
    parts = [DataParallel(rank, 4).shard_batch(batch) for rank in range(4)]
    assert [local.tolist() for local, _ in parts] == [[2], [4], [8], [2]]
    assert [weight for _, weight in parts] == [1 / 3, 1 / 3, 1 / 3, 0.0]


def test_sharded_batch_stream_splits_the_single_process_batches():
    X = np.arange(50, dtype=np.float32).reshape(25, 2)
    single = BatchStream(X, 8, np.random.RandomState(0), torch.device("cpu"))
    ranks = [BatchStream(X, 8, np.random.RandomState(0), torch.device("cpu"), group=DataParallel(rank, 2))
             for rank in range(2)]
    for _ in range(2 * single.steps_per_epoch):
        whole = single.next_batch()
        parts = [stream.next_batch() for stream in ranks]
        weights = [stream.weight for stream in ranks]
        if weights[1] == 0.0:  # the last batch of the epoch has 1 row: rank 1 reads it with weight 0
            assert torch.equal(parts[0], whole) and weights[0] == 1.0
        else:
            assert torch.equal(torch.cat(parts), whole)
            assert sum(weights) == pytest.approx(1.0)
    assert ranks[0].steps_per_epoch == single.steps_per_epoch == 4


@pytest.fixture
def no_launch(monkeypatch):
    for name in LAUNCH_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_resolve_distributed_outside_a_launch(no_launch):
    assert resolve_distributed("auto", "cpu") == (SINGLE_PROCESS, torch.device("cpu"))
    assert resolve_distributed(False, "cpu") == (SINGLE_PROCESS, torch.device("cpu"))
    with pytest.raises(ValueError, match=re.escape("distributed=True needs a torch.distributed launch")):
        resolve_distributed(True, "cpu")


def test_one_process_launch_is_not_distributed(monkeypatch):
    for name, value in {"WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0", "MASTER_ADDR": "localhost",
                        "MASTER_PORT": "29500"}.items():
        monkeypatch.setenv(name, value)
    assert resolve_distributed(True, "cpu")[0] is SINGLE_PROCESS
    assert resolve_distributed("auto", "cpu")[0] is SINGLE_PROCESS


@parametrize_estimators()
def test_distributed_true_outside_a_launch_raises_and_changes_nothing(config, no_launch):
    model = _ddp_child.make(config, distributed=True)
    with pytest.raises(ValueError, match="torchrun"):
        model.fit(_ddp_child.DATA[config.key]()[0])
    assert not hasattr(model, "labels_")


# ---- a real launch: 2 processes, gloo ------------------------------------------------------------


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    env = {name: value for name, value in os.environ.items() if name not in LAUNCH_VARIABLES}
    env.update(OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    completed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(CHILD), str(out)],
        env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return [json.loads(Path(out, f"rank{rank}.json").read_text()) for rank in range(2)]


@parametrize_estimators()
def test_ranks_end_with_the_same_fitted_model(ranks, config):
    name = config.key  # the key of its reports
    first, second = (rank[name] for rank in ranks)
    assert first["weights"] == second["weights"]
    assert first["labels"] == second["labels"]
    assert first["predict_equals_labels"] and second["predict_equals_labels"]
    # Losses are reduced over the ranks: the history is the same too.
    assert ranks[0][name + "_history_losses"] == ranks[1][name + "_history_losses"]


@parametrize_estimators()
def test_a_weighted_fit_ends_the_same_on_every_rank(ranks, config):
    name = config.key  # the key of its reports
    # Each rank weights its share of a batch by the data set's mean weight, so the averaged
    # gradient is the weighted one; rows of weight 0 are out of every rank's batches.
    first, second = (rank[name + "_weighted"] for rank in ranks)
    assert first["weights"] == second["weights"] and first["labels"] == second["labels"]
    assert first["predict_equals_labels"] and first["ari"] > 0.9


@parametrize_estimators()
def test_distributed_quality_equals_single_process(ranks, config):
    name = config.key  # the key of its reports
    distributed, single = ranks[0][name], ranks[0][name + "_single"]
    assert len(distributed["labels"]) == len(single["labels"])
    assert distributed["ari"] > 0.9 and single["ari"] > 0.9
    assert abs(distributed["ari"] - single["ari"]) < 0.1
    # Same schedule: S3VDC runs exactly as many steps; LoSTer's stopping rule may end it sooner or later.
    if config is S3VDC:
        assert distributed["steps"] == single["steps"]
    # Not the same computation: the ranks drew their own noise on half-batches.
    assert distributed["weights"] != single["weights"]


@parametrize_estimators()
def test_distributed_false_in_a_launch_fits_each_rank_alone(ranks, config):
    name = config.key  # the key of its reports
    # Each rank ran the single-process fit: the same as here, with no launch at all.
    assert ranks[0][name + "_single"]["weights"] == ranks[1][name + "_single"]["weights"]
    X, _ = _ddp_child.DATA[name]()
    here = _ddp_child.make(config, distributed=False).fit(X)
    assert adjusted_rand_score(here.labels_, ranks[0][name + "_single"]["labels"]) == 1.0


def test_a_nan_on_one_rank_skips_the_step_on_every_rank(ranks):
    first, second = (rank["nan_step"] for rank in ranks)
    assert first["world_size"] == 2
    assert first["nonfinite_steps"] == second["nonfinite_steps"] == 1
    assert first["weights"] == second["weights"]
    assert first["losses"] == second["losses"] and np.isfinite(first["losses"]).all()


def test_random_state_none_uses_rank_0s_seed(ranks):
    assert ranks[0]["seed_none_weights"] == ranks[1]["seed_none_weights"]


def test_different_data_on_the_ranks_is_refused_on_every_rank(ranks):
    for rank in ranks:
        assert "every process must call fit with the same x" in rank["different_data_error"].lower()
