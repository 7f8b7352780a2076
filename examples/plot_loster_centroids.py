"""
==========================================
Decoding LoSTer's centroids back to series
==========================================

:class:`~skdeepcluster.LoSTerClustering` clusters series in a learned embedding, so its
``cluster_centers_`` are vectors of ``latent_dim`` numbers, not series. Its
``inverse_transform`` runs them through the original-view decoder, which turns them back
into series that can be drawn next to the members of each cluster. This example fits
LoSTer to tslearn's copy of the Trace data set with the paper's budget and compares each
decoded centroid with the mean of its cluster's members.
"""

# %%
# Load the data and fit LoSTer
# ----------------------------
# Trace is a UCR data set of simulated nuclear-plant transients: 200 series of 275 steps in
# 4 classes once the training and test splits are merged, as in the LoSTer paper. The
# defaults are the paper's budget (50 pretraining epochs, then joint training until fewer
# than 0.1 % of the labels change in an epoch).
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import normalized_mutual_info_score, rand_score
from tslearn.datasets import CachedDatasets

from skdeepcluster import LoSTerClustering

X_train, y_train, X_test, y_test = CachedDatasets().load_dataset("Trace")
X = np.concatenate([X_train, X_test])  # (200, 275, 1)
y = np.concatenate([y_train, y_test])
model = LoSTerClustering(n_clusters=4, random_state=0, device="cpu").fit(X)
print(f"RI {rand_score(y, model.labels_):.3f}  NMI {normalized_mutual_info_score(y, model.labels_):.3f}")

# %%
# Decode the centroids
# --------------------
# ``inverse_transform`` takes any embeddings of shape ``(n, latent_dim)``, here the centroids,
# and returns series in the layout of the training data: ``(n_clusters, 275, 1)`` for this
# 3-D input. With the default ``normalize="auto"`` (``True`` for series this long) the network
# reads z-normalised series, and the scale and offset of a series are not in its embedding, so the decoded centroids are
# z-normalised shapes. (With ``normalize=False`` they would come back in the units of the
# data.) The members are z-normalised here so that both share one scale.
centroid_series = model.inverse_transform(model.cluster_centers_)[:, :, 0]
X_normalized = (X - X.mean(axis=1, keepdims=True)) / X.std(axis=1, keepdims=True)
print(f"decoded centroids: {centroid_series.shape}")

# %%
# One panel per cluster
# ---------------------
# The members of each cluster (thin lines), their mean (dashed) and the decoded centroid
# (bold). In this run each decoded centroid lies close to its members' mean: it follows the
# common shape, including where the transient sets in, with small wiggles of its own that
# the decoder adds. Like the mean, it smooths over the short spikes and oscillations that only
# some members have, so it is a summary of the cluster, not one of its series.
n_clusters = model.n_clusters
figure, axes = plt.subplots(1, n_clusters, figsize=(3.2 * n_clusters, 3.2), sharey=True)
for cluster, axis in enumerate(axes):
    members = X_normalized[model.labels_ == cluster, :, 0]
    axis.plot(members.T, color="tab:blue", alpha=0.12, linewidth=0.8)
    if len(members):
        axis.plot(members.mean(axis=0), color="black", linestyle="--", linewidth=1.5, label="members' mean")
    axis.plot(centroid_series[cluster], color="tab:red", linewidth=2.5, label="decoded centroid")
    axis.set_title(f"cluster {cluster} ({len(members)} series)")
    axis.set_xlabel("time step")
axes[0].set_ylabel("z-normalised value")
axes[0].legend(loc="lower left", fontsize=8)
figure.suptitle("LoSTer on Trace: members (thin), their mean (dashed), decoded centroid (bold)")
figure.tight_layout()

# %%
# How close are they?
# -------------------
# The root mean squared difference between each decoded centroid and its cluster's mean,
# next to the typical distance of a member from that mean. The centroid is nearer the mean
# than the members are, but it is not the mean: it is what the decoder makes of the point in
# the embedding that k-means and joint training placed among the members' embeddings.
for cluster in range(n_clusters):
    members = X_normalized[model.labels_ == cluster, :, 0]
    if not len(members):
        continue
    mean = members.mean(axis=0)
    to_centroid = np.sqrt(np.mean((centroid_series[cluster] - mean) ** 2))
    spread = np.sqrt(np.mean((members - mean) ** 2))
    print(f"cluster {cluster}: centroid vs mean RMS {to_centroid:.3f}, members vs mean RMS {spread:.3f}")
plt.show()
