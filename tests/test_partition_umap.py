"""The N2D partition of an embedding (UMAP then a Gaussian mixture), with the optional umap-learn."""

import sys

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from skdeepcluster import S3VDCClustering
from skdeepcluster._partition import partition_embedding

# umap-learn is an optional dependency (the "umap" extra, installed by the test extra and .ci/run).
umap = pytest.importorskip("umap", reason="the 'umap' partition needs the optional package umap-learn")


def test_umap_partition_separates_three_blobs_in_a_curved_embedding():
    # Three arcs of a circle in 5-D: k-means of the raw points cuts them, N2D's recipe does not.
    rng = np.random.RandomState(0)
    angles = np.concatenate([rng.uniform(a, a + 1.6, 80) for a in (0.0, 2.1, 4.2)])
    X = np.column_stack([np.cos(angles), np.sin(angles), rng.normal(0, 0.02, (240, 3))])
    labels = partition_embedding(X, 3, "umap", random_state=0)
    assert adjusted_rand_score(np.repeat([0, 1, 2], 80), labels) == 1.0
    np.testing.assert_array_equal(labels, partition_embedding(X, 3, "umap", random_state=0))


def test_umap_partition_falls_back_to_kmeans_on_few_samples():
    X = np.random.RandomState(0).normal(size=(15, 2))
    np.testing.assert_array_equal(partition_embedding(X, 3, "umap", random_state=0),
                                  partition_embedding(X, 3, "kmeans", random_state=0))


def test_umap_partition_with_weights_uses_weighted_kmeans_of_the_projection():
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(0, 0.3, (40, 2)), rng.normal(6, 0.3, (40, 2))])
    weights = rng.randint(1, 5, 80).astype(float)
    labels = partition_embedding(X, 2, "umap", random_state=0, sample_weight=weights)
    assert adjusted_rand_score(np.repeat([0, 1], 40), labels) == 1.0


def test_umap_partition_without_umap_learn_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)  # what an absent package looks like to import
    with pytest.raises(ImportError, match="pip install umap-learn"):
        partition_embedding(np.zeros((50, 2)), 2, "umap")


def test_s3vdc_starts_from_the_umap_partition():
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(center, 0.3, (40, 4)) for center in (0.0, 4.0, 8.0)])
    model = S3VDCClustering(3, latent_dim=2, hidden_dims=(16,), warmup_epochs=3, anneal_epochs=1,
                            static_epochs=1, n_periods=1, init_partition="umap", random_state=0).fit(X)
    assert [entry["partition"] for entry in model.history_ if entry["phase"] == "gmm_init"] == ["umap"]
    # initial_labels_: the prior set from the parts labels the blobs (a 3-epoch warm-up is rough).
    assert adjusted_rand_score(np.repeat([0, 1, 2], 40), model.initial_labels_) > 0.85
