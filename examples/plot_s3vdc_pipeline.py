"""
===========================================
S3VDCClustering in a scikit-learn pipeline
===========================================

Chain :class:`~sklearn.preprocessing.MinMaxScaler` and
:class:`~skdeepcluster.S3VDCClustering` with :func:`~sklearn.pipeline.make_pipeline`, cluster
the 8x8 digits with ``fit_predict``, look at how confident the cluster probabilities of
``predict_proba`` are, and compare the clusters with the true digits in a confusion matrix.
"""

# %%
# Fit the pipeline
# ----------------
# The Bernoulli likelihood (the paper's Eq. 5) needs features in [0, 1]; ``MinMaxScaler``
# maps every pixel there, so the pipeline accepts the raw 0-16 pixels. To keep this example
# short (5 s on a loaded 2-core CPU when these pages were built) the training budget is
# reduced (10 warm-up epochs, two short annealing periods, a (256, 256) network instead of
# the default (500, 500, 2000)); the
# full-budget digits numbers (ACC about 0.77 over five seeds) are in the README and in
# :doc:`/s3vdc`.
import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.datasets import load_digits
from sklearn.metrics import confusion_matrix, normalized_mutual_info_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from skdeepcluster import S3VDCClustering
from skdeepcluster.metrics import clustering_accuracy

X, y = load_digits(return_X_y=True)
pipeline = make_pipeline(
    MinMaxScaler(),
    S3VDCClustering(n_clusters=10, reconstruction="bernoulli", hidden_dims=(256, 256), warmup_epochs=10,
                    anneal_epochs=3, static_epochs=1, n_periods=2, random_state=0),
)
labels = pipeline.fit_predict(X)
print(f"ACC {clustering_accuracy(y, labels):.3f}  NMI {normalized_mutual_info_score(y, labels):.3f}")

# %%
# Confidence and confusion matrix
# -------------------------------
# ``predict_proba`` on the pipeline scales X and returns p(c | z) for every cluster; its
# maximum is the confidence of the assignment. For the confusion matrix each cluster is
# renamed after the digit it is matched to by the Hungarian algorithm, the same matching that
# :func:`~skdeepcluster.metrics.clustering_accuracy` uses, so the diagonal holds the
# correctly clustered images.
confidence = pipeline.predict_proba(X).max(axis=1)
print(f"median confidence {np.median(confidence):.3f}; {np.mean(confidence > 0.9):.1%} of the images above 0.9")

table = confusion_matrix(y, labels, labels=range(10))  # rows: digits, columns: clusters
digits, clusters = linear_sum_assignment(table, maximize=True)
cluster_to_digit = dict(zip(clusters, digits, strict=True))
matched = np.array([cluster_to_digit[label] for label in labels])
print(f"accuracy after matching {np.mean(matched == y):.3f}")

figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), constrained_layout=True)
left.hist(confidence, bins=30, color="C0")
left.set(title="Confidence of the assignment", xlabel="max_c p(c | x)", ylabel="images")
image = right.imshow(confusion_matrix(y, matched, labels=range(10)), cmap="Blues")
right.set(title="True digit vs matched cluster", xlabel="cluster (named after its matched digit)",
          ylabel="true digit", xticks=range(10), yticks=range(10))
figure.colorbar(image, ax=right, label="images")
plt.show()
