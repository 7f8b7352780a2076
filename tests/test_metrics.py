import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from skdeepcluster.metrics import clustering_accuracy


def test_permuted_labels_are_perfect():
    assert clustering_accuracy([0, 0, 1, 1, 2, 2], [2, 2, 0, 0, 1, 1]) == 1.0


def test_matches_brute_force_on_random_labels():
    rng = np.random.RandomState(0)
    true, pred = rng.randint(0, 4, 200), rng.randint(0, 5, 200)
    table = np.zeros((4, 5))
    np.add.at(table, (true, pred), 1)
    rows, cols = linear_sum_assignment(-table)
    assert clustering_accuracy(true, pred) == pytest.approx(table[rows, cols].sum() / 200)


def test_more_clusters_than_classes_counts_extras_as_errors():
    assert clustering_accuracy([0, 0, 0, 0], [0, 0, 1, 2]) == 0.5


def test_bad_input():
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        clustering_accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="at least one sample"):
        clustering_accuracy([], [])
