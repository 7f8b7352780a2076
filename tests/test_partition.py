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
    _weights, means, variances = part_statistics(np.ones((10, 4)), np.zeros(10, dtype=int), 3)
    assert (variances > 0).all() and np.isfinite(means).all()


# ---- sample weights -----------------------------------------------------------------------------

def test_weighted_part_statistics_match_a_hand_computation():
    X = np.array([[0.0, 0.0], [2.0, 4.0], [10.0, 10.0], [12.0, 10.0], [14.0, 16.0]])
    labels = np.array([0, 0, 1, 1, 1])
    weights = np.array([3.0, 1.0, 1.0, 2.0, 1.0])
    pi, means, variances = part_statistics(X, labels, 2, sample_weight=weights)
    np.testing.assert_allclose(pi, [4 / 8, 4 / 8])
    np.testing.assert_allclose(means[0], [(0 * 3 + 2) / 4, (0 * 3 + 4) / 4])  # (0.5, 1)
    np.testing.assert_allclose(means[1], [(10 + 24 + 14) / 4, (10 + 20 + 16) / 4])  # (12, 11.5)
    # population variances of the weighted points: sum w (x - mean)^2 / sum w
    np.testing.assert_allclose(variances[0], [(3 * 0.25 + 2.25) / 4, (3 * 1 + 9) / 4])
    np.testing.assert_allclose(variances[1], [(4 + 0 + 4) / 4, (2.25 + 2 * 2.25 + 20.25) / 4])


def test_weighted_part_statistics_equal_those_of_repeated_points():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 3))
    labels = rng.randint(0, 3, 30)
    counts = rng.randint(1, 5, 30)
    weighted = part_statistics(X, labels, 3, sample_weight=counts)
    repeated = part_statistics(np.repeat(X, counts, axis=0), np.repeat(labels, counts), 3)
    for value, expected in zip(weighted, repeated, strict=True):
        np.testing.assert_allclose(value, expected, rtol=1e-12)


def test_zero_weight_points_are_absent_from_the_part_statistics():
    rng = np.random.RandomState(1)
    X = rng.normal(size=(20, 2))
    labels = rng.randint(0, 2, 20)
    weights = rng.uniform(0.5, 2, 20)
    weights[[3, 7]] = 0.0
    X_moved = X.copy()
    X_moved[[3, 7]] = 1e6  # wherever they are
    kept = weights > 0
    expected = part_statistics(X[kept], labels[kept], 2, sample_weight=weights[kept])
    for value, reference in zip(part_statistics(X_moved, labels, 2, sample_weight=weights), expected, strict=True):
        np.testing.assert_allclose(value, reference, rtol=1e-12)


def test_a_part_with_only_zero_weight_points_is_empty_and_reseeded():
    X = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [30.0, 30.0], [5.0, 5.0]])
    labels = np.array([0, 0, 0, 0, 1])
    weights = np.array([1.0, 1.0, 1.0, 1.0, 0.0])
    pi, means, variances = part_statistics(X, labels, 2, sample_weight=weights)
    np.testing.assert_allclose(means[1], [30.0, 30.0])  # the farthest positive-weight point
    np.testing.assert_allclose(pi, [4 / 5, 1 / 5])  # an empty part weighs one average point
    assert (variances > 0).all()


@pytest.mark.parametrize("method", ["kmeans", "spectral"])
def test_weighted_partition_of_well_separated_groups(method):
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(0, 0.3, (40, 2)), rng.normal(6, 0.3, (40, 2))])
    weights = rng.randint(1, 5, 80).astype(float)
    labels = partition_embedding(X, 2, method, random_state=0, sample_weight=weights)
    assert adjusted_rand_score(np.repeat([0, 1], 40), labels) == 1.0


def test_weighted_kmeans_partition_equals_kmeans_of_repeated_points():
    rng = np.random.RandomState(2)
    X = np.vstack([rng.normal(0, 1, (30, 2)), rng.normal(4, 1, (30, 2))])
    counts = rng.randint(1, 4, 60)
    weighted = partition_embedding(X, 2, "kmeans", random_state=0, sample_weight=counts)
    repeated = partition_embedding(np.repeat(X, counts, axis=0), 2, "kmeans", random_state=0)
    assert adjusted_rand_score(np.repeat(weighted, counts), repeated) == 1.0


@pytest.mark.parametrize("method", ["kmeans", "spectral"])
def test_zero_weight_points_do_not_change_the_partition_of_the_others(method):
    rng = np.random.RandomState(3)
    X = np.vstack([rng.normal(0, 0.3, (40, 2)), rng.normal(5, 0.3, (40, 2))])
    weights = rng.uniform(0.5, 2.0, 80)
    outliers = np.array([[2.5, 2.5], [100.0, -100.0], [-50.0, 3.0]])
    X_with = np.vstack([X, outliers])
    weights_with = np.concatenate([weights, np.zeros(3)])
    with_zeros = partition_embedding(X_with, 2, method, random_state=0, sample_weight=weights_with)
    without = partition_embedding(X, 2, method, random_state=0, sample_weight=weights)
    np.testing.assert_array_equal(with_zeros[:80], without)
    assert set(with_zeros[80:]) <= {0, 1}

