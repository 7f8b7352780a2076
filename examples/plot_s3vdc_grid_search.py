"""
==================================================
Choosing the number of clusters with GridSearchCV
==================================================

:meth:`~skdeepcluster.S3VDCClustering.score` returns the mean held-out log-likelihood ln p(x)
(an importance-sampling estimate, like :meth:`sklearn.mixture.GaussianMixture.score`), so
:class:`~sklearn.model_selection.GridSearchCV` can pick ``n_clusters`` by cross-validation
without any labels.
"""

# %%
# Cross-validate n_clusters
# -------------------------
# Four values of ``n_clusters`` times three folds are 12 fits plus the final refit. To keep
# the example short (16 s on a loaded 2-core CPU when these pages were built) it uses the
# first 900 digits, a (128, 128) network, a reduced schedule (10 warm-up epochs, two short
# annealing periods) and 16 importance samples per image in ``score``. The scores are therefore
# rough; the full-budget digits configuration is described in the README and in :doc:`/s3vdc`.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, KFold

from skdeepcluster import S3VDCClustering

X, y = load_digits(return_X_y=True)
X, y = X[:900] / 16.0, y[:900]
estimator = S3VDCClustering(reconstruction="bernoulli", hidden_dims=(128, 128), warmup_epochs=10,
                            anneal_epochs=3, static_epochs=1, n_periods=2, n_score_samples=16, random_state=0)
grid = {"n_clusters": [6, 8, 10, 12]}
search = GridSearchCV(estimator, grid, cv=KFold(3, shuffle=True, random_state=0)).fit(X)
print("best_params_:", search.best_params_)
for n_clusters, mean, std in zip(grid["n_clusters"], search.cv_results_["mean_test_score"],
                                 search.cv_results_["std_test_score"], strict=True):
    print(f"n_clusters={n_clusters:<3} held-out log-likelihood {mean:8.2f} +- {std:.2f} nats per image")

# %%
# Plot the cross-validated log-likelihood
# ---------------------------------------
# Higher is better. The error bars are the standard deviation over the three folds. The
# likelihood measures how well the whole generative model explains unseen images, not how well
# the clusters match the ten digit classes, so its best ``n_clusters`` need not be 10,
# especially with a budget this small.
figure, axis = plt.subplots(figsize=(6, 4), constrained_layout=True)
axis.errorbar(grid["n_clusters"], search.cv_results_["mean_test_score"],
              yerr=search.cv_results_["std_test_score"], marker="o", capsize=4)
axis.axvline(search.best_params_["n_clusters"], color="0.6", linestyle="--", label="best")
axis.set(xlabel="n_clusters", ylabel="mean held-out ln p(x) (nats per image)", xticks=grid["n_clusters"],
         title="GridSearchCV over n_clusters on the digits")
axis.legend()
best = search.best_estimator_
print(f"refitted on all {len(X)} images: {best.n_clusters} clusters of sizes {np.bincount(best.labels_)}")
plt.show()
