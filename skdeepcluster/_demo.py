"""``python -m skdeepcluster demo``: both estimators beside the classical baselines on real data.

S3VDCClustering vs KMeans and GaussianMixture on scikit-learn's digits; LoSTerClustering vs
KMeans and tslearn's KShape on tslearn's bundled Trace series. Both datasets ship with their
packages, so the demo runs offline.
"""

import time

import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, rand_score
from sklearn.mixture import GaussianMixture

from .loster import LoSTerClustering
from .loster._series import z_normalize
from .metrics import clustering_accuracy
from .s3vdc import S3VDCClustering

# The configuration measured in benchmarks/bench_s3vdc.py for load_digits: pixels scaled to [0, 1]
# with the Bernoulli likelihood of the paper's Eq. 5 (the recipe for images), default schedule.
DIGITS_PARAMS = dict(n_clusters=10, latent_dim=10, reconstruction="bernoulli", warmup_epochs=30,
                     anneal_epochs=10, static_epochs=2, n_periods=4, batch_size=128)
QUICK_PARAMS = dict(warmup_epochs=3, anneal_epochs=1, static_epochs=1, n_periods=1, hidden_dims=(64, 64))
# LoSTer on Trace: the paper's configuration and budget (the estimator's defaults).
TRACE_PARAMS = dict(n_clusters=4)
QUICK_TRACE_PARAMS = dict(pretrain_epochs=3, max_epochs=2, latent_dim=32, hidden_dim=32)


def load_digits_data():
    """The 1,797 scikit-learn digits as float pixels scaled to [0, 1] and their classes."""
    X, y = load_digits(return_X_y=True)
    return X.astype(np.float64) / 16.0, y


def _score_models(models, X, y, X_for=None):
    """Fit every model, time it and score its labels against y: one row per model."""
    rows = []
    for name, model in models.items():
        data = (X_for or {}).get(name, X)
        started = time.perf_counter()
        labels = model.fit_predict(data)
        seconds = time.perf_counter() - started
        rows.append({"model": name, "acc": clustering_accuracy(y, labels), "ri": rand_score(y, labels),
                     "nmi": normalized_mutual_info_score(y, labels),
                     "ari": adjusted_rand_score(y, labels), "fit_seconds": seconds})
    return rows


def compare_models(X, y, s3vdc_params, seed=0, device="auto", verbose=0):
    """Fit S3VDCClustering, KMeans and GaussianMixture (diagonal) on X and score them against y.

    Returns one row per model (ACC, RI, NMI, ARI, fit seconds) and the fitted S3VDCClustering.
    """
    n_clusters = s3vdc_params["n_clusters"]
    models = {
        "S3VDCClustering": S3VDCClustering(**s3vdc_params, device=device, random_state=seed, verbose=verbose),
        "KMeans": KMeans(n_clusters, n_init=10, random_state=seed),
        "GaussianMixture": GaussianMixture(n_clusters, covariance_type="diag", random_state=seed),
    }
    return _score_models(models, X, y), models["S3VDCClustering"]


def load_trace_data():
    """tslearn's bundled Trace: train and test merged (200 series x 275 steps, 4 classes), as 2-D floats."""
    from tslearn.datasets import CachedDatasets

    X_train, y_train, X_test, y_test = CachedDatasets().load_dataset("Trace")
    X = np.concatenate([X_train, X_test])[:, :, 0].astype(np.float64)
    labels = np.concatenate([y_train, y_test])
    return X, np.unique(labels, return_inverse=True)[1]


def compare_time_series_models(X, y, loster_params, seed=0, device="auto", verbose=0):
    """Fit LoSTerClustering, KMeans and tslearn's KShape on series X and score them against y.

    All three see the series z-normalised (the paper's protocol; LoSTer also does it itself).
    Returns one row per model and the fitted LoSTerClustering.
    """
    from tslearn.clustering import KShape

    n_clusters = loster_params["n_clusters"]
    X = z_normalize(X[:, :, np.newaxis])[:, :, 0]
    models = {
        "LoSTerClustering": LoSTerClustering(**loster_params, device=device, random_state=seed, verbose=verbose),
        "KMeans": KMeans(n_clusters, n_init=10, random_state=seed),
        "KShape (tslearn)": KShape(n_clusters, random_state=seed),
    }
    rows = _score_models(models, X, y, X_for={"KShape (tslearn)": X[:, :, np.newaxis]})
    return rows, models["LoSTerClustering"]


def compare_on_digits(seed=0, quick=False, device="auto", verbose=0):
    """Run :func:`compare_models` on the digits; return rows, the S3VDC model, X and y."""
    X, y = load_digits_data()
    params = {**DIGITS_PARAMS, **(QUICK_PARAMS if quick else {})}
    rows, model = compare_models(X, y, params, seed=seed, device=device, verbose=verbose)
    return rows, model, X, y


def format_table(rows):
    """A plain-text table of the comparison rows."""
    lines = [f"{'model':<18}{'ACC':>7}{'RI':>7}{'NMI':>7}{'ARI':>7}{'fit s':>8}"]
    lines += [f"{r['model']:<18}{r['acc']:>7.3f}{r['ri']:>7.3f}{r['nmi']:>7.3f}{r['ari']:>7.3f}"
              f"{r['fit_seconds']:>8.1f}" for r in rows]
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


def plot_trace_clusters(model, X, path):
    """Save the member series of each LoSTer cluster (thin) with the cluster's mean series (bold)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X = z_normalize(X[:, :, np.newaxis])[:, :, 0]
    figure, axes = plt.subplots(1, model.n_clusters, figsize=(3.2 * model.n_clusters, 3.2), sharey=True,
                                constrained_layout=True)
    for cluster, axis in enumerate(np.atleast_1d(axes)):
        members = X[model.labels_ == cluster]
        axis.plot(members.T, color="0.7", linewidth=0.5)
        if len(members):
            axis.plot(members.mean(0), color="C3", linewidth=2)
        axis.set(title=f"cluster {cluster} ({len(members)} series)", xlabel="time step")
    figure.suptitle("LoSTerClustering on tslearn's Trace: members and mean of each cluster")
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _plot(plotter, *args):
    try:
        print(f"plot written to {plotter(*args)}")
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")


def main(seed=0, quick=False, device="auto", plot=True, output_dir=".", verbose=0, datasets=("digits", "trace")):
    """Run the demo and print the tables; returns ``{dataset: rows}``."""
    import pathlib

    output_dir = pathlib.Path(output_dir)
    results = {}
    if "digits" in datasets:
        X_shape = load_digits_data()[0].shape
        print(f"skdeepcluster demo 1: S3VDCClustering on load_digits ({X_shape[0]} samples x {X_shape[1]} "
              f"pixels, 10 classes), seed {seed}{' (quick budget)' if quick else ''}")
        rows, model, X, y = compare_on_digits(seed=seed, quick=quick, device=device, verbose=verbose)
        print(format_table(rows))
        print(f"S3VDC trained on {model.device_} for {model.n_iter_} epochs; "
              f"log-likelihood estimate on the training data score(X) = {model.score(X):.2f} nats per sample")
        if plot:
            _plot(plot_embedding, model, X, y, output_dir / "s3vdc_digits.png")
        results["digits"] = rows
    if "trace" in datasets:
        X, y = load_trace_data()
        print(f"\nskdeepcluster demo 2: LoSTerClustering on tslearn's Trace ({X.shape[0]} series x {X.shape[1]} "
              f"steps, 4 classes), seed {seed}{' (quick budget)' if quick else ''}")
        params = {**TRACE_PARAMS, **(QUICK_TRACE_PARAMS if quick else {})}
        rows, model = compare_time_series_models(X, y, params, seed=seed, device=device, verbose=verbose)
        print(format_table(rows))
        print(f"LoSTer trained on {model.device_}: {model.pretrain_epochs} pretraining + "
              f"{model.n_iter_ - model.pretrain_epochs} joint epochs (converged: {model.converged_})")
        if plot:
            _plot(plot_trace_clusters, model, X, output_dir / "loster_trace.png")
        results["trace"] = rows
    return results
