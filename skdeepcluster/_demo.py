"""``python -m skdeepcluster demo``: S3VDCClustering beside KMeans and GaussianMixture on real digits."""

import time

import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.mixture import GaussianMixture

from .metrics import clustering_accuracy
from .s3vdc import S3VDCClustering

# The configuration measured in benchmarks/bench_s3vdc.py for load_digits: pixels scaled to [0, 1]
# with the Bernoulli likelihood of the paper's Eq. 5 (the recipe for images), default schedule.
DIGITS_PARAMS = dict(n_clusters=10, latent_dim=10, reconstruction="bernoulli", warmup_epochs=30,
                     anneal_epochs=10, static_epochs=2, n_periods=4, batch_size=128)
QUICK_PARAMS = dict(warmup_epochs=3, anneal_epochs=1, static_epochs=1, n_periods=1, hidden_dims=(64, 64))


def load_digits_data():
    """The 1,797 scikit-learn digits as float pixels scaled to [0, 1] and their classes."""
    X, y = load_digits(return_X_y=True)
    return X.astype(np.float64) / 16.0, y


def compare_models(X, y, s3vdc_params, seed=0, device="auto", verbose=0):
    """Fit S3VDCClustering, KMeans and GaussianMixture (diagonal) on X and score them against y.

    Returns one row per model (ACC, NMI, ARI, fit seconds) and the fitted S3VDCClustering.
    """
    n_clusters = s3vdc_params["n_clusters"]
    models = {
        "S3VDCClustering": S3VDCClustering(**s3vdc_params, device=device, random_state=seed, verbose=verbose),
        "KMeans": KMeans(n_clusters, n_init=10, random_state=seed),
        "GaussianMixture": GaussianMixture(n_clusters, covariance_type="diag", random_state=seed),
    }
    rows = []
    for name, model in models.items():
        started = time.perf_counter()
        labels = model.fit_predict(X)
        seconds = time.perf_counter() - started
        rows.append({"model": name, "acc": clustering_accuracy(y, labels),
                     "nmi": normalized_mutual_info_score(y, labels),
                     "ari": adjusted_rand_score(y, labels), "fit_seconds": seconds})
    return rows, models["S3VDCClustering"]


def compare_on_digits(seed=0, quick=False, device="auto", verbose=0):
    """Run :func:`compare_models` on the digits; return rows, the S3VDC model, X and y."""
    X, y = load_digits_data()
    params = {**DIGITS_PARAMS, **(QUICK_PARAMS if quick else {})}
    rows, model = compare_models(X, y, params, seed=seed, device=device, verbose=verbose)
    return rows, model, X, y


def format_table(rows):
    """A plain-text table of the comparison rows."""
    lines = [f"{'model':<18}{'ACC':>7}{'NMI':>7}{'ARI':>7}{'fit s':>8}"]
    lines += [f"{r['model']:<18}{r['acc']:>7.3f}{r['nmi']:>7.3f}{r['ari']:>7.3f}{r['fit_seconds']:>8.1f}"
              for r in rows]
    return "\n".join(lines)


def plot_embedding(model, X, y, path):
    """Save a 2-D PCA projection of the embedding, coloured by cluster and by true digit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    projected = PCA(n_components=2).fit_transform(model.transform(X))
    figure, axes = plt.subplots(1, 2, figsize=(11, 5), constrained_layout=True)
    for axis, colours, title in ((axes[0], model.labels_, "S3VDC clusters"), (axes[1], y, "true digits")):
        scatter = axis.scatter(projected[:, 0], projected[:, 1], c=colours, cmap="tab10", s=6)
        axis.set(title=title, xlabel="PC 1 of the latent mean", ylabel="PC 2")
        figure.colorbar(scatter, ax=axis, ticks=range(10))
    figure.suptitle("S3VDCClustering embedding of scikit-learn's digits")
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def main(seed=0, quick=False, device="auto", plot=True, output="s3vdc_digits.png", verbose=0):
    """Run the demo and print the table; returns the rows."""
    X_shape = load_digits_data()[0].shape
    print(f"skdeepcluster demo: load_digits ({X_shape[0]} samples x {X_shape[1]} pixels, 10 classes), "
          f"seed {seed}{' (quick budget)' if quick else ''}")
    rows, model, X, y = compare_on_digits(seed=seed, quick=quick, device=device, verbose=verbose)
    print(format_table(rows))
    print(f"S3VDC trained on {model.device_} for {model.n_iter_} epochs; "
          f"log-likelihood estimate on the training data score(X) = {model.score(X):.2f} nats per sample")
    if plot:
        try:
            print(f"embedding plot written to {plot_embedding(model, X, y, output)}")
        except ImportError:
            print("matplotlib is not installed: no plot (pip install matplotlib)")
    return rows
