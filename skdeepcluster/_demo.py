"""``python -m skdeepcluster demo``: both estimators beside the classical baselines on real data.

S3VDCClustering vs KMeans and GaussianMixture on scikit-learn's digits; LoSTerClustering vs
KMeans and tslearn's KShape on tslearn's bundled Trace series. Both datasets ship with their
packages, so the demo runs offline. Every model is fitted with several seeds and the tables
show mean +- std; the pictures show the first seed, with the clusters matched to the classes
(the Hungarian matching of :func:`~skdeepcluster.metrics.clustering_accuracy`) so that a
cluster and its class have the same colour or column.
"""

import pathlib
import time
import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, rand_score
from sklearn.metrics.cluster import contingency_matrix
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
METRICS = ("acc", "ri", "nmi", "ari", "fit_seconds")


def _quiet_tslearn_import():
    """Import tslearn without its "h5py not installed" warning (the demo reads no HDF5 files)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="h5py not installed", category=UserWarning)
        import tslearn.clustering
        import tslearn.datasets
    return tslearn


def match_clusters_to_classes(labels_true, labels_pred):
    """Relabel clusters by the class each is matched to; unmatched clusters get ids after the classes.

    The matching is the one-to-one Hungarian matching of the contingency table that
    :func:`~skdeepcluster.metrics.clustering_accuracy` scores, so a point has the same id in
    both labelings exactly when it counts as correct. ``labels_true`` must be ``0 .. k-1``.
    """
    labels_true, labels_pred = np.asarray(labels_true), np.asarray(labels_pred)
    clusters, cluster_index = np.unique(labels_pred, return_inverse=True)
    table = contingency_matrix(labels_true, labels_pred)  # classes x clusters
    class_rows, cluster_cols = linear_sum_assignment(table, maximize=True)
    classes = np.unique(labels_true)
    new_ids = np.full(len(clusters), -1)
    new_ids[cluster_cols] = classes[class_rows]
    unmatched = new_ids < 0
    new_ids[unmatched] = classes.max() + 1 + np.arange(unmatched.sum())
    return new_ids[cluster_index]


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
    tslearn = _quiet_tslearn_import()

    X_train, y_train, X_test, y_test = tslearn.datasets.CachedDatasets().load_dataset("Trace")
    X = np.concatenate([X_train, X_test])[:, :, 0].astype(np.float64)
    labels = np.concatenate([y_train, y_test])
    return X, np.unique(labels, return_inverse=True)[1]


def compare_time_series_models(X, y, loster_params, seed=0, device="auto", verbose=0):
    """Fit LoSTerClustering, KMeans and tslearn's KShape on series X and score them against y.

    All three see the series z-normalised (the paper's protocol; LoSTer also does it itself).
    Returns one row per model and the fitted LoSTerClustering.
    """
    KShape = _quiet_tslearn_import().clustering.KShape
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


def summarize(runs):
    """Mean and standard deviation over seeds: ``runs`` is one list of rows per seed."""
    summary = []
    for rows in zip(*runs, strict=True):
        row = {"model": rows[0]["model"], "n_seeds": len(rows)}
        for metric in METRICS:
            values = [r[metric] for r in rows]
            row[metric], row[metric + "_std"] = float(np.mean(values)), float(np.std(values))
        summary.append(row)
    return summary


def format_table(rows):
    """A plain-text table of comparison rows (mean +- std when they carry a ``*_std``)."""
    with_std = "acc_std" in rows[0] and rows[0].get("n_seeds", 1) > 1
    width = 15 if with_std else 7

    def cell(row, metric, digits):
        text = f"{row[metric]:.{digits}f}"
        return f"{text} +- {row[metric + '_std']:.{digits}f}" if with_std else text

    lines = [f"{'model':<18}" + "".join(f"{name:>{width}}" for name in ("ACC", "RI", "NMI", "ARI"))
             + f"{'fit s':>{width}}"]
    lines += [f"{row['model']:<18}" + "".join(f"{cell(row, m, 3):>{width}}" for m in ("acc", "ri", "nmi", "ari"))
              + f"{cell(row, 'fit_seconds', 1):>{width}}" for row in rows]
    return "\n".join(lines)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_embedding(model, X, y, path, note=""):
    """Save a 2-D PCA projection of the embedding: clusters (matched to digits) beside the true digits.

    Each cluster takes the colour of the digit it is matched to, so the two panels share one
    colour key; a point coloured differently in the two panels is a clustering error.
    """
    plt = _pyplot()
    from matplotlib.colors import BoundaryNorm, ListedColormap

    projected = PCA(n_components=2).fit_transform(model.transform(X))
    matched = match_clusters_to_classes(y, model.labels_)
    n_colours = max(10, int(matched.max()) + 1)
    colours = ListedColormap([plt.get_cmap("tab10")(i % 10) if i < 10 else "black" for i in range(n_colours)])
    norm = BoundaryNorm(np.arange(-0.5, n_colours), n_colours)
    figure, axes = plt.subplots(1, 2, figsize=(11, 5), sharex=True, sharey=True, constrained_layout=True)
    accuracy = clustering_accuracy(y, model.labels_)
    panels = ((axes[0], matched, f"S3VDC clusters, each in the colour of its matched digit (ACC {accuracy:.3f})"),
              (axes[1], y, "true digits"))
    for axis, labels, title in panels:
        scatter = axis.scatter(projected[:, 0], projected[:, 1], c=labels, cmap=colours, norm=norm, s=6)
        axis.set(xlabel="PC 1 of the latent mean", ylabel="PC 2")
        axis.set_title(title, fontsize=10)
    figure.colorbar(scatter, ax=axes, ticks=range(10), label="digit")
    figure.suptitle(f"S3VDCClustering embedding of scikit-learn's digits{note}")
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_trace_clusters(model, X, y, path, note=""):
    """Save the member series and mean of each LoSTer cluster (top) above those of its matched class (bottom)."""
    plt = _pyplot()

    X = z_normalize(X[:, :, np.newaxis])[:, :, 0]
    matched = match_clusters_to_classes(y, model.labels_)
    n_columns = int(max(matched.max(), y.max())) + 1
    figure, axes = plt.subplots(2, n_columns, figsize=(3.2 * n_columns, 6), sharex=True, sharey=True,
                                constrained_layout=True, squeeze=False)
    for column in range(n_columns):
        for axis, labels, title in ((axes[0, column], matched, "LoSTer cluster matched to class"),
                                    (axes[1, column], y, "true class")):
            members = X[labels == column]
            axis.plot(members.T, color="0.7", linewidth=0.5)
            if len(members):
                axis.plot(members.mean(0), color=f"C{column}", linewidth=2)
            axis.set_title(f"{title} {column} ({len(members)} series)", fontsize=9)
        axes[1, column].set_xlabel("time step")
    axes[0, 0].set_ylabel("z-normalised value")
    axes[1, 0].set_ylabel("z-normalised value")
    accuracy = clustering_accuracy(y, model.labels_)
    figure.suptitle(f"LoSTerClustering on tslearn's Trace: members (grey) and mean of each cluster and class "
                    f"(ACC {accuracy:.3f}){note}")
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _plot(plotter, *args, **kwargs):
    try:
        print(f"picture written to {plotter(*args, **kwargs)}")
    except ImportError:
        print("matplotlib is not installed: no picture (pip install matplotlib)")


def _seed_note(seeds, row):
    """Which seed a picture shows and, with several, the mean accuracy it should be read against."""
    if len(seeds) == 1:
        return f" (seed {seeds[0]})"
    return (f"\nseed {seeds[0]}, the first of {len(seeds)}; their mean ACC is {row['acc']:.3f} +- "
            f"{row['acc_std']:.3f}")


def main(seed=0, quick=False, device="auto", plot=True, output_dir="skdeepcluster_demo", verbose=0,
         datasets=("digits", "trace"), n_seeds=3):
    """Run the demo and print the tables; returns ``{dataset: rows}`` (mean and std over the seeds)."""
    output_dir = pathlib.Path(output_dir)
    seeds = list(range(seed, seed + n_seeds))
    seed_text = f"seed {seed}" if n_seeds == 1 else f"seeds {seeds[0]}-{seeds[-1]}, mean +- std"
    budget = " (quick budget)" if quick else ""
    if plot:
        output_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    if "digits" in datasets:
        X, y = load_digits_data()
        print(f"skdeepcluster demo 1: S3VDCClustering on load_digits ({X.shape[0]} samples x {X.shape[1]} "
              f"pixels, 10 classes), {seed_text}{budget}", flush=True)
        params = {**DIGITS_PARAMS, **(QUICK_PARAMS if quick else {})}
        runs, first_model = [], None
        for current in seeds:
            rows, model = compare_models(X, y, params, seed=current, device=device, verbose=verbose)
            runs.append(rows)
            first_model = model if first_model is None else first_model
        rows = summarize(runs)
        print(format_table(rows))
        print(f"S3VDC trained on {first_model.device_} for {first_model.n_iter_} epochs; log-likelihood estimate "
              f"on the training data (seed {seed}) score(X) = {first_model.score(X):.2f} nats per sample")
        if plot:
            _plot(plot_embedding, first_model, X, y, output_dir / "s3vdc_digits.png", note=_seed_note(seeds, rows[0]))
        results["digits"] = rows
    if "trace" in datasets:
        X, y = load_trace_data()
        print(f"\nskdeepcluster demo 2: LoSTerClustering on tslearn's Trace ({X.shape[0]} series x {X.shape[1]} "
              f"steps, 4 classes), {seed_text}{budget}", flush=True)
        params = {**TRACE_PARAMS, **(QUICK_TRACE_PARAMS if quick else {})}
        runs, models = [], []
        for current in seeds:
            rows, model = compare_time_series_models(X, y, params, seed=current, device=device, verbose=verbose)
            runs.append(rows)
            models.append(model)
        rows = summarize(runs)
        print(format_table(rows))
        joint = [m.n_iter_ - m.pretrain_epochs for m in models]
        print(f"LoSTer trained on {models[0].device_}: {models[0].pretrain_epochs} pretraining + "
              f"{min(joint)}-{max(joint)} joint epochs; stopped by the tol rule (converged) in "
              f"{sum(m.converged_ for m in models)} of {len(models)} fits")
        if plot:
            _plot(plot_trace_clusters, models[0], X, y, output_dir / "loster_trace.png",
                  note=_seed_note(seeds, rows[0]))
        results["trace"] = rows
    return results
