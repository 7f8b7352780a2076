"""Fitting the Gaussian-mixture prior on embeddings (Algorithm 1, line 4)."""

import numpy as np
from sklearn import config_context
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture

from .._partition import part_statistics


def fit_mixture_prior(embeddings, n_clusters, kmeans_seed, mixture_seed, sample_weight=None):
    """Fit the prior as the authors' code does: KMeans, then a diagonal GMM from its centres.

    Returns ``(means, variances, mixture)``: mu <- the KMeans centres, sigma^2 <- the GMM's
    diagonal variances (the GMM's own means and weights are not used by the code), and the
    fitted :class:`~sklearn.mixture.GaussianMixture` for callers that want its assignments.
    With ``sample_weight``: weighted KMeans, and since GaussianMixture takes no sample weights
    (scikit-learn issue #15647) sigma^2 are the weighted variances of the KMeans clusters;
    ``mixture`` is then None.
    """
    if sample_weight is not None:
        with config_context(array_api_dispatch=False):
            kmeans = KMeans(n_clusters, n_init=10, random_state=kmeans_seed).fit(embeddings,
                                                                                 sample_weight=sample_weight)
        variances = part_statistics(embeddings, kmeans.labels_, n_clusters, sample_weight=sample_weight)[2]
        return kmeans.cluster_centers_, variances, None
    # The embeddings are numpy arrays whatever the caller's array API setting; GaussianMixture
    # refuses its default init_params under array_api_dispatch=True.
    with config_context(array_api_dispatch=False):
        kmeans = KMeans(n_clusters, n_init=10, random_state=kmeans_seed).fit(embeddings)
        mixture = GaussianMixture(n_clusters, covariance_type="diag", max_iter=10000,
                                  means_init=kmeans.cluster_centers_, random_state=mixture_seed)
        try:
            mixture.fit(embeddings)
        except ValueError:
            # EM fails on (nearly) identical embeddings, e.g. constant data, whose variances fall
            # below reg_covar relative to their magnitude: use the KMeans clusters' variances.
            return kmeans.cluster_centers_, _cluster_variances(embeddings, kmeans), None
    return kmeans.cluster_centers_, mixture.covariances_, mixture


def _cluster_variances(embeddings, kmeans):
    """Per-cluster, per-dimension variances of the KMeans partition, floored away from 0."""
    floor = 1e-6 * max(1.0, float(np.mean(embeddings**2)))
    variances = np.empty_like(kmeans.cluster_centers_)
    for cluster in range(len(variances)):
        members = embeddings[kmeans.labels_ == cluster]
        variances[cluster] = members.var(axis=0) if len(members) > 1 else 0.0
    return np.maximum(variances, floor)
