"""
==========================================
S3VDCClustering quick start on the digits
==========================================

Fit :class:`~skdeepcluster.S3VDCClustering` on scikit-learn's 8x8 digits, compare it with
KMeans, look at the learned cluster weights, and generate new digits from each cluster with
``sample``.
"""

# %%
# Fit and evaluate
# ----------------
# The digits are 1,797 images of 64 pixels in [0, 16], scaled here to [0, 1] so that the
# Bernoulli likelihood of the paper's Eq. 5 applies. Accuracy uses the best one-to-one
# matching of clusters to digits (:func:`skdeepcluster.metrics.clustering_accuracy`).
import matplotlib.pyplot as plt
import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.metrics import normalized_mutual_info_score

from skdeepcluster import S3VDCClustering
from skdeepcluster.metrics import clustering_accuracy

X, y = load_digits(return_X_y=True)
X = X / 16.0
model = S3VDCClustering(n_clusters=10, reconstruction="bernoulli", random_state=0).fit(X)
kmeans = KMeans(10, n_init=10, random_state=0).fit(X)
for name, labels in (("S3VDCClustering", model.labels_), ("KMeans", kmeans.labels_)):
    print(f"{name:<16} ACC {clustering_accuracy(y, labels):.3f}  NMI {normalized_mutual_info_score(y, labels):.3f}")
print("learned cluster weights:", np.round(model.weights_, 3))

# %%
# Generate digits from each cluster
# ---------------------------------
# ``sample`` draws a cluster from the learned weights, a latent point from its Gaussian and
# decodes it, like :meth:`sklearn.mixture.GaussianMixture.sample` but in pixel space.
X_new, clusters = model.sample(400)
figure, axes = plt.subplots(10, 8, figsize=(6, 7.5))
for row, cluster in enumerate(range(10)):
    images = X_new[clusters == cluster][:8]
    for column, axis in enumerate(axes[row]):
        axis.set_axis_off()
        if column < len(images):
            axis.imshow(images[column].reshape(8, 8), cmap="gray_r")
figure.suptitle("Samples decoded from each S3VDC cluster (one row per cluster)")
plt.show()
