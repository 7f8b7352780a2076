"""Clustering metrics that need a label matching: accuracy with the Hungarian algorithm."""

from __future__ import annotations

from numpy.typing import ArrayLike
from scipy.optimize import linear_sum_assignment
from sklearn.metrics.cluster import contingency_matrix
from sklearn.utils.validation import check_consistent_length, column_or_1d

__all__ = ["clustering_accuracy"]


def clustering_accuracy(labels_true: ArrayLike, labels_pred: ArrayLike) -> float:
    """Accuracy under the best one-to-one matching of clusters to classes.

    The matching maximises the number of samples whose cluster maps to their class (the
    Hungarian algorithm on the contingency table), as in the S3VDC, VaDE and DEC papers.
    Clusters left without a class count as errors.

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,)
        Ground-truth classes.
    labels_pred : array-like of shape (n_samples,)
        Cluster labels.

    Returns
    -------
    accuracy : float
        Fraction of samples correctly assigned, between 0 and 1.

    See Also
    --------
    sklearn.metrics.adjusted_rand_score : Agreement of two partitions, corrected for chance.
    sklearn.metrics.normalized_mutual_info_score : Shared information of two partitions.

    Notes
    -----
    Unlike the adjusted Rand index and NMI, the accuracy needs the one-to-one matching, and
    it is the figure the S3VDC paper reports (Cao et al., 2020, Table 3).

    Examples
    --------
    >>> from skdeepcluster.metrics import clustering_accuracy
    >>> clustering_accuracy([0, 0, 1, 1, 2], [1, 1, 0, 0, 0])
    0.8
    """
    labels_true = column_or_1d(labels_true)
    labels_pred = column_or_1d(labels_pred)
    check_consistent_length(labels_true, labels_pred)
    if labels_true.size == 0:
        raise ValueError("clustering_accuracy needs at least one sample.")
    table = contingency_matrix(labels_true, labels_pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / labels_true.size)
