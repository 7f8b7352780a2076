"""
==========================================
Visualising the S3VDC latent embedding
==========================================

:meth:`~skdeepcluster.S3VDCClustering.transform` returns the mean of q(z|x), the point of
the latent space where the Gaussian mixture lives. Here the 10-dimensional embedding of the
digits is projected to 2-D with :class:`~sklearn.manifold.TSNE` and coloured once by the
learned cluster and once by the true digit.
"""

# %%
# Fit and embed
# -------------
# The training budget is reduced (10 warm-up epochs, two short annealing periods, a
# (256, 256) network): the example took 12 s when these pages were built on a loaded 2-core
# CPU (the time at the bottom of the page). The full-budget digits numbers are in the README
# and in :doc:`/s3vdc`.
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.manifold import TSNE

from skdeepcluster import S3VDCClustering
from skdeepcluster.metrics import clustering_accuracy

X, y = load_digits(return_X_y=True)
X = X / 16.0
model = S3VDCClustering(n_clusters=10, reconstruction="bernoulli", hidden_dims=(256, 256), warmup_epochs=10,
                        anneal_epochs=3, static_epochs=1, n_periods=2, random_state=0).fit(X)
embedding = model.transform(X)
print(f"embedding shape {embedding.shape}; ACC {clustering_accuracy(y, model.labels_):.3f}")

# %%
# Project with t-SNE
# ------------------
# t-SNE only serves the picture: the clusters are found by the mixture in the 10-D space, so
# two clusters can touch in the projection and still be separate there. ``max_iter=500``
# (half the default) keeps the projection fast.
projected = TSNE(n_components=2, init="pca", max_iter=500, random_state=0).fit_transform(embedding)
figure, axes = plt.subplots(1, 2, figsize=(11, 5), constrained_layout=True)
for axis, colours, title in ((axes[0], model.labels_, "coloured by S3VDC cluster"),
                             (axes[1], y, "coloured by true digit")):
    scatter = axis.scatter(projected[:, 0], projected[:, 1], c=colours, cmap="tab10", s=6)
    axis.set(title=title, xlabel="t-SNE 1", ylabel="t-SNE 2", xticks=[], yticks=[])
    figure.colorbar(scatter, ax=axis, ticks=range(10))
figure.suptitle("t-SNE of the S3VDCClustering embedding of the digits")
plt.show()
