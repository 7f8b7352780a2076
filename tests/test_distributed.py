"""Scaling out on Dask: GridSearchCV through joblib's Dask backend, and block-wise inference.

Two LocalClusters of 2 workers with 1 thread each: one of worker processes, to which
estimators and trials travel by pickle and whose memory limit is enforced by the nanny (a
worker over it is killed), and one of threads in this process (fast to start) for inference.

Grid searches run on the worker processes: fits running at the same time in threads of one
process share torch's global random generator, so their results depend on the timing of the
threads (the "Scaling out" guide recommends worker processes for this reason).
"""

import pickle
import re

import numpy as np
import pytest
import torch

pytest.importorskip("distributed", reason="the Dask tests need the 'distributed' extra: "
                    "pip install skdeepcluster[distributed]")

import dask
import dask.array as da
import joblib
from distributed import Client, LocalCluster
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV

from skdeepcluster.datasets import make_synthetic_series
from skdeepcluster.distributed import map_blocks_inference
from tests._configs import tiny_loster, tiny_s3vdc

# Process workers: each holds ~400 MB once torch and skdeepcluster are imported and peaks at
# ~500 MB while predicting a 20 MB block. The nanny kills a worker above 95% of the limit.
# Spilling to disk and pausing are off, so the limit is a hard bound on the worker's memory.
WORKER_MEMORY_LIMIT = 700e6
# Set before each worker process starts, so torch reads it at import whatever the test process's
# own environment (an earlier test or CI's shell may leave other values in os.environ).
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
MEMORY_CONFIG = {"distributed.worker.memory.target": False, "distributed.worker.memory.spill": False,
                 "distributed.worker.memory.pause": False, "distributed.worker.memory.terminate": 0.95}


@pytest.fixture(scope="module")
def thread_client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster, set_as_default=False) as client:
        yield client


@pytest.fixture(scope="module")
def process_client():
    with dask.config.set(MEMORY_CONFIG), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit=WORKER_MEMORY_LIMIT,
                         dashboard_address=":0", env=ONE_THREAD) as cluster, \
            Client(cluster, set_as_default=False) as client:
        # Imports once per worker, before the tests: torch, and torch._dynamo (which torch.optim
        # imports at the first fit, 3 s on 2 cores).
        client.run(__import__, "skdeepcluster")
        client.run(__import__, "torch._dynamo")
        yield client


def _score_on_one_thread(estimator, X, y=None):
    """The estimator's own score, after checking the trial ran with one torch thread (no oversubscription)."""
    assert torch.get_num_threads() == 1, f"trial ran with {torch.get_num_threads()} torch threads"
    return estimator.score(X)


def _search(estimator, grid, X, client=None):
    search = GridSearchCV(estimator, grid, scoring=_score_on_one_thread, cv=2, refit=False, error_score="raise",
                          n_jobs=1 if client is None else -1)
    if client is None:
        # The local reference runs in this process, whose thread count other test files may
        # have changed (conftest sets 1); the claim under test is about the workers.
        torch.set_num_threads(1)
        return search.fit(X)
    with joblib.parallel_config(backend="dask", client=client):
        return search.fit(X)


def _assert_same_search(local, remote):
    assert remote.best_params_ == local.best_params_
    assert remote.cv_results_["params"] == local.cv_results_["params"]
    # Bit for bit: every trial trains on one thread, and scores with one thread here and in the workers.
    np.testing.assert_array_equal(remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(remote.cv_results_["split0_test_score"], local.cv_results_["split0_test_score"])


# ---- GridSearchCV on the Dask joblib backend --------------------------------------------------


def test_grid_search_s3vdc_on_worker_processes_matches_local(process_client):
    X, _ = make_blobs(120, 4, centers=3, random_state=0)
    grid = {"n_clusters": [2, 3], "warmup_epochs": [10, 20]}
    local = _search(tiny_s3vdc(), grid, X)
    remote = _search(tiny_s3vdc(), grid, X, process_client)
    _assert_same_search(local, remote)
    # Every trial ran on a worker process, one torch thread each (the scorer asserts it).
    assert len(remote.cv_results_["params"]) == 4


def test_grid_search_loster_on_worker_processes_matches_local(process_client):
    X, _ = make_synthetic_series(n_samples=60, n_timestamps=32, n_clusters=3, random_state=0)
    grid = {"n_clusters": [2, 3], "pretrain_epochs": [5, 10]}
    local = _search(tiny_loster(max_epochs=3), grid, X)
    remote = _search(tiny_loster(max_epochs=3), grid, X, process_client)
    _assert_same_search(local, remote)


# ---- map_blocks_inference ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def fitted_s3vdc():
    X, _ = make_blobs(330, 6, centers=3, random_state=0)
    return tiny_s3vdc(n_clusters=3).fit(X), X


@pytest.fixture(scope="module", params=["2d", "3d"])
def fitted_loster(request):
    n_channels = 1 if request.param == "2d" else 2
    X, _ = make_synthetic_series(n_samples=330, n_timestamps=40, n_channels=n_channels, n_clusters=2,
                                 variable_length=True, random_state=0)
    if request.param == "2d":
        X = X[:, :, 0] if X.ndim == 3 else X
    assert np.isnan(X).any()  # NaN-padded series of different lengths
    return tiny_loster().fit(X), X


def _in_blocks(client, estimator, X_lazy, method):
    result = map_blocks_inference(estimator, X_lazy, method)
    assert result.chunks[0] == X_lazy.chunks[0]
    computed = client.compute(result).result()
    assert computed.shape == result.shape and computed.dtype == result.dtype
    return computed


@pytest.mark.parametrize("method", ["predict", "predict_proba", "transform", "score_samples"])
def test_s3vdc_inference_in_blocks_equals_in_memory(thread_client, fitted_s3vdc, method):
    model, X = fitted_s3vdc
    expected = getattr(model, method)(X)
    # 11 blocks of 32 rows (batch_size: the same batches as in memory), the columns split too.
    computed = _in_blocks(thread_client, model, da.from_array(X, chunks=(32, 4)), method)
    np.testing.assert_array_equal(computed, expected)
    assert computed.dtype == expected.dtype
    # Blocks that split batches: the same values up to float64 rounding.
    computed = _in_blocks(thread_client, model, da.from_array(X, chunks=(33, 6)), method)
    np.testing.assert_allclose(computed, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "transform", "score_samples"])
def test_loster_inference_in_blocks_equals_in_memory(thread_client, fitted_loster, method):
    model, X = fitted_loster
    expected = getattr(model, method)(X)
    chunks = (32, 7) if X.ndim == 2 else (32, 7, 1)  # 11 row blocks; timestamps and channels split too
    computed = _in_blocks(thread_client, model, da.from_array(X, chunks=chunks), method)
    np.testing.assert_array_equal(computed, expected)
    assert computed.dtype == expected.dtype


def test_transform_keeps_float32(thread_client, fitted_s3vdc):
    model, X = fitted_s3vdc
    X32 = X.astype(np.float32)
    result = map_blocks_inference(model, da.from_array(X32, chunks=(32, 6)), "transform")
    assert result.dtype == np.float32
    np.testing.assert_array_equal(thread_client.compute(result).result(), model.transform(X32))


def test_empty_blocks_are_allowed(fitted_s3vdc):
    model, X = fitted_s3vdc
    X_lazy = da.from_array(X[:64], chunks=((32, 0, 32), (6,)))
    labels = map_blocks_inference(model, X_lazy).compute(scheduler="sync")
    np.testing.assert_array_equal(labels, model.predict(X[:64]))
    proba = map_blocks_inference(model, X_lazy, "predict_proba").compute(scheduler="sync")
    assert proba.shape == (64, 3)


def test_the_graph_holds_one_copy_of_the_estimator(fitted_s3vdc):
    model, X = fitted_s3vdc
    model_bytes = len(pickle.dumps(model))
    X_lazy = da.zeros((1000 * 8, X.shape[1]), chunks=(8, X.shape[1]))  # 1000 blocks
    graph = dict(map_blocks_inference(model, X_lazy).__dask_graph__())
    task_bytes = sorted(len(pickle.dumps(task)) for task in graph.values())
    # What the scheduler sends to workers task by task: one node with the model, 2000 small tasks.
    assert task_bytes[-1] >= model_bytes
    assert task_bytes[-2] < min(4000, model_bytes / 3)
    assert len(pickle.dumps(graph)) < model_bytes + 2000 * 4000


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_larger_than_worker_memory(process_client):
    """Labels of 1.6 GB of float32 on workers allowed 700 MB each: the data never exists in one place.

    ``da.random`` creates each 20 MB block on the worker that predicts it; only the labels
    (1.5 MB) come back. The array is 2.3x a worker's limit and 1.1x both limits together;
    benchmarks/bench_dask.py measures an array 11x a worker's limit.
    """
    n_features, rows_per_block, n_blocks = 1024, 4882, 80
    X_small = np.random.RandomState(0).random_sample((200, n_features))
    model = tiny_s3vdc(hidden_dims=(8,), warmup_epochs=5).fit(X_small).set_params(batch_size=rows_per_block)
    X_lazy = da.random.default_rng(0).random((n_blocks * rows_per_block, n_features), dtype=np.float32,
                                             chunks=(rows_per_block, n_features))
    assert X_lazy.nbytes > 2 * WORKER_MEMORY_LIMIT
    labels = process_client.compute(map_blocks_inference(model, X_lazy)).result()
    assert labels.shape == (X_lazy.shape[0],) and labels.dtype == np.int64
    # Same labels as in memory on a slice (the first block, recomputed from the same generator).
    np.testing.assert_array_equal(labels[:rows_per_block], model.predict(X_lazy[:rows_per_block].compute()))
    peak_rss = process_client.run(lambda dask_worker: max(dask_worker.monitor.range_query(start=0)["memory"]))
    assert max(peak_rss.values()) < 0.95 * WORKER_MEMORY_LIMIT  # no worker was killed for memory, or near it


# ---- errors -----------------------------------------------------------------------------------


def test_errors(fitted_s3vdc):
    model, X = fitted_s3vdc
    X_lazy = da.from_array(X, chunks=(32, 6))
    with pytest.raises(TypeError, match=re.escape("dask.array.Array")):
        map_blocks_inference(model, X)
    with pytest.raises(ValueError, match="method must be one of"):
        map_blocks_inference(model, X_lazy, "fit")
    with pytest.raises(ValueError, match="no score_samples"):
        map_blocks_inference(KMeans(2, n_init=1).fit(X), X_lazy, "score_samples")
    with pytest.raises(ValueError, match="2-D"):
        map_blocks_inference(model, X_lazy[:, 0])
    with pytest.raises(NotFittedError):
        map_blocks_inference(tiny_s3vdc(), X_lazy)


def test_missing_dask_says_what_to_install(monkeypatch, fitted_s3vdc):
    model, X = fitted_s3vdc
    monkeypatch.setitem(__import__("sys").modules, "dask", None)
    monkeypatch.setitem(__import__("sys").modules, "dask.array", None)
    with pytest.raises(ImportError, match=r"pip install skdeepcluster\[distributed\]"):
        map_blocks_inference(model, X)
