"""LoSTer checks what it can before allocating: the memory a fit needs, and ragged input."""

import time

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

import skdeepcluster.loster._resources as resources
from skdeepcluster import LoSTerClustering
from skdeepcluster.loster._resources import fit_memory_bytes, network_weight_count
from tests._configs import tiny_loster


def test_a_fit_that_cannot_fit_in_memory_is_refused_before_allocating(monkeypatch):
    # Issue 14: 2 series x 10^6 steps ran 89 s and took 14 GB before a raw allocator error.
    monkeypatch.setattr(resources, "available_memory_bytes", lambda device=None: 16 * 2**30)
    model = LoSTerClustering(n_clusters=2)
    X = np.random.RandomState(0).normal(size=(2, 10**6))
    started = time.perf_counter()
    with pytest.raises(MemoryError, match=r"would need about 53.8 GiB on this machine to fit 2 series of 1000000 "
                                          r"timestamps x 1 channel\(s\), but only 16 GiB are available: the network "
                                          r"has 2,053,849,344 weights .*lower hidden_dim"):
        model.fit(X)
    assert time.perf_counter() - started < 10
    with pytest.raises(NotFittedError):  # a failed fit changes nothing
        model.predict(X)


def test_the_estimate_counts_views_network_and_batches():
    model = LoSTerClustering(n_clusters=3, latent_dim=4, hidden_dim=8, n_encoder_blocks=2, n_decoder_blocks=2,
                             batch_size=16)
    parts = fit_memory_bytes(model, 100, 50, 2)
    assert parts["views"] == 100 * 2 * 100 * 4
    assert parts["network"] == 28 * network_weight_count(model, 100)
    assert parts["batches"] == 16 * 100 * 4 * 24
    network = tiny_loster().fit(np.random.RandomState(0).normal(size=(40, 24))).module_
    assert network_weight_count(tiny_loster(), 24) == sum(p.numel() for p in network.parameters())


def test_the_available_memory_is_known_on_linux():
    available = resources.available_memory_bytes()
    assert available is None or available > 0


@pytest.mark.parametrize("method", ["fit", "predict"])
def test_ragged_series_get_a_message_pointing_to_nan_padding(method):
    ragged = [[0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0], [1.0, 0.0, 1.0, 0.0, 1.0]]
    model = LoSTerClustering(n_clusters=2)
    if method == "predict":
        model = tiny_loster().fit(np.random.RandomState(0).normal(size=(40, 4)))
    with pytest.raises(ValueError, match=r"X is an inhomogeneous sequence: its series have different lengths "
                                         r"\(4, 3, 5\). Pad the shorter series with trailing NaN"):
        getattr(model, method)(ragged)
