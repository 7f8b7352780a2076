"""
=======================================================
LoSTer, KMeans, a Gaussian mixture and k-Shape on Trace
=======================================================

Four clusterings of the same z-normalised series of tslearn's Trace data set:
:class:`~skdeepcluster.LoSTerClustering` with the paper's budget,
:class:`~sklearn.cluster.KMeans` and a diagonal
:class:`~sklearn.mixture.GaussianMixture` on the series read as vectors, and tslearn's
``KShape``, which compares series by shift-invariant cross-correlation. The labels only
score the result: Rand index (RI), normalised mutual information (NMI) and adjusted Rand
index (ARI), next to the seconds each fit takes.
"""

# %%
# Load and normalise the data
# ---------------------------
# The training and test splits are merged, as in the LoSTer paper: 200 series of 275 steps,
# 4 classes. Every series is z-normalised. LoSTer would do it itself (``normalize=True``);
# the explicit copy is what every method reads, so they all see the same input.
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, rand_score
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits
from tslearn.clustering import KShape
from tslearn.datasets import CachedDatasets

from skdeepcluster import LoSTerClustering

X_train, y_train, X_test, y_test = CachedDatasets().load_dataset("Trace")
X = np.concatenate([X_train, X_test])  # (200, 275, 1)
y = np.concatenate([y_train, y_test])
X_normalized = (X - X.mean(axis=1, keepdims=True)) / X.std(axis=1, keepdims=True)
n_clusters = len(np.unique(y))

# %%
# Fit the four methods
# --------------------
# KMeans and the Gaussian mixture read each series as a vector of 275 values; KShape and
# LoSTer read the 3-D array. tslearn compiles KShape's distance with numba on its first
# call, so a small untimed fit comes first. Each KShape iteration takes the leading
# eigenvector of a 275 x 275 matrix per cluster; a multi-threaded BLAS spends more time
# coordinating its threads than computing at that size (on a busy 2-core machine it was 40
# times slower), so KShape runs with one BLAS thread (``threadpoolctl`` comes with
# scikit-learn).
def _kshape_one_blas_thread():
    with threadpool_limits(limits=1, user_api="blas"):
        return KShape(n_clusters, random_state=0).fit_predict(X_normalized)


methods = {
    "LoSTer": lambda: LoSTerClustering(n_clusters, random_state=0, device="cpu").fit(X_normalized).labels_,
    "KMeans": lambda: KMeans(n_clusters, n_init=10, random_state=0).fit_predict(X_normalized[:, :, 0]),
    "GaussianMixture (diag)": lambda: GaussianMixture(n_clusters, covariance_type="diag", n_init=3,
                                                      random_state=0).fit_predict(X_normalized[:, :, 0]),
    "KShape": _kshape_one_blas_thread,
}
KShape(n_clusters, max_iter=1, random_state=0).fit(X_normalized[:8])  # numba compilation, not timed
scores = {}
for name, fit in methods.items():
    started = time.perf_counter()
    labels = fit()
    seconds = time.perf_counter() - started
    scores[name] = {"RI": rand_score(y, labels), "NMI": normalized_mutual_info_score(y, labels),
                    "ARI": adjusted_rand_score(y, labels), "fit seconds": seconds}
    print(f"{name:<24}" + "  ".join(f"{key} {value:.3f}" for key, value in scores[name].items()))

# %%
# Scores and fit times
# --------------------
# Trace's four classes come as two pairs of shapes: classes 1 and 2 drop, 3 and 4 rise, and
# within a pair the classes differ only by a short spike or oscillation. The transient starts
# at different times in different series, which the Euclidean methods and LoSTer's dense
# layers read as large differences, while k-Shape aligns the series before it compares them.
# In this run LoSTer, KMeans and the mixture find nearly the same partition, and k-Shape a
# clearly better one.
# LoSTer's budget is the paper's; on 200 series an epoch is one step, so joint training is
# short and the embedding is mostly the pretrained autoencoder's.
names = list(scores)
metrics = ["RI", "NMI", "ARI"]
figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [3, 2]})
width = 0.8 / len(names)
for index, name in enumerate(names):
    positions = np.arange(len(metrics)) + (index - (len(names) - 1) / 2) * width
    bars = left.bar(positions, [scores[name][metric] for metric in metrics], width, label=name)
    left.bar_label(bars, fmt="%.2f", fontsize=7)
left.set_xticks(np.arange(len(metrics)), metrics)
left.set(ylim=(0, 1.1), ylabel="score", title="agreement with Trace's classes")
left.legend(fontsize=8, loc="upper right")
bars = right.barh(names, [scores[name]["fit seconds"] for name in names], color=[f"C{i}" for i in range(len(names))])
right.bar_label(bars, fmt="%.2f s", fontsize=8)
right.invert_yaxis()
right.set(xlabel="seconds", title="fit time")
right.margins(x=0.25)
figure.tight_layout()
plt.show()
