"""The initial partition of an embedding, shared by every estimator.

A deep clusterer starts its clustering phase from a partition of the embedding its warm-up
(pretraining) produced: the prior of S3VDC and the centroids of LoSTer are set from the points
of each part. Both papers use k-means there. k-means on a weak embedding is a weak start,
while a partition of the k-nearest-neighbour graph of the same points follows the manifold the
autoencoder found (N2D, McConville et al. 2019; the deep-clustering review of Lafabregue et al.
2022 found UMAP + k-means the strongest time-series baseline): ``"spectral"`` is that
partition with scikit-learn alone. ``"umap"`` is N2D's own recipe (UMAP, then a Gaussian
mixture), with the optional package umap-learn.
"""

from __future__ import annotations

import warnings
from types import ModuleType

import numpy as np
from numpy.typing import ArrayLike
from scipy import sparse
from sklearn import config_context
from sklearn.cluster import KMeans
from sklearn.manifold import spectral_embedding
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors, kneighbors_graph

PARTITION_METHODS = ("kmeans", "spectral", "umap")
# N2D (McConville et al. 2019, section 3): UMAP to n_clusters dimensions, 20 neighbours,
# min_dist 0 (points of a cluster packed together), then a full-covariance Gaussian mixture.
UMAP_NEIGHBORS = 20


def partition_embedding(embedding: ArrayLike, n_clusters: int, method: str = "spectral", n_neighbors: int = 10,
                        n_init: int = 10, random_state: int | None = None, n_jobs: int | None = None,
                        sample_weight: ArrayLike | None = None) -> np.ndarray:
    """Labels of an initial partition of ``embedding`` into ``n_clusters`` parts.

    Parameters
    ----------
    embedding : ndarray of shape (n_samples, n_features)
    n_clusters : int
    method : {"kmeans", "spectral", "umap"}
        ``"kmeans"``: k-means++ with ``n_init`` restarts (both papers). ``"spectral"``:
        normalised spectral clustering (Ng, Jordan and Weiss 2001) of the symmetrised
        ``n_neighbors``-nearest-neighbour graph, its spectral embedding partitioned by k-means.
        Falls back to k-means when the graph cannot give ``n_clusters`` parts (fewer samples
        than ``n_neighbors + n_clusters``, a graph with more connected components than parts).
        ``"umap"``: N2D's partition, UMAP of the points to ``n_clusters`` dimensions
        (``UMAP_NEIGHBORS`` neighbours, ``min_dist=0``) and a full-covariance Gaussian mixture
        of the projection (weighted k-means of it with ``sample_weight``, since
        GaussianMixture takes no weights); needs umap-learn, falls back to k-means on fewer
        than ``UMAP_NEIGHBORS + n_clusters`` samples.
    n_neighbors : int
        Neighbours per point in the graph (``"spectral"``).
    n_init : int
        k-means restarts.
    random_state : int or None
    n_jobs : int or None
        Threads of the neighbour search.
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights. ``"kmeans"``: weighted k-means (a point of weight w counts as w
        copies of it). ``"spectral"``: the neighbour graph and its eigenvectors are those of
        the points themselves (repeating a point would only add zero-distance edges, which
        no weighting of the graph reproduces exactly), and the k-means that partitions the
        eigenvectors is weighted. Points of weight 0 take no part at all: the partition is
        that of the other points, and each of them gets the label of its nearest
        positive-weight point. ``None``: all weights 1 (the unweighted computation).

    Returns
    -------
    labels : ndarray of shape (n_samples,) of int
    """
    embedding = np.asarray(embedding, dtype=np.float64)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
        positive = sample_weight > 0
        if not positive.any():
            raise ValueError("sample_weight has no positive weight: there is nothing to partition.")
        if not positive.all():
            labels = np.empty(embedding.shape[0], dtype=np.intp)
            labels[positive] = partition_embedding(embedding[positive], n_clusters, method, n_neighbors, n_init,
                                                   random_state, n_jobs, sample_weight[positive])
            nearest = NearestNeighbors(n_neighbors=1).fit(embedding[positive]).kneighbors(
                embedding[~positive], return_distance=False)[:, 0]
            labels[~positive] = labels[positive][nearest]
            return labels
    n_samples = embedding.shape[0]
    with config_context(array_api_dispatch=False), warnings.catch_warnings():
        # Duplicate points (constant data, say) make fewer distinct clusters than asked for; the
        # caller handles parts that come out empty.
        warnings.filterwarnings("ignore", message="Number of distinct clusters")
        warnings.filterwarnings("ignore", message="Graph is not fully connected")
        if method == "umap":
            umap = _import_umap()
            if n_clusters > 1 and n_samples > UMAP_NEIGHBORS + n_clusters:
                return _umap_labels(umap, embedding, n_clusters, n_init, random_state, sample_weight)
        elif method == "spectral" and n_clusters > 1 and n_samples > n_neighbors + n_clusters:
            labels = _spectral_labels(embedding, n_clusters, n_neighbors, n_init, random_state, n_jobs,
                                      sample_weight)
            if labels is not None:
                return labels
        elif method not in PARTITION_METHODS:
            raise ValueError(f"Unknown partition method {method!r}; expected one of {PARTITION_METHODS}.")
        return KMeans(n_clusters, n_init=n_init, random_state=random_state).fit(
            embedding, sample_weight=sample_weight).labels_


def _import_umap() -> ModuleType:
    try:
        import umap
    except ImportError as error:
        raise ImportError("The 'umap' partition needs the optional package umap-learn: "
                          "pip install umap-learn (or skdeepcluster[umap]).") from error
    return umap


def _umap_labels(umap: ModuleType, embedding: np.ndarray, n_clusters: int, n_init: int, random_state: int | None,
                 sample_weight: np.ndarray | None) -> np.ndarray:
    rng = np.random.RandomState(random_state)
    with warnings.catch_warnings():
        # umap-learn says that a fixed random_state makes it single-threaded: that is the point.
        warnings.filterwarnings("ignore", message="n_jobs value")
        projection = umap.UMAP(n_components=n_clusters, n_neighbors=UMAP_NEIGHBORS, min_dist=0.0,
                               random_state=rng.randint(np.iinfo(np.int32).max)).fit_transform(embedding)
    seed = rng.randint(np.iinfo(np.int32).max)
    if sample_weight is not None:
        return KMeans(n_clusters, n_init=n_init, random_state=seed).fit(projection, sample_weight=sample_weight).labels_
    return GaussianMixture(n_clusters, covariance_type="full", random_state=seed).fit(projection).predict(projection)


def _spectral_labels(embedding: np.ndarray, n_clusters: int, n_neighbors: int, n_init: int, random_state: int | None,
                     n_jobs: int | None, sample_weight: np.ndarray | None = None) -> np.ndarray | None:
    graph = kneighbors_graph(embedding, n_neighbors, mode="connectivity", include_self=False, n_jobs=n_jobs)
    graph = graph.maximum(graph.T)  # symmetric: an edge when either point is among the other's neighbours
    n_components = sparse.csgraph.connected_components(graph, directed=False)[0]
    if n_components > n_clusters:
        return None  # more pieces than parts: the eigenvectors are not informative
    rng = np.random.RandomState(random_state)
    # Eigenvectors of the normalised Laplacian, rows scaled to unit length (Ng, Jordan and Weiss 2001).
    vectors = spectral_embedding(graph, n_components=n_clusters, random_state=rng.randint(np.iinfo(np.int32).max),
                                 drop_first=False, norm_laplacian=True)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.where(norms > 0, norms, 1.0)
    return KMeans(n_clusters, n_init=n_init, random_state=rng.randint(np.iinfo(np.int32).max)).fit(
        vectors, sample_weight=sample_weight).labels_


def part_statistics(embedding: ArrayLike, labels: ArrayLike, n_clusters: int, variance_floor: float | None = None,
                    sample_weight: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights, means and diagonal variances of each part of a partition.

    A part that came out empty (or with one point) cannot give a mean or a variance of its
    own: it is re-seeded at the point farthest from its nearest part mean, with the pooled
    variance, so that no component starts dead.

    With ``sample_weight`` every statistic is weighted as if a point of weight w were w copies
    of it: the weight of a part is its share of the total weight, its mean and (population)
    variances are the weighted ones. Points of weight 0 count as absent (a part holding only
    such points is empty). An empty part gets the weight of one average point.

    Returns
    -------
    weights : ndarray of shape (n_clusters,), summing to 1
    means : ndarray of shape (n_clusters, n_features)
    variances : ndarray of shape (n_clusters, n_features), all >= ``variance_floor``
    """
    embedding = np.asarray(embedding, dtype=np.float64)
    if sample_weight is not None:
        return _weighted_part_statistics(embedding, np.asarray(labels), n_clusters, variance_floor,
                                         np.asarray(sample_weight, dtype=np.float64))
    pooled = embedding.var(axis=0)
    if variance_floor is None:
        variance_floor = 1e-6 * max(float(pooled.mean()), 1e-12)
    counts = np.bincount(labels, minlength=n_clusters).astype(np.float64)
    means = np.zeros((n_clusters, embedding.shape[1]))
    variances = np.tile(pooled, (n_clusters, 1))
    for part in np.flatnonzero(counts):
        members = embedding[labels == part]
        means[part] = members.mean(axis=0)
        if len(members) > 1:
            variances[part] = members.var(axis=0)
    _reseed_empty_parts(embedding, means, counts > 0)
    weights = np.maximum(counts, 1.0)
    return weights / weights.sum(), means, np.maximum(variances, variance_floor)


def _reseed_empty_parts(embedding: np.ndarray, means: np.ndarray, filled: np.ndarray) -> None:
    """Move the mean of each empty part (``~filled``) to the point farthest from the filled parts' means."""
    filled = filled.copy()
    for part in np.flatnonzero(~filled):
        nearest = ((embedding[:, None, :] - means[None, filled]) ** 2).sum(-1).min(axis=1)
        means[part] = embedding[int(np.argmax(nearest))]
        filled[part] = True


def _weighted_variance(points: np.ndarray, weights: np.ndarray, mean: np.ndarray) -> np.ndarray:
    return (weights[:, None] * (points - mean) ** 2).sum(axis=0) / weights.sum()


def _weighted_part_statistics(embedding: np.ndarray, labels: np.ndarray, n_clusters: int, variance_floor: float | None,
                              sample_weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`part_statistics` with weights: that of the points repeated ``sample_weight`` times."""
    positive = sample_weight > 0
    embedding, labels, sample_weight = embedding[positive], labels[positive], sample_weight[positive]
    pooled_mean = np.average(embedding, axis=0, weights=sample_weight)
    pooled = _weighted_variance(embedding, sample_weight, pooled_mean)
    if variance_floor is None:
        variance_floor = 1e-6 * max(float(pooled.mean()), 1e-12)
    totals = np.bincount(labels, weights=sample_weight, minlength=n_clusters)
    members_per_part = np.bincount(labels, minlength=n_clusters)
    means = np.zeros((n_clusters, embedding.shape[1]))
    variances = np.tile(pooled, (n_clusters, 1))
    for part in np.flatnonzero(members_per_part):
        members, weights = embedding[labels == part], sample_weight[labels == part]
        means[part] = np.average(members, axis=0, weights=weights)
        if len(members) > 1:
            variances[part] = _weighted_variance(members, weights, means[part])
    _reseed_empty_parts(embedding, means, members_per_part > 0)
    weights = np.where(members_per_part > 0, totals, sample_weight.mean())
    return weights / weights.sum(), means, np.maximum(variances, variance_floor)


def squared_distances(embedding: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """``||z - mu||^2`` of every row and centre, each summed from the row's own differences.

    The expansion ``|z|^2 - 2 z.mu + |mu|^2`` would round its matrix product differently with
    the number of rows (BLAS blocks by shape), so a row's distances would depend on the other
    rows; these do not (inference works batch by batch), and nothing cancels.
    """
    distances = np.empty((embedding.shape[0], centers.shape[0]), dtype=np.result_type(embedding, centers))
    for column, center in enumerate(centers):
        distances[:, column] = ((embedding - center) ** 2).sum(axis=1)
    return distances


def nearest_centers(embedding: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of and squared distance to the nearest centre of every row (the k-means assignment)."""
    distances = squared_distances(embedding, centers)
    nearest = distances.argmin(axis=1)
    return nearest, distances[np.arange(len(nearest)), nearest]
