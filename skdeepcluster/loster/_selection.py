"""Choosing the number of clusters of LoSTer without labels: a silhouette scorer for GridSearchCV."""

import numpy as np
from sklearn.metrics import silhouette_score
from sklearn.utils.validation import check_is_fitted

SPACES = ("series", "embedding")


def silhouette_scorer(estimator, X, y=None, *, space="series", sample_size=2000, random_state=0):
    """Silhouette of a fitted LoSTerClustering's partition of ``X``, for choosing ``n_clusters``.

    A scorer with scikit-learn's ``scorer(estimator, X, y)`` signature: pass it as
    ``GridSearchCV(..., scoring=silhouette_scorer)`` to pick the number of clusters without
    labels, or call it on fitted candidates. ``LoSTerClustering.score`` (the negative k-means
    objective) rises with k and cannot choose it.

    Parameters
    ----------
    estimator : LoSTerClustering
        Fitted.
    X : array-like of shape (n_samples, n_timestamps) or (n_samples, n_timestamps, n_channels)
        Series to score (held-out ones in a cross-validation), at least 3.
    y : Ignored
        Not used, present for the scorer signature.
    space : {"series", "embedding"}, default="series"
        Where distances are measured. ``"series"``: the series as the network reads them
        (normalised as the estimator does, flattened), one space shared by every candidate, so
        that scores of different k (and seeds) compare. ``"embedding"``: each candidate's own
        embedding (``transform``), whose geometry differs from fit to fit.
    sample_size : int or None, default=2000
        Series the silhouette is computed on (a seeded random subset; its cost is quadratic).
        ``None`` uses all.
    random_state : int, default=0
        Seed of that subset.

    Returns
    -------
    score : float
        Mean silhouette coefficient in [-1, 1], higher is better; -1 when ``predict`` puts
        all series into one cluster (a silhouette needs two).

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skdeepcluster import LoSTerClustering
    >>> from skdeepcluster.loster import silhouette_scorer
    >>> search = GridSearchCV(LoSTerClustering(random_state=0), {"n_clusters": [2, 3, 4, 5]},
    ...                       scoring=silhouette_scorer, cv=3)  # doctest: +SKIP
    """
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}; got {space!r}.")
    check_is_fitted(estimator)
    labels = estimator.predict(X)
    if len(labels) < 3:
        raise ValueError(f"The silhouette needs at least 3 series; got {len(labels)}.")
    if len(np.unique(labels)) < 2:
        return -1.0
    if space == "embedding":
        points = estimator.transform(X)
    else:
        _, series = estimator._validate_inference_series(X)
        # Padding of variable_length="mask" reads as 0, as the network reads it.
        points = np.nan_to_num(estimator._prepared_rows(series, slice(0, series.shape[0]),
                                                        channel_stats=estimator._channel_stats), nan=0.0)
    n_samples = points.shape[0]
    if len(np.unique(labels)) >= n_samples:
        return -1.0
    if sample_size is not None and sample_size < n_samples:
        rows = np.random.RandomState(random_state).choice(n_samples, sample_size, replace=False)
        points, labels = points[rows], labels[rows]
        if not 2 <= len(np.unique(labels)) < len(labels):
            return -1.0
    return float(silhouette_score(points, labels))
