"""The shared initial partition of an embedding."""

import numpy as np
import pytest
from sklearn.datasets import make_circles, make_moons
from sklearn.metrics import adjusted_rand_score

from skdeepcluster._partition import part_statistics, partition_embedding


def test_spectral_follows_a_manifold_that_kmeans_cuts():
    X, y = make_moons(400, noise=0.05, random_state=0)
    spectral = partition_embedding(X, 2, "spectral", random_state=0)
    kmeans = partition_embedding(X, 2, "kmeans", random_state=0)
    assert adjusted_rand_score(y, spectral) > 0.95
    assert adjusted_rand_score(y, kmeans) < 0.6


def test_spectral_is_deterministic_for_a_seed():
    X, _ = make_circles(300, noise=0.05, factor=0.4, random_state=1)
    np.testing.assert_array_equal(partition_embedding(X, 2, "spectral", random_state=3),
                                  partition_embedding(X, 2, "spectral", random_state=3))


@pytest.mark.parametrize("n_samples", [3, 12])
def test_too_few_samples_for_a_graph_falls_back_to_kmeans(n_samples):
    X = np.random.RandomState(0).normal(size=(n_samples, 2))
    labels = partition_embedding(X, 3, "spectral", n_neighbors=10, random_state=0)
    np.testing.assert_array_equal(labels, partition_embedding(X, 3, "kmeans", random_state=0))


def test_more_graph_components_than_parts_falls_back_to_kmeans():
    # Four far-apart tight groups, two parts asked: the 3-NN graph has four components.
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(center, 0.01, (20, 2)) for center in ((0, 0), (100, 0), (0, 100), (100, 100))])
    labels = partition_embedding(X, 2, "spectral", n_neighbors=3, random_state=0)
    assert len(np.unique(labels)) == 2


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="Unknown partition method"):
        partition_embedding(np.zeros((30, 2)), 2, "nonsense")


def test_part_statistics_match_the_members():
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(-5, 1, (30, 3)), rng.normal(5, 2, (70, 3))])
    labels = np.repeat([0, 1], [30, 70])
    weights, means, variances = part_statistics(X, labels, 2)
    np.testing.assert_allclose(weights, [0.3, 0.7])
    np.testing.assert_allclose(means[1], X[30:].mean(axis=0))
    np.testing.assert_allclose(variances[0], X[:30].var(axis=0))


def test_an_empty_part_is_reseeded_at_the_farthest_point():
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(0, 1, (50, 2)), [[40.0, 40.0]]])
    labels = np.zeros(51, dtype=int)  # part 1 empty
    weights, means, variances = part_statistics(X, labels, 2)
    np.testing.assert_allclose(means[1], [40.0, 40.0])
    assert (weights > 0).all() and np.isclose(weights.sum(), 1.0)
    assert (variances > 0).all()


def test_constant_embedding_gets_positive_variances():
    weights, means, variances = part_statistics(np.ones((10, 4)), np.zeros(10, dtype=int), 3)
    assert (variances > 0).all() and np.isfinite(means).all()
