"""Determinism on the CPU: one int ``random_state`` and a fixed ``n_jobs``, one result, whatever the process
or the caller's thread count.

The configurations are chosen so that thread counts would show: 5 features (the weight
gradient of the 5-wide output layer is a GEMM whose MKL result depends on how many threads
split it), ``latent_dim=10`` for LoSTer (likewise), and 600 samples for the internal
k-means (scikit-learn's k-means sums its chunks of 256 samples per thread).
"""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from numpy.testing import assert_array_equal

from tests._configs import ESTIMATORS, LOSTER, S3VDC, parametrize_estimators

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _data():
    rng = np.random.RandomState(0)
    blobs = np.vstack([rng.normal(center, 1.0, size=(200, 5)) for center in (-3.0, 0.0, 3.0)])
    t = np.linspace(0.0, 1.0, 50)
    series = np.sin(2 * np.pi * np.outer(2 + 3 * (np.arange(600) % 3), t)) + 0.3 * rng.normal(size=(600, 50))
    return blobs, series


# What is specific to this file: configurations where thread counts would show (see above), and a
# fixed n_jobs: the default (None) follows the caller's thread count, which differs here.
OVERRIDES = {S3VDC.name: dict(n_clusters=3, gmm_init_samples=600, n_jobs=1),
             LOSTER.name: dict(n_clusters=3, latent_dim=10, n_jobs=1)}


def _data_for(name):
    """This file's data for the estimator ``name``: the blobs for S3VDC, the series for LoSTer."""
    blobs, series = _data()
    return {S3VDC.name: blobs, LOSTER.name: series}[name]


def _estimators():
    return {config.name: config.make(**OVERRIDES[config.name]) for config in ESTIMATORS}


def _fit_all():
    results = {}
    for name, model in _estimators().items():
        X = _data_for(name)
        model.fit(X)
        results[name] = {"labels_": model.labels_, "cluster_centers_": model.cluster_centers_,
                         "predict": model.predict(X)}
    return results


def _digests(results):
    return {name: {key: hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
                   for key, value in arrays.items()} for name, arrays in results.items()}


_CHILD = """
import json, sys, warnings
warnings.simplefilter("ignore")
import torch
torch.set_num_threads(int(sys.argv[1]))
sys.path.insert(0, sys.argv[2])
from tests.test_determinism import _digests, _fit_all
print(json.dumps({"threads": torch.get_num_threads(), "digests": _digests(_fit_all())}))
"""


def _run_children(thread_counts):
    children = [subprocess.Popen([sys.executable, "-c", _CHILD, str(threads), REPO], cwd=REPO,
                                 env={**os.environ, "OMP_NUM_THREADS": str(threads)},
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for threads in thread_counts]
    reports = []
    for child in children:
        stdout, stderr = child.communicate(timeout=180)
        assert child.returncode == 0, stderr[-4000:]
        reports.append(json.loads(stdout.strip().splitlines()[-1]))
    return reports


@pytest.fixture(scope="module")
def in_process():
    return _fit_all()


@pytest.fixture(scope="module")
def children():
    # One process per thread count, run side by side (one per core).
    return _run_children([1, 2])


def test_two_fits_in_one_process_are_identical(in_process):
    again = _fit_all()
    for name, arrays in in_process.items():
        for key, value in arrays.items():
            assert_array_equal(again[name][key], value, err_msg=f"{name}.{key}")


def test_two_processes_give_identical_results(in_process, children):
    one_thread = next(report for report in children if report["threads"] == 1)
    assert one_thread["digests"] == _digests(in_process)


def test_thread_counts_give_identical_results(children):
    assert [report["threads"] for report in children] == [1, 2]
    assert children[0]["digests"] == children[1]["digests"]


@parametrize_estimators()
def test_fit_leaves_global_random_state_and_thread_count_alone(config):
    make = config.make
    X = _data_for(config.name)
    np.random.seed(123)
    torch.manual_seed(123)
    numpy_state, torch_state = np.random.get_state(), torch.random.get_rng_state()
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # fit trains on n_jobs threads and restores the caller's count
    try:
        model = make(n_jobs=1).fit(X[::3])
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    model.predict(X[::3])
    after = np.random.get_state()
    assert all(np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b
               for a, b in zip(numpy_state, after, strict=True))
    assert torch.equal(torch.random.get_rng_state(), torch_state)


@parametrize_estimators()
def test_n_jobs_trains_on_more_threads_and_restores_the_count(config, monkeypatch):
    from skdeepcluster._engine import _random

    seen = []
    original = _random.cpu_threads

    def recording(n_threads=1):
        seen.append(n_threads)
        return original(n_threads)

    monkeypatch.setattr(_random, "cpu_threads", recording)
    make = config.make
    X = _data_for(config.name)[::4]
    before = torch.get_num_threads()
    model = make(n_jobs=2).fit(X)
    assert seen == [2] and torch.get_num_threads() == before
    assert model.predict(X).shape == (len(X),)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # n_jobs=None trains on the caller's torch thread count
    try:
        make(n_jobs=None).fit(X)
    finally:
        torch.set_num_threads(threads)
    assert seen == [2, 1]
    with pytest.raises(ValueError, match="n_jobs=0"):
        make(n_jobs=0).fit(X)
