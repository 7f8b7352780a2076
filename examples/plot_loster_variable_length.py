"""
===========================================================
LoSTerClustering on variable-length and multivariate series
===========================================================

:class:`~skdeepcluster.LoSTerClustering` reads series of different lengths padded with
trailing ``NaN`` (tslearn's layout) in one of two ways, ``variable_length="resample"`` or
``"mask"``. This example compares them on synthetic truncated recordings and then fits
three-channel series. The budgets are much smaller than the paper's so that it runs in
seconds.
"""

# %%
# Truncated recordings
# --------------------
# :func:`~skdeepcluster.datasets.make_synthetic_series` draws three clusters of noisy,
# slightly shifted smooth shapes. With ``variable_length=True`` it cuts every series at a
# random length between 40 % and 100 % of 300 steps and pads the rest with ``NaN``. All
# series share one time axis: they start at the same moment and differ only in where the
# recording stops.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import adjusted_rand_score

from skdeepcluster import LoSTerClustering
from skdeepcluster.datasets import make_synthetic_series

X, y = make_synthetic_series(n_samples=240, n_timestamps=300, n_clusters=3, variable_length=True,
                             min_length_fraction=0.4, random_state=0)
lengths = (~np.isnan(X)).sum(axis=1)
print(f"X: {X.shape}, observed lengths from {lengths.min()} to {lengths.max()} steps")

# %%
# What the two modes feed the network
# -----------------------------------
# ``"resample"`` (the default) stretches the observed part of every series linearly over all
# 300 steps, which suits whole patterns recorded at different rates or durations.
# ``"mask"`` keeps the time axis: padding enters the network as zeros and is left out of
# the reconstruction loss, which suits recordings cut short on a shared time axis. The top
# row shows three padded series of cluster 0, the bottom row the same series stretched as
# ``"resample"`` stretches them: stretching changes their apparent frequencies.
timestamps = np.arange(X.shape[1])
examples = np.flatnonzero(y == 0)[:3]
figure, axes = plt.subplots(2, len(examples), figsize=(11, 4.5), sharex=True, sharey=True)
for column, row in enumerate(examples):
    length = lengths[row]
    stretched = np.interp(np.linspace(0, length - 1, X.shape[1]), timestamps[:length], X[row, :length])
    axes[0, column].plot(timestamps, X[row])
    axes[0, column].axvline(length - 1, color="gray", linestyle="--")
    axes[0, column].set_title(f"series {row}: {length} observed steps")
    axes[1, column].plot(timestamps, stretched, color="tab:orange")
    axes[1, column].set_xlabel("time step")
axes[0, 0].set_ylabel("padded (mask)")
axes[1, 0].set_ylabel("stretched (resample)")
figure.tight_layout()

# %%
# Compare the two modes
# ---------------------
# The same small network and budget for both, scored by the adjusted Rand index against the
# true clusters (1 is a perfect match, 0 the level of random labels).
budget = {"latent_dim": 64, "hidden_dim": 64, "pretrain_epochs": 10, "max_epochs": 10, "batch_size": 64}
for mode in ("resample", "mask"):
    model = LoSTerClustering(n_clusters=3, variable_length=mode, random_state=0, device="cpu", **budget).fit(X)
    print(f'variable_length="{mode}": ARI {adjusted_rand_score(y, model.labels_):.3f}')

# %%
# Here the series were truncated, so ``"mask"`` compares them on their common time axis and
# recovers the clusters, while ``"resample"`` compares a series cut at 40 % with one cut at
# 90 % after stretching both to full length, which no longer lines up their shapes. For
# series that each hold one whole pattern at its own speed, such as gestures or heartbeats
# recorded at different rates, the opposite holds, and ``"resample"`` is the right reading.
#
# Multivariate series
# -------------------
# Three-dimensional input ``(n_series, n_timestamps, n_channels)`` is read as one long
# vector per series (time-major), so the dense blocks see every channel at every time step.
# ``transform`` returns one embedding of ``latent_dim`` values per series, whatever the
# number of channels, and ``predict_proba`` one probability per cluster.
X3, y3 = make_synthetic_series(n_samples=150, n_timestamps=200, n_channels=3, n_clusters=3, random_state=1)
model = LoSTerClustering(n_clusters=3, random_state=0, device="cpu", **budget).fit(X3)
print(f"X: {X3.shape} -> transform: {model.transform(X3).shape}, predict_proba: {model.predict_proba(X3).shape}, "
      f"cluster_centers_: {model.cluster_centers_.shape}")
print(f"ARI {adjusted_rand_score(y3, model.labels_):.3f}")
plt.show()
